//! GPU: device and limits, pipeline cache, tensor upload, kernels.
