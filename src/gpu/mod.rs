//! GPU: device and limits, pipeline cache, tensor upload while streaming, kernels.

pub mod context;
pub mod error;
pub mod kernels;
pub mod ops;
pub mod tensor;

pub use context::{GpuContext, MatKernel, Requirements};
pub use error::GpuError;
pub use tensor::{BlockLayout, GpuTensor, TensorUploader};
