//! Weights resident on one device: the file's tensor index and one [`GpuTensor`] per tensor
//! (made by `crate::loader` as the GGUF streams in).

use std::rc::Rc;

use super::context::GpuContext;
use super::tensor::GpuTensor;
use crate::gguf::GgufIndex;

pub struct GpuWeights {
    pub index: GgufIndex,
    pub ctx: Rc<GpuContext>,
    /// In the order of `index.tensors`.
    pub tensors: Vec<GpuTensor>,
}

impl GpuWeights {
    pub fn tensor(&self, name: &str) -> Option<&GpuTensor> {
        self.index.tensor_index(name).map(|i| &self.tensors[i])
    }

    /// GPU bytes of all tensors.
    pub fn gpu_bytes(&self) -> u64 {
        self.tensors.iter().map(GpuTensor::gpu_bytes).sum()
    }
}
