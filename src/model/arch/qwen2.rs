//! Qwen2 / Qwen2.5 (`qwen2`): Llama's layers with RoPE NEOX and q/k/v biases.
//! llama.cpp: `src/models/qwen2.cpp`. The plan is the Llama family's (`llama.rs`).

use super::super::blocks::attention::QkNorm;
use super::super::hparams::{Meta, ModelError};
use super::super::plan::{ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::{llama, Arch};

pub static ARCH: Arch = Arch { name: "qwen2", about: "Qwen2 / Qwen2.5: attention with q/k/v biases, RoPE NEOX", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    llama::build_family(m, t, ARCH.name, true, QkNorm::None)
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { rope_theta: 1e6, ..SynthConfig::base("qwen2") };
    vec![
        // Qwen2.5-0.5B (config.json): hidden 896, 24 layers, 14 heads / 2 KV heads of 64, FFN
        // 4864, vocabulary 151,936, tied embeddings.
        ("qwen2.5-0.5b", SynthConfig {
            n_embd: 896, n_layer: 24, n_ff: 4864, n_vocab: 151936, n_head: 14, n_head_kv: 2, head_dim: 64, context_length: 32768, ..base.clone()
        }),
        ("tiny-qwen2", SynthConfig { n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, ..base.clone() }),
        ("odd-qwen2", SynthConfig { n_embd: 96, n_layer: 2, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, tied: false, ..base }),
    ]
}

fn synth(s: &mut Synth) {
    llama::synth_family(s, true, false)
}
