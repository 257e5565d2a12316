//! AI21 Jamba (`jamba`): layers of Mamba-1 (`head_count_kv[il] == 0`) or attention without
//! RoPE (GQA, no q/k norms), each followed by `ffn_norm` and either a SwiGLU FFN or, where the
//! layer has `ffn_gate_inp`, a softmax-routed mixture of SwiGLU experts (weights not
//! renormalised). The Mamba-1 block is `blocks/mamba1.rs`. llama.cpp: `src/models/jamba.cpp`.

use super::super::blocks::attention::{Attention, QkNorm};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::blocks::mamba1::{Mamba1, Mamba1Params};
use super::super::blocks::moe::{Gating, Moe, MoeSpec, Need};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::Value;

pub static ARCH: Arch = Arch { name: "jamba", about: "AI21 Jamba: Mamba-1 and attention layers, mixture-of-experts FFNs", build, presets, synth };

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    let hp = HParams::read(m, ARCH.name)?;
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let p = Mamba1Params {
        d_conv: m.req_u32("ssm.conv_kernel")?,
        d_inner: m.req_u32("ssm.inner_size")?,
        d_state: m.req_u32("ssm.state_size")?,
        dt_rank: m.req_u32("ssm.time_step_rank")?,
    };
    // Valid shapes the Mamba-1 kernels do not run (dt_rank = ceil(n_embd / 16) is any number):
    // a typed "not supported" rather than the invalid-file error Mamba1::resolve gives.
    if (p.dt_rank % 4 != 0 || p.d_inner % 4 != 0) && p.dt_rank > 0 && p.d_inner > 0 {
        return Err(ModelError::UnsupportedFeature(format!(
            "Mamba-1 with dt_rank {} and d_inner {} (Braid runs multiples of 4)",
            p.dt_rank, p.d_inner
        )));
    }
    let n_expert = m.u32("expert_count").unwrap_or(0);
    let k = m.u32("expert_used_count").unwrap_or(0);
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let hd = hp.head_dim;
    let mut layers = vec![];
    for il in 0..hp.n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let mixer = if hp.n_head_kv[il] == 0 {
            Mixer::Mamba1(Mamba1::resolve(t, il, e, p)?)
        } else {
            Mixer::Attention(Attention::resolve(t, il, e, hp.n_head_layer[il], hp.n_head_kv[il], hd, QkNorm::None, None, 1.0 / (hd.max(1) as f32).sqrt())?)
        };
        let n_ff = hp.n_ff_layer[il];
        let ffn = if t.index.tensor_index(&b("ffn_gate_inp.weight")).is_some() {
            let spec = MoeSpec {
                n_expert,
                k,
                n_ff,
                gated: Some(true),
                act: Activation::Silu,
                gating: Gating::Softmax,
                probs_bias: Need::No,
                norm_w: false,
                w_scale: m.f32("expert_weights_scale").unwrap_or(0.0),
                groups: (0, 0),
                shared_ff: 0,
                shared_gated: true,
                shared_gate: false,
                latent: 0,
            };
            Ffn::Moe(Moe::resolve(t, il, e, spec)?)
        } else {
            Ffn::Dense(DenseFfn::resolve(t, il, e, n_ff, true, Activation::Silu)?)
        };
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[e as u64])?),
            mixers: vec![mixer],
            ffn: Some(FfnPlan { norm: t.f32(&b("ffn_norm.weight"), &[e as u64])?, ffn, post_norm: None }),
            mixer_post_norm: None, residual_scale: 1.0,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    // Jamba v0.1's pattern (config.json): attention every 8th layer from 4, MoE every 2nd
    // layer from 1, 16 experts top 2, Mamba d_state 16, d_conv 4, expand 2, dt_rank ⌈d/16⌉.
    let base = SynthConfig { d_conv: 4, tied: false, moe_every: (1, 2), ..SynthConfig::base("jamba") };
    vec![
        // Jamba's layer pattern at a small width: one 8-layer period, 1024 wide.
        ("jamba-tiny", SynthConfig {
            n_embd: 1024, n_layer: 8, n_ff: 2048, n_vocab: 65536, n_head: 16, n_head_kv: 4, head_dim: 64, attn_layers: vec![4],
            d_inner: 2048, d_state: 16, dt_rank: 64, n_expert: 16, n_expert_used: 2, n_ff_exp: 2048, context_length: 262144, ..base.clone()
        }),
        ("tiny-jamba", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, attn_layers: vec![2],
            d_inner: 128, d_state: 16, dt_rank: 4, n_expert: 4, n_expert_used: 2, n_ff_exp: 96, tied: true, ..base.clone()
        }),
        ("small-jamba", SynthConfig {
            n_embd: 256, n_layer: 4, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, attn_layers: vec![1],
            d_inner: 512, d_state: 16, dt_rank: 16, n_expert: 4, n_expert_used: 2, n_ff_exp: 512, ..base.clone()
        }),
        ("odd-jamba", SynthConfig {
            n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 4, n_head_kv: 1, head_dim: 24, attn_layers: vec![2],
            d_inner: 192, d_state: 12, dt_rank: 8, d_conv: 3, n_expert: 3, n_expert_used: 2, n_ff_exp: 160, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    let c = s.cfg;
    s.common_kv();
    s.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    s.arch_kv("attention.head_count", Value::U32(c.n_head as u32));
    let kv = s.head_count_kv_per_layer(|il| c.attn_layers.contains(&il));
    s.arch_kv("attention.head_count_kv", kv);
    s.arch_kv("ssm.conv_kernel", Value::U32(c.d_conv as u32));
    s.arch_kv("ssm.inner_size", Value::U32(c.d_inner as u32));
    s.arch_kv("ssm.state_size", Value::U32(c.d_state as u32));
    s.arch_kv("ssm.time_step_rank", Value::U32(c.dt_rank as u32));
    s.arch_kv("expert_count", Value::U32(c.n_expert as u32));
    s.arch_kv("expert_used_count", Value::U32(c.n_expert_used as u32));
    s.tokenizer();
    s.token_embd();
    let (off, period) = c.moe_every;
    for il in 0..c.n_layer {
        s.norm(format!("blk.{il}.attn_norm.weight"), c.n_embd, Some(il));
        if c.attn_layers.contains(&il) {
            s.attention_tensors(il, false);
        } else {
            s.mamba1_tensors(il);
        }
        let norm = Some(format!("blk.{il}.ffn_norm.weight"));
        if c.n_expert > 0 && period > 0 && il >= off && (il - off) % period == 0 {
            s.moe_tensors(il, norm, true, false, true);
        } else {
            s.ffn_tensors(il, norm, c.n_ff, true);
        }
    }
    s.output("output_norm.weight");
}
