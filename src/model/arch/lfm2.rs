//! LiquidAI LFM2 / LFM2.5 (`lfm2`): each layer is a gated short convolution (`head_count_kv[il]
//! == 0`) or GQA attention with per-head q/k RMSNorm and RoPE NEOX, then a SwiGLU FFN; the
//! final norm is `token_embd_norm`, the output tied to the embeddings (spec §2.3). The short
//! conv block is `blocks/short_conv.rs`. llama.cpp: `src/models/lfm2.cpp`.

use super::super::blocks::attention::{Attention, QkNorm, Rope};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::blocks::short_conv::ShortConv;
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "lfm2", about: "LiquidAI LFM2 / LFM2.5: short-convolution and attention layers", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    if m.u32("expert_count").unwrap_or(0) > 0 {
        return Err(ModelError::UnsupportedFeature("an lfm2 file with experts (LFM2 MoE files are lfm2moe)".into()));
    }
    build_family(m, t, ARCH.name, |t, il, e, hp| Ok(Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Silu)?)))
}

/// The LFM2 layer plan with each layer's FFN from `ffn` (dense here, MoE in `lfm2moe`).
pub(super) fn build_family(
    m: &Meta,
    t: &mut Tensors,
    arch: &'static str,
    ffn: impl Fn(&mut Tensors, usize, u32, &HParams) -> Result<Ffn, ModelError>,
) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, arch)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let l_cache = m.req_u32("shortconv.l_cache")?;
    let rope = Rope { neox: true, n_rot: m.u32("rope.dimension_count").unwrap_or(hp.head_dim), theta: m.f32("rope.freq_base").unwrap_or(10000.0), sections: None, freq_factors: None, freq_scale: 1.0 };
    // The sliding-window variant masks attention to the last `sliding_window` positions.
    let window = m.u32("attention.sliding_window").unwrap_or(0);
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let mixer = if hp.n_head_kv[il] == 0 {
            Mixer::ShortConv(ShortConv::resolve(t, il, e, l_cache)?)
        } else {
            let hd = hp.head_dim;
            let mut a = Attention::resolve(t, il, e, hp.n_head_layer[il], hp.n_head_kv[il], hd, QkNorm::Required, Some(rope), 1.0 / (hd as f32).sqrt())?;
            a.window = window;
            Mixer::Attention(a)
        };
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[e as u64])?),
            mixers: vec![mixer],
            ffn: Some(FfnPlan { norm: t.f32(&b("ffn_norm.weight"), &[e as u64])?, ffn: ffn(t, il, e, &hp)?, post_norm: None }),
            mixer_post_norm: None, residual_scale: 1.0,
        });
    }
    // llama.cpp's historical name for LFM2's final norm.
    let output_norm = t.f32("token_embd_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig::base("lfm2");
    vec![
        // LFM2-350M: 16 layers, attention in 6 (spec §4), conv L_cache 3.
        ("lfm2-350m", SynthConfig {
            n_embd: 1024, n_layer: 16, n_ff: 4608, n_vocab: 65536, n_head: 16, n_head_kv: 8, head_dim: 64,
            attn_layers: vec![2, 5, 8, 10, 12, 14], d_conv: 3, rope_theta: 1e6, context_length: 128000, ..base.clone()
        }),
        ("lfm2-1.2b", SynthConfig {
            n_embd: 2048, n_layer: 16, n_ff: 8192, n_vocab: 65536, n_head: 32, n_head_kv: 8, head_dim: 64,
            attn_layers: vec![2, 5, 8, 10, 12, 14], d_conv: 3, rope_theta: 1e6, context_length: 128000, ..base.clone()
        }),
        ("tiny-lfm2", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, attn_layers: vec![1, 3],
            d_conv: 3, rope_theta: 1e6, ..base.clone()
        }),
        // Rows of multiples of 256, so K-quants apply without fallback.
        ("small-lfm2", SynthConfig {
            n_embd: 256, n_layer: 4, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: vec![0, 2],
            d_conv: 3, rope_theta: 1e6, tied: false, ..base.clone()
        }),
        // head_dim 24 with partial RoPE, 4:1 GQA, a 4-tap conv, a 257-token vocabulary
        ("odd-lfm2", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, attn_layers: vec![1],
            d_conv: 4, n_rot: Some(12), rope_theta: 1e6, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    synth_family(s, |_| {})
}

/// LFM2's keys and tensors; `extra_kv` adds the MoE keys of `lfm2moe`, whose layers from
/// `n_dense_lead` on are MoE.
pub(super) fn synth_family(s: &mut Synth, extra_kv: impl Fn(&mut Synth)) {
    let c = s.cfg;
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    let kv = s.head_count_kv_per_layer(|il| c.attn_layers.contains(&il));
    s.attention_kv(kv);
    s.arch_kv("shortconv.l_cache", Value::U32(c.d_conv as u32));
    extra_kv(s);
    s.tokenizer();
    s.token_embd();
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        if c.attn_layers.contains(&il) {
            s.attention_tensors(il, true);
        } else {
            s.short_conv_tensors(il);
        }
        if c.n_expert > 0 && il >= c.n_dense_lead {
            s.moe_tensors(il, Some(format!("blk.{il}.ffn_norm.weight")), true, true, true);
        } else {
            s.ffn_tensors(il, Some(format!("blk.{il}.ffn_norm.weight")), c.n_ff, true);
        }
    }
    s.output("token_embd_norm.weight");
}
