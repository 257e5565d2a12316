//! Mamba2 (`mamba2`, state-spaces mamba2-130m … 2.7b): every layer is RMSNorm → Mamba2 mixer
//! → residual; no FFN, no attention. llama.cpp: `src/models/mamba2.cpp`.

use super::super::blocks::mamba2::{Mamba2, Mamba2Needs};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "mamba2", about: "Mamba2 state-space models", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, ARCH.name)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let p = hp.mamba2()?;
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        // llama.cpp's mamba2 graph always adds the conv bias; the gated norm is always there.
        let mix = Mamba2::resolve(t, il, e, p, Mamba2Needs { conv_bias: true, norm: true })?;
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&format!("blk.{il}.attn_norm.weight"), &[e as u64])?),
            mixers: vec![Mixer::Mamba2(mix)],
            ffn: None,
            mixer_post_norm: None, residual_scale: 1.0,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig::base("mamba2");
    vec![
        ("mamba2-370m", SynthConfig {
            n_embd: 1024, n_layer: 48, n_vocab: 50288, d_inner: 2048, d_state: 128, ssm_heads: 32, context_length: 1 << 20, ..base.clone()
        }),
        ("tiny-mamba2", SynthConfig { n_embd: 64, n_layer: 2, n_vocab: 300, d_inner: 128, d_state: 16, ssm_heads: 8, n_group: 2, ..base.clone() }),
        ("small-mamba2", SynthConfig { n_embd: 256, n_layer: 2, n_vocab: 300, d_inner: 512, d_state: 32, ssm_heads: 8, ..base.clone() }),
        // several SSM groups, d_conv 3, a 257-token vocabulary
        ("odd-mamba2", SynthConfig { n_embd: 96, n_layer: 2, n_vocab: 257, d_inner: 160, d_state: 24, ssm_heads: 10, n_group: 5, d_conv: 3, ..base }),
    ]
}

fn synth(s: &mut Synth) {
    let c = s.cfg;
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(0));
    s.arch_kv("attention.head_count", Value::U32(0));
    s.ssm_kv();
    s.tokenizer();
    s.token_embd();
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        s.mamba2_tensors(il);
    }
    s.output("output_norm.weight");
}
