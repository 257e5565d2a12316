//! NVIDIA Nemotron-H MoE (`nemotron_h_moe`, Nemotron-3-Nano style): Nemotron-H's layers with
//! the MLP layers replaced by sigmoid-routed ReLU² experts and a ReLU² shared expert (see
//! `nemotron_h.rs`, which builds both). llama.cpp: `src/models/nemotron-h.cpp`.

use super::super::hparams::{Meta, ModelError};
use super::super::plan::{ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::{nemotron_h, Arch};

pub static ARCH: Arch = Arch { name: "nemotron_h_moe", about: "NVIDIA Nemotron-H MoE: Mamba2, attention and mixture-of-experts layers", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    if m.u32("expert_count").unwrap_or(0) == 0 {
        return Err(ModelError::MissingKey(m.key("expert_count")));
    }
    nemotron_h::build_family(m, t, ARCH.name)
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { tied: false, context_length: 1 << 20, ..SynthConfig::base("nemotron_h_moe") };
    vec![
        // top 2 of 8, a shared expert
        ("tiny-nemotron-h-moe", SynthConfig {
            n_embd: 64, n_layer: 6, n_ff: 32, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, pattern: "M-M*-M".into(),
            d_inner: 128, d_state: 16, n_group: 2, ssm_heads: 8, n_expert: 8, n_expert_used: 2, n_ff_exp: 32, n_ff_shexp: 48, ..base.clone()
        }),
        // latent experts (128 wide inside a 256-wide model)
        ("small-nemotron-h-moe", SynthConfig {
            n_embd: 256, n_layer: 5, n_ff: 256, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, pattern: "M*-M-".into(),
            d_inner: 512, d_state: 32, n_group: 2, ssm_heads: 8, n_expert: 4, n_expert_used: 2, n_ff_exp: 256, n_ff_shexp: 256,
            moe_latent: 128, ..base.clone()
        }),
        // group-limited routing: 8 experts in 4 groups, the best 2 groups, top 3
        ("odd-nemotron-h-moe", SynthConfig {
            n_embd: 96, n_layer: 4, n_ff: 40, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, pattern: "M-*-".into(),
            d_inner: 160, d_state: 24, n_group: 5, ssm_heads: 10, d_conv: 3, n_expert: 8, n_expert_used: 3, n_ff_exp: 40,
            n_ff_shexp: 40, expert_groups: (4, 2), ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    nemotron_h::synth_family(s)
}
