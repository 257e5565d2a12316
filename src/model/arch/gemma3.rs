//! Gemma 3 (`gemma3`), as llama.cpp computes it (`src/models/gemma3.cpp`): the embedding
//! scaled by √n_embd; every layer is attention with per-head q/k RMSNorm and RoPE NEOX, then a
//! GeGLU FFN, each followed by its own RMSNorm before the residual (`post_attention_norm`,
//! `post_ffw_norm`); tied output; optional final logit soft-capping.
//!
//! Layers alternate sliding-window and global attention: with `attention.sliding_window` W,
//! layer il is a window layer unless il % P == P − 1, P = `attention.sliding_window_pattern`
//! (default 6; an array gives each layer's flag). Window layers rotate with
//! `rope.freq_base_swa` (default 10,000) and no scaling; global layers with `rope.freq_base`
//! and the file's linear scaling. The softmax scale is 1/√head_dim (1/√(n_embd / n_head) for
//! the 62-layer 27B, as gemma_pytorch does). Norm weights already include Gemma's +1 (the
//! converter adds it).

use super::super::blocks::attention::{Attention, QkNorm, Rope};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "gemma3", about: "Gemma 3: sliding-window and global attention, GeGLU, pre- and post-norms", build, presets, synth };

/// Which layers use the sliding window (llama.cpp `set_swa_pattern`, or a per-layer array).
fn window_layers(m: &Meta, n_layer: u32) -> Result<Vec<bool>, ModelError> {
    match m.get("attention.sliding_window_pattern") {
        Some(Value::Array(a)) => {
            if a.len() != n_layer as usize {
                return Err(ModelError::BadHparams(format!("attention.sliding_window_pattern has {} entries for {n_layer} layers", a.len())));
            }
            (0..a.len()).map(|i| a.get(i).and_then(|v| v.as_bool().or_else(|| v.as_f64().map(|x| x != 0.0)))).collect::<Option<Vec<bool>>>().ok_or_else(|| ModelError::BadHparams("attention.sliding_window_pattern is not a list of flags".into()))
        }
        _ => {
            let p = m.u32("attention.sliding_window_pattern").unwrap_or(6);
            Ok((0..n_layer).map(|il| p == 0 || il % p < p - 1).collect())
        }
    }
}

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, ARCH.name)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let hd = hp.head_dim;
    let n_rot = m.u32("rope.dimension_count").unwrap_or(hd);
    let window = m.u32("attention.sliding_window").unwrap_or(0);
    let is_window = if window > 0 { window_layers(m, hp.n_layer)? } else { vec![false; hp.n_layer as usize] };
    let global = Rope { neox: true, n_rot, theta: m.f32("rope.freq_base").unwrap_or(10000.0), sections: None, freq_factors: None, freq_scale: m.rope_freq_scale()? };
    let local = Rope { theta: m.f32("rope.freq_base_swa").unwrap_or(10000.0), freq_scale: 1.0, ..global };
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let n_head = hp.n_head_layer[il];
        let scale = if hp.n_layer == 62 && n_head > 0 { 1.0 / ((e / n_head) as f32).sqrt() } else { 1.0 / (hd as f32).sqrt() };
        let rope = if is_window[il] { local } else { global };
        let mut a = Attention::resolve(t, il, e, n_head, hp.n_head_kv[il], hd, QkNorm::Required, Some(rope), scale)?;
        a.window = if is_window[il] { window } else { 0 };
        let eu = e as u64;
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[eu])?),
            mixers: vec![Mixer::Attention(a)],
            mixer_post_norm: Some(t.f32(&b("post_attention_norm.weight"), &[eu])?),
            ffn: Some(FfnPlan {
                norm: t.f32(&b("ffn_norm.weight"), &[eu])?,
                ffn: Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Gelu)?),
                post_norm: Some(t.f32(&b("post_ffw_norm.weight"), &[eu])?),
            }),
            residual_scale: 1.0,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    let softcap = m.f32("final_logit_softcapping").unwrap_or(0.0);
    if !softcap.is_finite() || softcap < 0.0 {
        return Err(ModelError::BadHparams(format!("final_logit_softcapping {softcap}")));
    }
    // llama.cpp scales by sqrtf(n_embd) in f32.
    let embed_scale = (e as f32).sqrt();
    Ok(ModelPlan { hp, token_embd, embed_scale, layers, output_norm, output, logit_softcap: softcap, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig { rope_theta: 1e6, rope_theta_swa: 10000.0, window: 512, window_pattern: 6, ..SynthConfig::base("gemma3") };
    vec![
        // Gemma-3-270m (config.json): hidden 640, 18 layers (window 512, every 6th global),
        // 4 heads / 1 KV head of 256, FFN 2048, vocabulary 262,144, tied embeddings.
        ("gemma3-270m", SynthConfig {
            n_embd: 640, n_layer: 18, n_ff: 2048, n_vocab: 262144, n_head: 4, n_head_kv: 1, head_dim: 256, context_length: 32768, ..base.clone()
        }),
        // Gemma-3-1b: hidden 1152, 26 layers, 4 heads / 1 KV head of 256, FFN 6912.
        ("gemma3-1b", SynthConfig {
            n_embd: 1152, n_layer: 26, n_ff: 6912, n_vocab: 262144, n_head: 4, n_head_kv: 1, head_dim: 256, context_length: 32768, ..base.clone()
        }),
        // Windows shorter than the golden sequences, so the window mask and rows falling out
        // of it are exercised.
        ("tiny-gemma3", SynthConfig { n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, window: 4, window_pattern: 3, ..base.clone() }),
        ("small-gemma3", SynthConfig { n_embd: 256, n_layer: 3, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, window: 6, window_pattern: 2, ..base.clone() }),
        // head_dim 24, 3:1 GQA, soft-capped logits, linear RoPE scaling on the global layers.
        ("odd-gemma3", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 3, n_head_kv: 1, head_dim: 24, window: 5, window_pattern: 2,
            softcap: 30.0, rope_scale_linear: 8.0, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    let c = s.cfg.clone();
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    s.attention_kv(Value::U32(c.n_head_kv as u32));
    if c.window > 0 {
        s.arch_kv("attention.sliding_window", Value::U32(c.window as u32));
        if c.window_pattern != 6 {
            s.arch_kv("attention.sliding_window_pattern", Value::U32(c.window_pattern as u32));
        }
        s.arch_kv("rope.freq_base_swa", Value::F32(c.rope_theta_swa));
    }
    if c.softcap > 0.0 {
        s.arch_kv("final_logit_softcapping", Value::F32(c.softcap));
    }
    if c.rope_scale_linear > 0.0 {
        s.arch_kv("rope.scaling.type", Value::String("linear".into()));
        s.arch_kv("rope.scaling.factor", Value::F32(c.rope_scale_linear));
    }
    s.tokenizer();
    s.token_embd();
    for il in 0..c.n_layer {
        let b = |x: &str| format!("blk.{il}.{x}");
        s.norm(b("attn_norm.weight"), c.n_embd, Some(il));
        s.attention_tensors(il, true);
        s.norm(b("post_attention_norm.weight"), c.n_embd, Some(il));
        s.ffn_tensors(il, Some(b("ffn_norm.weight")), c.n_ff, true);
        s.norm(b("post_ffw_norm.weight"), c.n_embd, Some(il));
    }
    s.output("output_norm.weight");
}
