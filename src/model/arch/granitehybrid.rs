//! IBM Granite-4.0-H and Bamba (`granitehybrid`): each layer is Mamba2 or attention
//! (`head_count_kv[il] == 0` marks Mamba2), then a SwiGLU FFN — or, in Granite-4.0-H-Tiny /
//! Small (`expert_count > 0`), a softmax-routed MoE with a SwiGLU shared expert; Granite's multipliers
//! (`embedding_scale`, `residual_scale`, `attention.scale`, `logit_scale`) and NoPE unless
//! `rope.scaling.finetuned` (spec §2.4). llama.cpp: `src/models/granite-hybrid.cpp`.

use super::super::blocks::attention::{Attention, QkNorm, Rope};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::blocks::mamba2::{Mamba2, Mamba2Needs};
use super::super::blocks::moe::{Gating, Moe, MoeSpec, Need};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch {
    name: "granitehybrid",
    about: "IBM Granite-4.0-H (dense and MoE: -Tiny, -Small), Bamba: Mamba2 and attention layers",
    build,
    presets,
    synth,
};

/// A Granite multiplier (absent or 0: none).
fn multiplier(m: &Meta, k: &str) -> Option<f32> {
    m.f32(k).filter(|&v| v != 0.0)
}

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, ARCH.name)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let n_expert = m.u32("expert_count").unwrap_or(0);
    let k = m.per_layer("expert_used_count", hp.n_layer, 0)?;
    let rope = m.bool("rope.scaling.finetuned").unwrap_or(true).then(|| Rope {
        neox: false,
        n_rot: m.u32("rope.dimension_count").unwrap_or(hp.head_dim),
        theta: m.f32("rope.freq_base").unwrap_or(10000.0),
        sections: None,
        freq_factors: None,
        freq_scale: 1.0,
    });
    let kq_scale = multiplier(m, "attention.scale").unwrap_or(1.0 / (hp.head_dim.max(1) as f32).sqrt());
    let residual_scale = multiplier(m, "residual_scale").unwrap_or(1.0);
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let mixer = if hp.n_head_kv[il] == 0 {
            Mixer::Mamba2(Mamba2::resolve(t, il, e, hp.mamba2()?, Mamba2Needs { conv_bias: false, norm: true })?)
        } else {
            Mixer::Attention(Attention::resolve(t, il, e, hp.n_head_layer[il], hp.n_head_kv[il], hp.head_dim, QkNorm::None, rope, kq_scale)?)
        };
        let ffn = if n_expert > 0 {
            // llama.cpp granite-hybrid.cpp: softmax routing, weights renormalised, SwiGLU experts
            // (ffn_gate_exps optional), a SwiGLU shared expert when its width is set.
            let spec = MoeSpec {
                n_expert,
                k: k[il],
                n_ff: hp.n_ff_layer[il],
                gated: None,
                act: Activation::Silu,
                gating: Gating::Softmax,
                probs_bias: Need::No,
                norm_w: true,
                w_scale: m.f32("expert_weights_scale").unwrap_or(0.0),
                groups: (m.u32("expert_group_count").unwrap_or(0), m.u32("expert_group_used_count").unwrap_or(0)),
                shared_ff: m.u32("expert_shared_feed_forward_length").unwrap_or(0),
                shared_gated: true,
                shared_gate: false,
                latent: 0,
            };
            Ffn::Moe(Moe::resolve(t, il, e, spec)?)
        } else {
            Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Silu)?)
        };
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[e as u64])?),
            mixers: vec![mixer],
            ffn: Some(FfnPlan { norm: t.f32(&b("ffn_norm.weight"), &[e as u64])?, ffn, post_norm: None }),
            mixer_post_norm: None,
            residual_scale,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan {
        hp,
        token_embd,
        embed_scale: multiplier(m, "embedding_scale").unwrap_or(1.0),
        layers,
        output_norm,
        output,
        logit_softcap: 0.0,
        logit_scale: multiplier(m, "logit_scale").map_or(1.0, |s| 1.0 / s),
        roles: vec![],
    })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = SynthConfig::base("granitehybrid");
    vec![
        ("granite-4.0-h-350m", SynthConfig {
            n_embd: 768, n_layer: 32, n_ff: 2048, n_vocab: 100352, n_head: 12, n_head_kv: 4, head_dim: 64,
            attn_layers: vec![10, 13, 17, 27], d_inner: 1536, d_state: 128, ssm_heads: 48, context_length: 1 << 20, ..base.clone()
        }),
        ("tiny-granitehybrid", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, attn_layers: vec![1, 3],
            d_inner: 128, d_state: 16, ssm_heads: 8, ..base.clone()
        }),
        // The demo page's offline default: Granite-4.0-H's layout (mostly Mamba2, attention in a
        // few layers) at a size that loads and generates quickly anywhere. An untied output
        // matrix keeps the random logits flat, so replies are varied gibberish rather than one
        // token repeated.
        ("demo-granitehybrid", SynthConfig {
            n_embd: 256, n_layer: 6, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: vec![2, 5],
            d_inner: 512, d_state: 32, ssm_heads: 8, chat_template: true, tied: false, ..base.clone()
        }),
        ("small-granitehybrid", SynthConfig {
            n_embd: 256, n_layer: 3, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: vec![1],
            d_inner: 512, d_state: 32, ssm_heads: 8, ..base.clone()
        }),
        // head_dim 24 with partial RoPE (Bamba-style RoPE on), several SSM groups
        ("odd-granitehybrid", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 2, head_dim: 24, attn_layers: vec![0, 2],
            d_inner: 192, d_state: 24, ssm_heads: 12, n_group: 3, granite_rope: true, n_rot: Some(12), ..base.clone()
        }),
        // Granite-4.0-H-Tiny (7B, ~1B active; spec §4): 64 experts × 512, top 6, shared 1024.
        ("granite-4.0-h-tiny", SynthConfig {
            n_embd: 1536, n_layer: 40, n_ff: 512, n_vocab: 100352, n_head: 12, n_head_kv: 4, head_dim: 128,
            attn_layers: vec![5, 15, 25, 35], d_inner: 3072, d_state: 128, ssm_heads: 48, context_length: 1 << 20,
            n_expert: 64, n_expert_used: 6, n_ff_exp: 512, n_ff_shexp: 1024, ..base.clone()
        }),
        // MoE test shapes: top 2 of 8 with a shared expert; rows of 256 (K-quants without
        // fallback); every expert used (top k = n_expert), no shared expert.
        ("tiny-granitehybrid-moe", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 32, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, attn_layers: vec![1, 3],
            d_inner: 128, d_state: 16, ssm_heads: 8, n_expert: 8, n_expert_used: 2, n_ff_exp: 32, n_ff_shexp: 48, ..base.clone()
        }),
        ("small-granitehybrid-moe", SynthConfig {
            n_embd: 256, n_layer: 3, n_ff: 256, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: vec![1],
            d_inner: 512, d_state: 32, ssm_heads: 8, n_expert: 4, n_expert_used: 2, n_ff_exp: 256, n_ff_shexp: 256, ..base.clone()
        }),
        ("odd-granitehybrid-moe", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 40, n_vocab: 257, n_head: 4, n_head_kv: 2, head_dim: 24, attn_layers: vec![0],
            d_inner: 192, d_state: 24, ssm_heads: 12, n_group: 3, n_expert: 3, n_expert_used: 3, n_ff_exp: 40, tied: false, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    let c = s.cfg;
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    let kv = s.head_count_kv_per_layer(|il| c.attn_layers.contains(&il));
    s.attention_kv(kv);
    s.ssm_kv();
    s.arch_kv("embedding_scale", Value::F32(12.0));
    s.arch_kv("residual_scale", Value::F32(0.246));
    s.arch_kv("attention.scale", Value::F32(0.015625));
    s.arch_kv("logit_scale", Value::F32(3.0));
    s.arch_kv("rope.scaling.finetuned", Value::Bool(c.granite_rope));
    if c.n_expert > 0 {
        s.moe_kv();
    }
    s.tokenizer();
    s.token_embd();
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        if c.attn_layers.contains(&il) {
            s.attention_tensors(il, false);
        } else {
            s.mamba2_tensors(il);
        }
        if c.n_expert > 0 {
            s.moe_tensors(il, Some(format!("blk.{il}.ffn_norm.weight")), true, false, true);
        } else {
            s.ffn_tensors(il, Some(format!("blk.{il}.ffn_norm.weight")), c.n_ff, true);
        }
    }
    s.output("output_norm.weight");
}
