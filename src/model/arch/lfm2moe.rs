//! LiquidAI LFM2 MoE (`lfm2moe`, LFM2-8B-A1B / 24B-A2B): LFM2's layers (short conv or
//! attention) with a SwiGLU FFN in the first `leading_dense_block_count` layers and a
//! sigmoid-routed mixture of SwiGLU experts (selection biased by `exp_probs_b`, weights
//! renormalised) after them. llama.cpp: `src/models/lfm2moe.cpp` (the LFM2 graph).

use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::blocks::moe::{Gating, Moe, MoeSpec, Need};
use super::super::hparams::{Meta, ModelError};
use super::super::plan::{Ffn, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::{lfm2, Arch};
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "lfm2moe", about: "LiquidAI LFM2 MoE (LFM2-8B-A1B): short-convolution and attention layers, sigmoid-routed experts", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    let n_layer = m.req_u32("block_count")?;
    let n_expert = m.req_u32("expert_count")?;
    let k = m.per_layer("expert_used_count", n_layer, 0)?;
    let n_ff_exp = m.per_layer("expert_feed_forward_length", n_layer, 0)?;
    let dense_lead = m.u32("leading_dense_block_count").unwrap_or(0) as usize;
    let gating_id = m.req_u32("expert_gating_func")?;
    let gating = Gating::from_id(gating_id).ok_or_else(|| ModelError::UnsupportedFeature(format!("expert_gating_func {gating_id}")))?;
    lfm2::build_family(m, t, ARCH.name, |t, il, e, hp| {
        if il < dense_lead {
            return Ok(Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Silu)?));
        }
        // llama.cpp passes norm_w = true and never reads expert_weights_scale for lfm2moe.
        let spec = MoeSpec {
            n_expert,
            k: k[il],
            n_ff: n_ff_exp[il],
            gated: Some(true),
            act: Activation::Silu,
            gating,
            probs_bias: Need::Required,
            norm_w: true,
            w_scale: 0.0,
            groups: (m.u32("expert_group_count").unwrap_or(0), m.u32("expert_group_used_count").unwrap_or(0)),
            shared_ff: 0,
            shared_gated: true,
            shared_gate: false,
            latent: 0,
        };
        Ok(Ffn::Moe(Moe::resolve(t, il, e, spec)?))
    })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { d_conv: 3, rope_theta: 1e6, ..SynthConfig::base("lfm2moe") };
    vec![
        // LFM2-8B-A1B: 24 layers (6 attention), 32 experts × 1792, top 4, 2 dense layers.
        ("lfm2-8b-a1b", SynthConfig {
            n_embd: 2048, n_layer: 24, n_ff: 7168, n_vocab: 65536, n_head: 32, n_head_kv: 8, head_dim: 64,
            attn_layers: vec![2, 6, 10, 14, 18, 21], context_length: 128000,
            n_expert: 32, n_expert_used: 4, n_ff_exp: 1792, n_dense_lead: 2, ..base.clone()
        }),
        ("tiny-lfm2moe", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, attn_layers: vec![1, 3],
            n_expert: 6, n_expert_used: 2, n_ff_exp: 32, n_dense_lead: 1, ..base.clone()
        }),
        ("small-lfm2moe", SynthConfig {
            n_embd: 256, n_layer: 3, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: vec![1],
            n_expert: 4, n_expert_used: 2, n_ff_exp: 256, n_dense_lead: 1, tied: false, ..base.clone()
        }),
        // top 1 of 5, no dense layer
        ("odd-lfm2moe", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, attn_layers: vec![1],
            n_expert: 5, n_expert_used: 1, n_ff_exp: 40, d_conv: 4, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    lfm2::synth_family(s, |s| {
        let c = s.cfg;
        s.moe_kv();
        s.arch_kv("leading_dense_block_count", Value::U32(c.n_dense_lead as u32));
        s.arch_kv("expert_gating_func", Value::U32(Gating::Sigmoid as u32));
    })
}
