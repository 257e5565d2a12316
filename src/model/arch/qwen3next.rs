//! Qwen3-Next (`qwen3next`, Qwen3-Next-80B-A3B): Qwen3.5's predecessor with the same mixers —
//! gated DeltaNet 3:1 gated attention — but value heads in the checkpoint's grouped order
//! (value head h reads key head h / (n_v / n_k)), one interleaved `ssm_ba`
//! projection, plain NEOX partial RoPE, and the Qwen MoE FFN (softmax top k, renormalised,
//! sigmoid-gated shared expert). llama.cpp: `src/models/qwen3next.cpp`.

use super::super::hparams::{Meta, ModelError};
use super::super::plan::{ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::qwen35::{self, Family};
use super::{qwen35moe, Arch};

pub static ARCH: Arch = Arch {
    name: "qwen3next",
    about: "Qwen3-Next (80B-A3B): gated DeltaNet and gated attention layers, softmax-routed experts with a gated shared expert",
    build,
    presets,
    synth,
};

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    if m.u32("expert_count").unwrap_or(0) == 0 {
        return Err(ModelError::BadHparams("qwen3next needs experts (expert_count is 0)".into()));
    }
    qwen35::build_family(m, t, ARCH.name, Family::Qwen3Next, |t, il, e, hp| qwen35moe::moe_ffn(m, t, il, e, hp.n_ff))
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { rope_sections: None, rope_theta: 1e7, ..qwen35::qwen35_base("qwen3next") };
    vec![
        ("tiny-qwen3next", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, n_rot: Some(4),
            n_group: 2, ssm_heads: 4, d_state: 16, n_expert: 6, n_expert_used: 2, n_ff_exp: 32, n_ff_shexp: 48, ..base.clone()
        }),
        ("small-qwen3next", SynthConfig {
            n_embd: 256, n_layer: 4, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, n_rot: Some(16),
            n_group: 1, ssm_heads: 2, d_state: 64, tied: false, n_expert: 4, n_expert_used: 2, n_ff_exp: 256, n_ff_shexp: 256, ..base.clone()
        }),
        // 3 value heads per key head (the grouped order matters), head dim 24, an MTP block.
        ("odd-qwen3next", SynthConfig {
            n_embd: 96, n_layer: 4, n_ff: 160, n_vocab: 257, n_head: 3, n_head_kv: 1, head_dim: 24, n_rot: Some(6),
            n_group: 2, ssm_heads: 6, d_state: 24, d_conv: 3, n_expert: 5, n_expert_used: 3, n_ff_exp: 40, n_ff_shexp: 56, nextn: 1, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    qwen35::synth_family(s, true, qwen35moe::moe_tensors)
}
