//! Qwen3 (`qwen3`): Llama's layers with RoPE NEOX and per-head q/k RMSNorm (no biases).
//! llama.cpp: `src/models/qwen3.cpp`. The plan is the Llama family's (`llama.rs`).

use super::super::blocks::attention::QkNorm;
use super::super::hparams::{Meta, ModelError};
use super::super::plan::{ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::{llama, Arch};

pub static ARCH: Arch = Arch { name: "qwen3", about: "Qwen3 (dense): attention with q/k RMSNorm, RoPE NEOX", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    llama::build_family(m, t, ARCH.name, true, QkNorm::Required)
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { rope_theta: 1e6, ..SynthConfig::base("qwen3") };
    vec![
        // Qwen3-0.6B (config.json): hidden 1024, 28 layers, 16 heads / 8 KV heads of 128 (head
        // dim ≠ hidden / heads), FFN 3072, vocabulary 151,936, tied embeddings.
        ("qwen3-0.6b", SynthConfig {
            n_embd: 1024, n_layer: 28, n_ff: 3072, n_vocab: 151936, n_head: 16, n_head_kv: 8, head_dim: 128, context_length: 40960, ..base.clone()
        }),
        ("tiny-qwen3", SynthConfig { n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 32, ..base.clone() }),
        // Rows of multiples of 256 (K-quants and IQ4_XS without fallback), tied embeddings.
        ("small-qwen3", SynthConfig { n_embd: 256, n_layer: 2, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, ..base.clone() }),
        ("odd-qwen3", SynthConfig { n_embd: 96, n_layer: 2, n_ff: 160, n_vocab: 257, n_head: 3, n_head_kv: 1, head_dim: 24, tied: false, ..base }),
    ]
}

fn synth(s: &mut Synth) {
    llama::synth_family(s, false, true)
}
