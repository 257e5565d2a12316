//! NVIDIA Nemotron-H / Nemotron-Nano-v2 (`nemotron_h`): every layer holds exactly one block
//! after its RMSNorm — a Mamba2 mixer (grouped gated norm), attention without RoPE, or a ReLU²
//! MLP without gate — chosen per layer from the metadata: Mamba2 iff `head_count_kv[il] == 0`
//! and `feed_forward_length[il] == 0`, attention iff `feed_forward_length[il] == 0`, else MLP
//! (spec §1.2, §2.6). llama.cpp: `src/models/nemotron-h.cpp`.

use super::super::blocks::attention::{Attention, QkNorm};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::blocks::mamba2::{Mamba2, Mamba2Needs};
use super::super::blocks::moe::{Gating, Moe, MoeSpec, Need};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::{Array, Value};

pub static ARCH: Arch = Arch { name: "nemotron_h", about: "NVIDIA Nemotron-H: Mamba2, attention and MLP layers", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    build_family(m, t, ARCH.name)
}

/// Nemotron-H's plan; its MLP layers are MoE when the file has experts (as in llama.cpp, the
/// same code serves `nemotron_h_moe`): sigmoid routing with `exp_probs_b` for selection,
/// `expert_weights_norm` / `_scale`, ReLU² experts, optional latent projections, a ReLU²
/// shared expert.
pub(super) fn build_family(m: &Meta, t: &mut Tensors, arch: &'static str) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, arch)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let n_expert = m.u32("expert_count").unwrap_or(0);
    let k = m.per_layer("expert_used_count", hp.n_layer, 0)?;
    let n_ff_exp = m.per_layer("expert_feed_forward_length", hp.n_layer, 0)?;
    if m.u32("nextn_predict_layers").unwrap_or(0) > 0 {
        return Err(ModelError::UnsupportedFeature("Nemotron-H multi-token-prediction layers (nextn_predict_layers > 0)".into()));
    }
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let norm = t.f32(&format!("blk.{il}.attn_norm.weight"), &[e as u64])?;
        let (kv, ff) = (hp.n_head_kv[il], hp.n_ff_layer[il]);
        let layer = if ff > 0 {
            // MLP-only layer: its one norm is attn_norm.
            let ffn = if n_expert > 0 {
                let spec = MoeSpec {
                    n_expert,
                    k: k[il],
                    // the per-layer expert width, else n_ff / k (older files)
                    n_ff: if n_ff_exp[il] > 0 { n_ff_exp[il] } else { ff / k[il].max(1) },
                    gated: Some(false),
                    act: Activation::ReluSqr,
                    gating: Gating::Sigmoid,
                    probs_bias: Need::Required,
                    norm_w: m.bool("expert_weights_norm").unwrap_or(false),
                    w_scale: m.f32("expert_weights_scale").unwrap_or(0.0),
                    groups: (m.u32("expert_group_count").unwrap_or(0), m.u32("expert_group_used_count").unwrap_or(0)),
                    shared_ff: m.u32("expert_shared_feed_forward_length").unwrap_or(0),
                    shared_gated: false,
                    shared_gate: false,
                    latent: m.u32("moe_latent_size").unwrap_or(0),
                };
                Ffn::Moe(Moe::resolve(t, il, e, spec)?)
            } else {
                Ffn::Dense(DenseFfn::resolve(t, il, e, ff, false, Activation::ReluSqr)?)
            };
            LayerPlan { mixer_norm: None, mixers: vec![], ffn: Some(FfnPlan { norm, ffn, post_norm: None }), mixer_post_norm: None, residual_scale: 1.0 }
        } else {
            let mixer = if kv == 0 {
                Mixer::Mamba2(Mamba2::resolve(t, il, e, hp.mamba2()?, Mamba2Needs { conv_bias: false, norm: true })?)
            } else {
                let hd = hp.head_dim;
                Mixer::Attention(Attention::resolve(t, il, e, hp.n_head_layer[il], kv, hd, QkNorm::None, None, 1.0 / (hd as f32).sqrt())?)
            };
            LayerPlan { mixer_norm: Some(norm), mixers: vec![mixer], ffn: None, mixer_post_norm: None, residual_scale: 1.0 }
        };
        layers.push(layer);
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { tied: false, context_length: 1 << 20, ..SynthConfig::base("nemotron_h") };
    vec![
        // NVIDIA-Nemotron-Nano-9B-v2 (spec §4): 56 layers, 27 Mamba2, 4 attention, 25 MLP.
        ("nemotron-nano-9b-v2", SynthConfig {
            n_embd: 4480, n_layer: 56, n_ff: 15680, n_vocab: 131072, n_head: 40, n_head_kv: 8, head_dim: 128,
            pattern: "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-".into(),
            d_inner: 10240, d_state: 128, n_group: 8, ssm_heads: 128, ..base.clone()
        }),
        ("tiny-nemotron-h", SynthConfig {
            n_embd: 64, n_layer: 6, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, pattern: "M-M*-M".into(),
            d_inner: 128, d_state: 16, n_group: 2, ssm_heads: 8, ..base.clone()
        }),
        // Rows of multiples of 256, so K-quants apply without fallback.
        ("small-nemotron-h", SynthConfig {
            n_embd: 256, n_layer: 5, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, pattern: "M*-M-".into(),
            d_inner: 512, d_state: 32, n_group: 2, ssm_heads: 8, ..base.clone()
        }),
        // head_dim 24, 4:1 GQA, 5 SSM groups, d_conv 3, a 257-token vocabulary
        ("odd-nemotron-h", SynthConfig {
            n_embd: 96, n_layer: 4, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, pattern: "M-*M".into(),
            d_inner: 160, d_state: 24, n_group: 5, ssm_heads: 10, d_conv: 3, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    synth_family(s)
}

/// Keys as llama.cpp's converter writes them (`NemotronHModel`): per-layer `head_count_kv`
/// and `feed_forward_length` as INT32 arrays, a scalar `head_count`, both epsilons, no RoPE;
/// with experts, the MoE keys (MLP layers' `feed_forward_length` = the expert width).
pub(super) fn synth_family(s: &mut Synth) {
    let c = s.cfg;
    let kind = |il: u64| c.pattern.as_bytes().get(il as usize).copied().unwrap_or(b'M');
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::Array(Array::I32((0..c.n_layer).map(|il| if kind(il) == b'-' { c.n_ff as i32 } else { 0 }).collect())));
    s.arch_kv("attention.head_count", Value::U32(c.n_head as u32));
    s.arch_kv("attention.head_count_kv", Value::Array(Array::I32((0..c.n_layer).map(|il| if kind(il) == b'*' { c.n_head_kv as i32 } else { 0 }).collect())));
    s.arch_kv("attention.key_length", Value::U32(c.head_dim as u32));
    s.arch_kv("attention.value_length", Value::U32(c.head_dim as u32));
    s.arch_kv("attention.layer_norm_epsilon", Value::F32(1e-5));
    s.ssm_kv();
    s.arch_kv("rope.scaling.finetuned", Value::Bool(false));
    if c.n_expert > 0 {
        s.moe_kv();
        s.arch_kv("expert_weights_norm", Value::Bool(true));
        s.arch_kv("expert_weights_scale", Value::F32(2.5));
        if c.moe_latent > 0 {
            s.arch_kv("moe_latent_size", Value::U32(c.moe_latent as u32));
        }
    }
    s.tokenizer();
    s.token_embd();
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        match kind(il) {
            b'*' => s.attention_tensors(il, false),
            b'-' if c.n_expert > 0 => s.moe_tensors(il, None, false, true, false),
            b'-' => s.ffn_tensors(il, None, c.n_ff, false),
            _ => s.mamba2_tensors(il),
        }
    }
    s.output("output_norm.weight");
}
