//! Braid: quantized GGUF language models on WebGPU, in the browser (wasm-bindgen) and
//! natively (wgpu on Vulkan/Metal/DX12).
//!
//! Layers, bottom up:
//! - [`gguf`]: streaming GGUF parser, metadata, tensor index, ggml types, CPU dequantizers,
//!   and a GGUF writer (used by `braid synth` and the tests).
//! - [`gpu`]: device and limits, pipeline cache, tensor upload while streaming, kernels.
//! - [`synth`]: synthetic models of the supported architectures (random weights).
//! - `web` (wasm32 only): the JavaScript API.

pub mod gguf;
pub mod gpu;
pub mod loader;
pub mod memory;
pub mod model;
pub mod sample;
pub mod synth;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
pub mod web;
