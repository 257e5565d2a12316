//! Qwen3.5 MoE (`qwen35moe`, Qwen3.5-35B-A3B / 122B-A10B / 397B-A17B): the Qwen3.5 layers
//! (gated DeltaNet 3:1 gated attention) with every FFN a softmax-routed mixture of SwiGLU
//! experts (top k, weights renormalised) plus a SwiGLU shared expert scaled by
//! sigmoid(`ffn_gate_inp_shexp`·x). llama.cpp: `src/models/qwen35moe.cpp`.

use super::super::blocks::ffn::Activation;
use super::super::blocks::moe::{Gating, Moe, MoeSpec, Need};
use super::super::hparams::{Meta, ModelError};
use super::super::plan::{Ffn, ModelPlan, Tensors};
use super::super::synth::{Init, Synth, SynthConfig};
use super::qwen35::{self, Family};
use super::Arch;

pub static ARCH: Arch = Arch {
    name: "qwen35moe",
    about: "Qwen3.5 MoE (35B-A3B): gated DeltaNet and gated attention layers, softmax-routed experts with a gated shared expert",
    build,
    presets,
    synth,
};

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    qwen35::build_family(m, t, ARCH.name, Family::Qwen35, |t, il, e, hp| moe_ffn(m, t, il, e, hp.n_ff))
}

/// The Qwen MoE FFN of layer `il` (shared by Qwen3-Next): llama.cpp `build_moe_ffn` with
/// softmax gating, norm_w = true, `expert_weights_scale`, and the sigmoid-gated shared expert.
pub(super) fn moe_ffn(m: &Meta, t: &mut Tensors, il: usize, e: u32, n_ff: u32) -> Result<Ffn, ModelError> {
    let n_layer = m.req_u32("block_count")?;
    if t.index.tensor_index(&format!("blk.{il}.ffn_gate_up_exps.weight")).is_some() {
        return Err(ModelError::UnsupportedFeature(format!("blk.{il}.ffn_gate_up_exps.weight (fused gate/up experts; convert without --fuse-gate-up-exps)")));
    }
    let k = m.per_layer("expert_used_count", n_layer, 0)?[il];
    let n_ff_exp = m.per_layer("expert_feed_forward_length", n_layer, 0)?[il];
    let n_ff_exp = if n_ff_exp > 0 { n_ff_exp } else { n_ff / k.max(1) };
    let shared_ff = m.u32("expert_shared_feed_forward_length").filter(|&x| x > 0).unwrap_or(n_ff);
    let has_shared = t.index.tensor_index(&format!("blk.{il}.ffn_up_shexp.weight")).is_some();
    let spec = MoeSpec {
        n_expert: m.req_u32("expert_count")?,
        k,
        n_ff: n_ff_exp,
        gated: Some(true),
        act: Activation::Silu,
        gating: Gating::Softmax,
        probs_bias: Need::No,
        norm_w: true,
        w_scale: m.f32("expert_weights_scale").unwrap_or(0.0),
        groups: (0, 0),
        shared_ff: if has_shared { shared_ff } else { 0 },
        shared_gated: true,
        shared_gate: has_shared,
        latent: 0,
    };
    Ok(Ffn::Moe(Moe::resolve(t, il, e, spec)?))
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = qwen35::qwen35_base("qwen35moe");
    vec![
        // Qwen3.5-35B-A3B's shapes scaled to 4 of its 40 layers (this machine cannot hold
        // 35B of weights): hidden 2048, 16 heads / 2 KV heads of 256 (64 rotary dims),
        // DeltaNet 16 key / 32 value heads of 128, 256 experts × 512, top 8, shared expert
        // 512, vocabulary 248,320.
        ("qwen3.5-35b-a3b-4l", SynthConfig {
            n_embd: 2048, n_layer: 4, n_ff: 512, n_vocab: 248320, n_head: 16, n_head_kv: 2, head_dim: 256, n_rot: Some(64),
            n_group: 16, ssm_heads: 32, d_state: 128, context_length: 262144,
            n_expert: 256, n_expert_used: 8, n_ff_exp: 512, n_ff_shexp: 512, ..base.clone()
        }),
        ("tiny-qwen35moe", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, n_rot: Some(8),
            n_group: 2, ssm_heads: 4, d_state: 16, rope_sections: Some([2, 1, 1, 0]),
            n_expert: 6, n_expert_used: 2, n_ff_exp: 32, n_ff_shexp: 48, ..base.clone()
        }),
        ("small-qwen35moe", SynthConfig {
            n_embd: 256, n_layer: 4, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, n_rot: Some(16),
            n_group: 2, ssm_heads: 2, d_state: 64, rope_sections: Some([3, 3, 2, 0]), tied: false,
            n_expert: 4, n_expert_used: 2, n_ff_exp: 256, n_ff_shexp: 256, ..base.clone()
        }),
        ("odd-qwen35moe", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 3, n_head_kv: 1, head_dim: 24, n_rot: Some(16),
            n_group: 1, ssm_heads: 3, d_state: 24, d_conv: 3, full_attention_interval: 3, rope_sections: Some([1, 2, 1, 0]),
            n_expert: 5, n_expert_used: 3, n_ff_exp: 40, n_ff_shexp: 56, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    qwen35::synth_family(s, false, moe_tensors)
}

/// A Qwen MoE layer's norm, router, experts, shared expert and its sigmoid gate.
pub(super) fn moe_tensors(s: &mut Synth, il: u64) {
    s.moe_tensors(il, Some(format!("blk.{il}.post_attention_norm.weight")), true, false, true);
    let std_e = 1.0 / (s.cfg.n_embd as f32).sqrt();
    let e = s.cfg.n_embd;
    s.tensor(format!("blk.{il}.ffn_gate_inp_shexp.weight"), &[e], Some(il), Init::Normal(std_e));
}
