//! Qwen3.5 (`qwen35`, 0.8B–27B dense): layers of gated DeltaNet linear attention, every
//! `full_attention_interval`-th (default 4; or as `attention.recurrent_layers` says) a gated
//! full-attention layer (q projection carries a sigmoid output gate, per-head q/k RMSNorm,
//! partial rotary dims with interleaved M-RoPE sections); each layer then a SwiGLU FFN after
//! `post_attention_norm`. Multi-token-prediction blocks (`nextn_predict_layers`) after the
//! trunk are not run and not loaded. llama.cpp: `src/models/qwen35.cpp`; the same family
//! builder serves `qwen35moe` and `qwen3next`.

use super::super::blocks::attention::{Attention, QkNorm, Rope};
use super::super::blocks::delta_net::{DeltaNet, DeltaNetParams, HeadMap};
use super::super::blocks::ffn::{Activation, DenseFfn};
use super::super::hparams::{HParams, Meta, ModelError};
use super::super::plan::{Ffn, FfnPlan, LayerPlan, Mixer, ModelPlan, Tensors};
use super::super::synth::{Synth, SynthConfig};
use super::Arch;
use crate::gguf::{Array, Value};

pub static ARCH: Arch = Arch {
    name: "qwen35",
    about: "Qwen3.5 (dense): gated DeltaNet and gated attention layers, 3:1",
    build,
    presets,
    synth,
};

fn build(m: &Meta, t: &mut Tensors) -> Result<ModelPlan, ModelError> {
    if m.u32("expert_count").unwrap_or(0) > 0 {
        return Err(ModelError::UnsupportedFeature("a qwen35 file with experts (Qwen3.5 MoE files are qwen35moe)".into()));
    }
    build_family(m, t, ARCH.name, Family::Qwen35, |t, il, e, hp| Ok(Ffn::Dense(DenseFfn::resolve(t, il, e, hp.n_ff_layer[il], true, Activation::Silu)?)))
}

/// What differs between the members of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// Qwen3.5 (dense and MoE): value heads tiled over key heads, split β / α projections,
    /// IMROPE sections required.
    Qwen35,
    /// Qwen3-Next: value heads grouped by key head, `ssm_ba`, plain NEOX RoPE.
    Qwen3Next,
}

/// The Qwen3.5 / Qwen3-Next layer plan with each layer's FFN from `ffn`.
pub(super) fn build_family(
    m: &Meta,
    t: &mut Tensors,
    arch: &'static str,
    family: Family,
    ffn: impl Fn(&mut Tensors, usize, u32, &HParams) -> Result<Ffn, ModelError>,
) -> Result<ModelPlan, ModelError> {
    let mut hp = HParams::read(m, arch)?;
    // Multi-token-prediction blocks come after the trunk; llama.cpp skips them too.
    let n_all = hp.n_layer;
    let nextn = m.u32("nextn_predict_layers").unwrap_or(0);
    if nextn >= n_all {
        return Err(ModelError::BadHparams(format!("nextn_predict_layers {nextn} with block_count {n_all}")));
    }
    let n_layer = n_all - nextn;
    for il in n_layer..n_all {
        t.skip_prefix(&format!("blk.{il}."));
    }
    hp.n_layer = n_layer;
    for v in [&mut hp.n_ff_layer, &mut hp.n_head_layer, &mut hp.n_head_kv] {
        v.truncate(n_layer as usize);
    }
    let (e, v) = (hp.n_embd, hp.n_vocab);
    let recurrent: Vec<bool> = match m.per_layer_bool("attention.recurrent_layers", n_all)? {
        Some(r) => r,
        None => {
            let interval = m.u32("full_attention_interval").unwrap_or(4);
            if interval == 0 {
                return Err(ModelError::BadHparams("full_attention_interval 0".into()));
            }
            (0..n_all).map(|i| (i + 1) % interval != 0).collect()
        }
    };
    let dn = DeltaNetParams {
        n_k: m.req_u32("ssm.group_count")?,
        n_v: m.req_u32("ssm.time_step_rank")?,
        s: m.req_u32("ssm.state_size")?,
        d_conv: m.req_u32("ssm.conv_kernel")?,
        head_map: if family == Family::Qwen35 { HeadMap::Tile } else { HeadMap::Interleave },
    };
    let inner = m.req_u32("ssm.inner_size")?;
    if inner != dn.n_v.saturating_mul(dn.s) {
        return Err(ModelError::BadHparams(format!("ssm.inner_size {inner} is not time_step_rank {} × state_size {}", dn.n_v, dn.s)));
    }
    let sections = match family {
        Family::Qwen35 => Some(sections(m)?),
        Family::Qwen3Next => None,
    };
    let hd = hp.head_dim;
    let rope = Rope { neox: true, n_rot: m.u32("rope.dimension_count").unwrap_or(hd), theta: m.f32("rope.freq_base").unwrap_or(10000.0), sections, freq_factors: None, freq_scale: 1.0 };
    let kq_scale = m.f32("attention.scale").filter(|s| *s != 0.0).unwrap_or(1.0 / (hd.max(1) as f32).sqrt());
    let token_embd = t.matrix("token_embd.weight", &[e as u64, v as u64])?;
    let mut layers = vec![];
    for il in 0..n_layer as usize {
        let b = |s: &str| format!("blk.{il}.{s}");
        let mixer = if recurrent[il] {
            Mixer::DeltaNet(DeltaNet::resolve(t, il, e, dn, family == Family::Qwen3Next)?)
        } else {
            Mixer::Attention(Attention::resolve_gated(t, il, e, hp.n_head_layer[il], hp.n_head_kv[il], hd, QkNorm::Required, Some(rope), kq_scale, true)?)
        };
        layers.push(LayerPlan {
            mixer_norm: Some(t.f32(&b("attn_norm.weight"), &[e as u64])?),
            mixers: vec![mixer],
            ffn: Some(FfnPlan { norm: t.f32(&b("post_attention_norm.weight"), &[e as u64])?, ffn: ffn(t, il, e, &hp)?, post_norm: None }),
            mixer_post_norm: None, residual_scale: 1.0,
        });
    }
    let output_norm = t.f32("output_norm.weight", &[e as u64])?;
    let output = t.output(token_embd, e, v)?;
    Ok(ModelPlan { hp, token_embd, embed_scale: 1.0, layers, output_norm, output, logit_softcap: 0.0, logit_scale: 1.0, roles: vec![] })
}

/// `rope.dimension_sections`: four integers (llama.cpp requires them for Qwen3.5).
fn sections(m: &Meta) -> Result<[u32; 4], ModelError> {
    let key = m.key("rope.dimension_sections");
    let Some(Value::Array(a)) = m.get("rope.dimension_sections") else { return Err(ModelError::MissingKey(key)) };
    let v: Option<Vec<u32>> = (0..a.len()).map(|i| a.get(i).as_ref().and_then(Value::as_u64).and_then(|x| u32::try_from(x).ok())).collect();
    match v.as_deref() {
        Some(&[s0, s1, s2, s3, ..]) if s0 + s1 + s2 + s3 > 0 => Ok([s0, s1, s2, s3]),
        _ => Err(ModelError::BadHparams(format!("{key} must hold 4 integers, not all 0"))),
    }
}

/// The Qwen3.5 presets' shared fields: DeltaNet with conv kernel 4, rope θ 10⁷, sections
/// [11, 11, 10, 0] (the converter's default).
pub(super) fn qwen35_base(arch: &str) -> SynthConfig {
    SynthConfig { d_conv: 4, rope_theta: 1e7, rope_sections: Some([11, 11, 10, 0]), full_attention_interval: 4, tied: true, ..SynthConfig::base(arch) }
}

fn presets() -> Vec<(&'static str, SynthConfig)> {
    let base = qwen35_base("qwen35");
    vec![
        // Qwen3.5-0.8B (config.json): hidden 1024, 24 layers (every 4th full attention),
        // 8 heads / 2 KV heads of 256 with 64 rotary dims, DeltaNet 16 key and 16 value
        // heads of 128, FFN 3584, vocabulary 248,320, tied embeddings.
        ("qwen3.5-0.8b", SynthConfig {
            n_embd: 1024, n_layer: 24, n_ff: 3584, n_vocab: 248320, n_head: 8, n_head_kv: 2, head_dim: 256, n_rot: Some(64),
            n_group: 16, ssm_heads: 16, d_state: 128, context_length: 262144, ..base.clone()
        }),
        ("tiny-qwen35", SynthConfig {
            n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 16, n_rot: Some(8),
            n_group: 2, ssm_heads: 4, d_state: 16, rope_sections: Some([2, 1, 1, 0]), ..base.clone()
        }),
        // Rows of multiples of 256 (K-quants without fallback), untied output.
        ("small-qwen35", SynthConfig {
            n_embd: 256, n_layer: 4, n_ff: 512, n_vocab: 300, n_head: 4, n_head_kv: 2, head_dim: 64, n_rot: Some(16),
            n_group: 2, ssm_heads: 2, d_state: 64, rope_sections: Some([3, 3, 2, 0]), tied: false, ..base.clone()
        }),
        // 2 attention layers of 5 (interval 2), 3 value heads per key head, head dim 24,
        // sections that leave pairs unrotated, a 3-tap conv, an MTP block after the trunk.
        ("odd-qwen35", SynthConfig {
            n_embd: 96, n_layer: 5, n_ff: 160, n_vocab: 257, n_head: 3, n_head_kv: 1, head_dim: 24, n_rot: Some(16),
            n_group: 1, ssm_heads: 3, d_state: 24, d_conv: 3, full_attention_interval: 2, rope_sections: Some([1, 2, 1, 0]), nextn: 1, ..base
        }),
    ]
}

fn synth(s: &mut Synth) {
    synth_family(s, false, |s, il| {
        let n_ff = s.cfg.n_ff;
        s.ffn_tensors(il, Some(format!("blk.{il}.post_attention_norm.weight")), n_ff, true);
    })
}

/// The family's keys and tensors as llama.cpp's converter writes them; `fused_ba` for
/// Qwen3-Next; `ffn` writes each layer's norm and FFN (also for the MTP blocks).
pub(super) fn synth_family(s: &mut Synth, fused_ba: bool, ffn: impl Fn(&mut Synth, u64)) {
    let c = s.cfg;
    let n_all = c.n_layer + c.nextn;
    // block_count counts the MTP blocks, as the converter writes it.
    let cfg = SynthConfig { n_layer: n_all, ..c.clone() };
    let mut t = Synth::new(&cfg, s.wt);
    t.common_kv();
    t.arch_kv("feed_forward_length", Value::U32(c.n_ff as u32));
    t.attention_kv(Value::U32(c.n_head_kv as u32));
    t.arch_kv("ssm.conv_kernel", Value::U32(c.d_conv as u32));
    t.arch_kv("ssm.state_size", Value::U32(c.d_state as u32));
    t.arch_kv("ssm.group_count", Value::U32(c.n_group as u32));
    t.arch_kv("ssm.time_step_rank", Value::U32(c.ssm_heads as u32));
    t.arch_kv("ssm.inner_size", Value::U32((c.ssm_heads * c.d_state) as u32));
    t.arch_kv("full_attention_interval", Value::U32(c.full_attention_interval as u32));
    if let Some(sec) = c.rope_sections {
        t.arch_kv("rope.dimension_sections", Value::Array(Array::I32(sec.iter().map(|&x| x as i32).collect())));
    }
    if c.n_expert > 0 {
        t.moe_kv();
    }
    if c.nextn > 0 {
        t.arch_kv("nextn_predict_layers", Value::U32(c.nextn as u32));
    }
    t.tokenizer();
    t.token_embd();
    let e = c.n_embd;
    for il in 0..n_all {
        t.norm(format!("blk.{il}.attn_norm.weight"), e, Some(il));
        let mtp = il >= c.n_layer;
        if !mtp && (il + 1) % c.full_attention_interval != 0 {
            t.delta_net_tensors(il, fused_ba);
        } else {
            t.gated_attention_tensors(il);
        }
        ffn(&mut t, il);
        if mtp {
            let std_e = 1.0 / (e as f32).sqrt();
            t.tensor(format!("blk.{il}.nextn.eh_proj.weight"), &[2 * e, e], Some(il), super::super::synth::Init::Normal(std_e));
            for n in ["enorm", "hnorm", "shared_head_norm"] {
                t.norm(format!("blk.{il}.nextn.{n}.weight"), e, Some(il));
            }
        }
    }
    t.output("output_norm.weight");
    s.adopt(t);
}
