//! Llama (`llama`): every layer is attention (RoPE NORM, GQA) then a SwiGLU FFN; Llama 3.x
//! files carry `rope_freqs.weight` (per-pair frequency divisors of Llama 3's RoPE scaling).
//! The same family builder serves Qwen2 (`qwen2`: NEOX, q/k/v biases) and Qwen3 (`qwen3`:
//! NEOX, per-head q/k RMSNorm). llama.cpp: `src/models/llama.cpp`, `qwen2.cpp`, `qwen3.cpp`.

use super::super::blocks::attention::{Attention, QkNorm, Rope};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "llama", about: "Llama 2/3-style attention models", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    build_family(m, t, ARCH.name, false, QkNorm::None)
}

/// The Llama-family plan: RoPE NEOX or NORM, q/k norms or none (biases are read when the file
/// has them), `rope_freqs.weight` when present.
pub(super) fn build_family(m: &Meta, t: &mut Tensors, arch: &'static str, neox: bool, qk_norm: QkNorm) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, arch)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let n_rot = m.u32("rope.dimension_count").unwrap_or(hp.head_dim);
    let freq_scale = m.rope_freq_scale()?;
    let freq_factors = t.opt_f32("rope_freqs.weight", &[n_rot as u64 / 2])?;
    let rope = Rope { neox, n_rot, theta: m.f32("rope.freq_base").unwrap_or(10000.0), sections: None, freq_factors, freq_scale };
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let hd = hp.head_dim;
        let attn = Attention::resolve(t, il, e, hp.n_head_layer[il], hp.n_head_kv[il], hd, qk_norm, Some(rope), 1.0 / (hd as f32).sqrt())?;
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[e as u64])?),
            mixers: vec![Mixer::Attention(attn)],
            ffn: Some(FfnPlan { norm: t.f32(&b("ffn_norm.weight"), &[e as u64])?, ffn: Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Silu)?), post_norm: None }),
            mixer_post_norm: None, residual_scale: 1.0,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig::base("llama");
    vec![
        // Llama-3.2-1B: with Llama 3's rope_freqs (factor 32, low/high frequency factors 1 / 4,
        // original context 8192).
        ("llama-1b", SynthConfig {
            n_embd: 2048, n_layer: 16, n_ff: 8192, n_vocab: 128256, n_head: 32, n_head_kv: 8, head_dim: 64,
            rope_theta: 500000.0, context_length: 131072, rope_freqs: true, ..base.clone()
        }),
        ("tiny-llama3", SynthConfig {
            n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, rope_theta: 500000.0, rope_freqs: true, ..base.clone()
        }),
        ("tiny-llama", SynthConfig { n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, tied: false, ..base.clone() }),
        // Rows of multiples of 256, so K-quants apply without fallback.
        ("small-llama", SynthConfig { n_embd: 256, n_layer: 2, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, tied: false, ..base.clone() }),
        // head_dim 24, 4:1 GQA, a 257-token vocabulary, rows that fall back from Q8_0 to F16.
        ("odd-llama", SynthConfig { n_embd: 96, n_layer: 2, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, tied: false, ..base }),
    ]
}

fn synth(s: &mut Synth) {
    synth_family(s, false, false)
}

/// The family's keys and tensors: `bias` q/k/v biases (Qwen2), `qk_norm` (Qwen3); Llama 3's
/// `rope_freqs.weight` when the config asks.
pub(super) fn synth_family(s: &mut Synth, bias: bool, qk_norm: bool) {
    let c = s.cfg;
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    s.attention_kv(Value::U32(c.n_head_kv as u32));
    s.tokenizer();
    s.token_embd();
    if c.rope_freqs {
        s.rope_freqs();
    }
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        s.attention_tensors(il, qk_norm);
        if bias {
            s.attention_biases(il);
        }
        s.ffn_tensors(il, Some(format!("blk.{il}.ffn_norm.weight")), c.n_ff, true);
    }
    s.output("output_norm.weight");
}
