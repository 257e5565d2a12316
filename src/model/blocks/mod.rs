//! The block library: every mixer and FFN kind once (attention, Mamba2, Mamba-1, short conv,
//! gated DeltaNet; dense and mixture-of-experts FFNs), each in its own file with its tensors
//! (`resolve`, llama.cpp's names), what it keeps per sequence (`memory`), its GPU recording
//! (`record`) and its plain-loop CPU reference (`reference`). Architectures compose them in
//! `arch/`.

pub mod attention;
pub mod delta_net;
pub mod ffn;
pub mod mamba1;
pub mod mamba2;
pub mod moe;
pub mod short_conv;
