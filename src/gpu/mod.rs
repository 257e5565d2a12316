//! GPU: device and limits, pipeline cache, tensor upload while streaming, kernels.

pub mod context;
pub mod error;
pub mod kernels;
pub mod ops;
pub mod params;
pub mod tensor;
pub mod weights;

pub use context::{AdapterSummary, GpuContext, GpuStats, KernelTime, MatKernel, Requirements};
pub use error::GpuError;
pub use tensor::{BlockLayout, GpuTensor, TensorUploader};
pub use weights::GpuWeights;
