//! Braid: quantized GGUF language models on WebGPU, in the browser (wasm-bindgen) and
//! natively (wgpu on Vulkan/Metal/DX12).
//!
//! Layers, bottom up:
//! - [`gguf`]: streaming GGUF parser, metadata, tensor index, ggml types, CPU dequantizers,
//!   and a GGUF writer (used by `braid synth` and the tests).
//! - [`gpu`]: device and limits, pipeline and bind-group caches, typed kernel launchers,
//!   tensor upload while streaming.
//! - [`memory`]: per-layer memory layouts, KV / state pools, sequences, checkpoints.
//! - [`model`]: layer plans built by one file per architecture, the block library, the GPU
//!   forward and the CPU reference.
//! - [`loader`], [`session`]: streaming a GGUF onto the GPU; sessions (memory + tokens) and
//!   their operations.
//! - `web` (wasm32 only): the JavaScript API.
//!
//! Dependencies run one way: gguf ← gpu ← memory ← model ← loader / session ← web.

pub mod gguf;
pub mod gpu;
pub mod loader;
pub mod memory;
pub mod model;
pub mod rng;
pub mod sample;
pub mod session;
pub mod synth;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
pub mod web;
