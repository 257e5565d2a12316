//! TII Falcon-H1 (`falcon-h1`): every layer runs attention (RoPE NEOX) and a Mamba2 mixer side
//! by side on the same normed input and adds both, then a SwiGLU FFN; the µP multipliers are
//! folded into the weights by the converter (spec §2.5). llama.cpp: `src/models/falcon-h1.cpp`.

use super::super::blocks::attention::{Attention, QkNorm, Rope};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::blocks::mamba2::{Mamba2, Mamba2Needs};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "falcon-h1", about: "TII Falcon-H1: attention ∥ Mamba2 in every layer", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, ARCH.name)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let p = hp.mamba2()?;
    let rope = Rope { neox: true, n_rot: m.u32("rope.dimension_count").unwrap_or(hp.head_dim), theta: m.f32("rope.freq_base").unwrap_or(10000.0), sections: None, freq_factors: None, freq_scale: 1.0 };
    let kq_scale = 1.0 / (hp.head_dim.max(1) as f32).sqrt();
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let attn = Attention::resolve(t, il, e, hp.n_head_layer[il], hp.n_head_kv[il], hp.head_dim, QkNorm::None, Some(rope), kq_scale)?;
        // Falcon-H1-0.5B has no gated norm (`mamba_rms_norm` false); 1.5B has one.
        let ssm = Mamba2::resolve(t, il, e, p, Mamba2Needs { conv_bias: false, norm: false })?;
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[e as u64])?),
            mixers: vec![Mixer::Attention(attn), Mixer::Mamba2(ssm)],
            ffn: Some(FfnPlan {
                // the converter names it without ".weight" (spec §1.3)
                norm: t.f32_either(&b("ffn_norm.weight"), &b("ffn_norm"), &[e as u64])?,
                ffn: Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Silu)?),
                post_norm: None,
            }),
            mixer_post_norm: None, residual_scale: 1.0,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig::base("falcon-h1");
    let all = |n: u64| (0..n).collect::<Vec<u64>>();
    vec![
        ("falcon-h1-0.5b", SynthConfig {
            n_embd: 1024, n_layer: 36, n_ff: 2048, n_vocab: 32784, n_head: 8, n_head_kv: 2, head_dim: 64, attn_layers: all(36),
            d_inner: 1536, d_state: 128, ssm_heads: 24, tied: false, ssm_norm: false, rope_theta: 1e11, ..base.clone()
        }),
        ("tiny-falcon-h1", SynthConfig {
            n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, attn_layers: all(2),
            d_inner: 96, d_state: 16, ssm_heads: 6, tied: false, ssm_norm: false, rope_theta: 1e11, ..base.clone()
        }),
        ("small-falcon-h1", SynthConfig {
            n_embd: 256, n_layer: 2, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: all(2),
            d_inner: 256, d_state: 32, ssm_heads: 4, tied: false, ssm_norm: false, rope_theta: 1e11, ..base.clone()
        }),
        ("odd-falcon-h1", SynthConfig {
            n_embd: 96, n_layer: 2, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 2, head_dim: 24, attn_layers: all(2),
            d_inner: 72, d_state: 20, ssm_heads: 6, n_group: 2, tied: false, ssm_norm: true, rope_theta: 1e11, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    let c = s.cfg;
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    s.attention_kv(Value::U32(c.n_head_kv as u32));
    s.ssm_kv();
    s.tokenizer();
    s.token_embd();
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        s.attention_tensors(il, false);
        s.mamba2_tensors(il);
        s.ffn_tensors(il, Some(format!("blk.{il}.ffn_norm")), c.n_ff, true);
    }
    s.output("output_norm.weight");
}
