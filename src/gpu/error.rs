use thiserror::Error;

/// GPU failures, each with the stable code the JS API reports.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GpuError {
    #[error("no WebGPU adapter is available: {0}")]
    NoAdapter(String),
    #[error("the device cannot hold this model: {0}")]
    DeviceLimits(String),
    #[error("requesting the GPU device failed: {0}")]
    RequestDevice(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error("GPU validation error: {0}")]
    Validation(String),
    #[error("GPU out of memory: {0}")]
    OutOfMemory(String),
    #[error("tensor {tensor:?} has type {ty}, which Braid cannot run on the GPU")]
    UnsupportedType { tensor: String, ty: String },
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),
}

impl GpuError {
    /// The stable error code used by the JavaScript API.
    pub fn code(&self) -> &'static str {
        match self {
            GpuError::NoAdapter(_) => "NO_WEBGPU",
            GpuError::DeviceLimits(_) | GpuError::OutOfMemory(_) => "DEVICE_LIMITS",
            GpuError::DeviceLost(_) | GpuError::Readback(_) => "DEVICE_LOST",
            GpuError::UnsupportedType { .. } => "UNSUPPORTED_TYPE",
            GpuError::RequestDevice(_) | GpuError::Validation(_) => "DEVICE_LOST",
        }
    }
}
