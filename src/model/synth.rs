//! Synthetic GGUF models (random weights) with each architecture's real metadata keys, tensor
//! names and shapes (spec §1, §4), for tests, benchmarks and the demo's offline default. Each
//! architecture's file in `arch/` lists its presets and writes its keys and tensors with the
//! helpers of [`Synth`]; random quantized blocks are valid blocks with finite scales sized so
//! the weights have roughly the chosen standard deviation.

use std::collections::HashSet;
use std::io::{self, Write};

use half::f16;

use crate::gguf::writer::GgufWriter;
use crate::gguf::{Array, GgmlType, Value};
pub use crate::rng::Rng;
use crate::tokenizer::byte_to_unicode;

/// `n_elements` random values of type `ty` (whole blocks) with about `std` spread.
pub fn random_tensor_bytes(ty: GgmlType, n_elements: u64, std: f32, rng: &mut Rng, out: &mut Vec<u8>) {
    use GgmlType::*;
    let nb = (n_elements / ty.block_size()) as usize;
    let ts = ty.type_size() as usize;
    let start = out.len();
    match ty {
        F32 => out.extend((0..nb).flat_map(|_| (rng.uniform() * std * 1.7).to_le_bytes())),
        F16 => out.extend((0..nb).flat_map(|_| f16::from_f32(rng.uniform() * std * 1.7).to_le_bytes())),
        BF16 => out.extend((0..nb).flat_map(|_| half::bf16::from_f32(rng.uniform() * std * 1.7).to_le_bytes())),
        _ => {
            out.resize(start + nb * ts, 0);
            rng.fill_bytes(&mut out[start..]);
            // Per-type scale so that dequantized values have about `std` spread.
            let d = std * match ty {
                Q8_0 => 1.0 / 73.0,
                Q4_0 | Q4_1 => 1.0 / 4.6,
                Q5_0 | Q5_1 => 1.0 / 9.2,
                IQ4_NL => 1.0 / 64.0,
                Q4_K => 1.0 / (4.6 * 32.0),
                Q5_K => 1.0 / (9.2 * 32.0),
                Q6_K => 1.0 / (18.5 * 64.0),
                // rms of sc·q − mn·m over random 4-bit scales / mins and 2-bit quants
                Q2_K => 1.0 / 13.9,
                // rms of (sc − 32)·q, 6-bit scales, q in −4..3
                Q3_K => 1.0 / 43.3,
                // rms of (ls − 32)·table(q)
                IQ4_XS => 1.0 / (69.0 * 18.5),
                MXFP4 => 1.0,
                _ => 1.0,
            };
            for blk in out[start..].chunks_exact_mut(ts) {
                // Each block's scale varies (× 0.5 … 1.5, from the block's own random first
                // byte, so the generator's stream is unchanged): a kernel that applies a
                // neighbouring block's or row's scale gives a visibly wrong product.
                let d = d * (0.5 + blk[0] as f32 / 255.0);
                let h = |x: f32| f16::from_f32(x).to_le_bytes();
                match ty {
                    Q8_0 | Q4_0 | Q5_0 | IQ4_NL => blk[0..2].copy_from_slice(&h(d)),
                    Q4_1 | Q5_1 => {
                        blk[0..2].copy_from_slice(&h(d));
                        blk[2..4].copy_from_slice(&h(-d * if ty == Q4_1 { 8.0 } else { 16.0 }));
                    }
                    Q4_K | Q5_K => {
                        // centre: mean of sc·q ≈ mean of mn·(7.5 or 15.5)
                        blk[0..2].copy_from_slice(&h(d));
                        blk[2..4].copy_from_slice(&h(d * if ty == Q4_K { 7.5 } else { 15.5 }));
                    }
                    Q6_K => blk[208..210].copy_from_slice(&h(d)),
                    Q2_K => {
                        // centre: mean of sc·q (7.5 · 1.5) = mean of mn·dmin (7.5 · 1.5 d)
                        blk[80..82].copy_from_slice(&h(d));
                        blk[82..84].copy_from_slice(&h(1.5 * d));
                    }
                    Q3_K => blk[108..110].copy_from_slice(&h(d)),
                    IQ4_XS => blk[0..2].copy_from_slice(&h(d)),
                    MXFP4 => {
                        // exponent near 2^-5 · std
                        let e = (127.0 + (std / 4.0).log2()).clamp(2.0, 250.0) as u8;
                        blk[0] = e;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The shape of a synthetic model. Which fields matter depends on the architecture (its file
/// in `arch/` reads them).
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub arch: String,
    pub n_embd: u64,
    pub n_layer: u64,
    pub n_ff: u64,
    pub n_vocab: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub head_dim: u64,
    /// Layers that have attention (others get the arch's recurrent mixer).
    pub attn_layers: Vec<u64>,
    /// Per-layer kinds as a string where the architecture uses one (Nemotron-H's
    /// `hybrid_override_pattern`: `M` Mamba2, `*` attention, `-` MLP).
    pub pattern: String,
    pub d_inner: u64,
    pub d_state: u64,
    pub n_group: u64,
    pub ssm_heads: u64,
    /// Conv taps (Mamba2 `ssm.conv_kernel`, LFM2 `shortconv.l_cache`).
    pub d_conv: u64,
    pub tied: bool,
    pub ssm_norm: bool,
    pub rope_theta: f32,
    pub context_length: u64,
    /// Rotary dims when fewer than head_dim (partial RoPE).
    pub n_rot: Option<u64>,
    /// Granite: RoPE on (`rope.scaling.finetuned`, as in Bamba) instead of NoPE.
    pub granite_rope: bool,
    /// Write a ChatML `tokenizer.chat_template` (off by default: the golden fixtures hash
    /// the files).
    pub chat_template: bool,
    /// Write this `general.architecture` (and key prefix) instead of `arch`: a valid file of
    /// an architecture Braid does not run, for tests of the refusal.
    pub arch_name: Option<String>,
    /// Mixture of experts: experts, used per token, one expert's width, the shared expert's
    /// width (0: none), leading dense layers, latent width around the experts (0: none),
    /// expert groups and groups used (0: none).
    pub n_expert: u64,
    pub n_expert_used: u64,
    pub n_ff_exp: u64,
    pub n_ff_shexp: u64,
    pub n_dense_lead: u64,
    pub moe_latent: u64,
    pub expert_groups: (u64, u64),
    /// Mamba-1 (Jamba): `ssm.time_step_rank`, the dt projection's rank.
    pub dt_rank: u64,
    /// Qwen3.5 / Qwen3-Next: one attention layer every `full_attention_interval` layers.
    pub full_attention_interval: u64,
    /// Qwen3.5: `rope.dimension_sections` (interleaved M-RoPE).
    pub rope_sections: Option<[u32; 4]>,
    /// Multi-token-prediction blocks appended after the trunk (`nextn_predict_layers`), as
    /// llama.cpp's converter writes Qwen3.5 / Qwen3-Next checkpoints that have them.
    pub nextn: u64,
    /// Jamba: MoE in layers `offset + k·period` (`expert_layer_offset` / `_period`).
    pub moe_every: (u64, u64),
    /// Llama 3.x: write `rope_freqs.weight` as llama.cpp's converter computes it.
    pub rope_freqs: bool,
    /// Sliding window (`attention.sliding_window`, 0: none), the window pattern's period
    /// (Gemma 3: every `window_pattern`-th layer is global) and the window layers' RoPE base.
    pub window: u64,
    pub window_pattern: u64,
    pub rope_theta_swa: f32,
    /// Final logit soft-capping (0: none).
    pub softcap: f32,
    /// Linear RoPE scaling factor (`rope.scaling.factor`; 0: none).
    pub rope_scale_linear: f32,
}

impl SynthConfig {
    /// Every field zero / off; presets fill in what their architecture reads.
    pub fn base(arch: &str) -> SynthConfig {
        SynthConfig {
            arch: arch.into(),
            n_embd: 0,
            n_layer: 0,
            n_ff: 0,
            n_vocab: 0,
            n_head: 0,
            n_head_kv: 0,
            head_dim: 0,
            attn_layers: vec![],
            pattern: String::new(),
            d_inner: 0,
            d_state: 0,
            n_group: 1,
            ssm_heads: 0,
            d_conv: 4,
            tied: true,
            ssm_norm: true,
            rope_theta: 10000.0,
            context_length: 4096,
            n_rot: None,
            granite_rope: false,
            chat_template: false,
            arch_name: None,
            n_expert: 0,
            n_expert_used: 0,
            n_ff_exp: 0,
            n_ff_shexp: 0,
            n_dense_lead: 0,
            moe_latent: 0,
            expert_groups: (0, 0),
            dt_rank: 0,
            full_attention_interval: 4,
            rope_sections: None,
            nextn: 0,
            moe_every: (0, 0),
            rope_freqs: false,
            window: 0,
            window_pattern: 0,
            rope_theta_swa: 10000.0,
            softcap: 0.0,
            rope_scale_linear: 0.0,
        }
    }
}

/// The weight type of each tensor, following llama-quantize's rules (spec §1.3): only 2-D+
/// `*.weight` matrices are quantized (never norms, convs), with its row-length fallbacks.
/// `q4_k_m` puts the output / tied embedding and every other attn_v / ffn_down in Q6_K.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightType {
    Plain(GgmlType),
    Q4KM,
}

impl WeightType {
    pub fn parse(s: &str) -> Option<WeightType> {
        if s.eq_ignore_ascii_case("q4_k_m") {
            return Some(WeightType::Q4KM);
        }
        GgmlType::from_name(s).filter(|t| t.is_supported()).map(WeightType::Plain)
    }
}

fn fallback(ty: GgmlType, ne0: u64) -> GgmlType {
    use GgmlType::*;
    if ne0 % ty.block_size() == 0 {
        return ty;
    }
    let f = match ty {
        Q4_K => Q5_0,
        Q5_K => Q5_1,
        Q6_K => Q8_0,
        Q2_K | Q3_K => Q4_0,
        IQ4_NL | IQ4_XS | MXFP4 => IQ4_NL,
        _ => F16,
    };
    if ne0 % f.block_size() == 0 { f } else { F16 }
}

fn tensor_type(wt: WeightType, name: &str, dims: &[u64], layer: Option<u64>, tied: bool) -> GgmlType {
    let quantizable = dims.len() >= 2
        && name.ends_with(".weight")
        && !name.contains("norm")
        && !name.contains("conv1d")
        && !name.contains("shortconv.conv")
        && !name.contains("ffn_gate_inp");
    if !quantizable {
        return GgmlType::F32;
    }
    let ty = match wt {
        WeightType::Plain(t) => t,
        WeightType::Q4KM => {
            let is_out = name == "output.weight" || (tied && name == "token_embd.weight");
            let half = (name.contains("attn_v") || name.contains("ffn_down")) && layer.is_some_and(|l| l % 2 == 0);
            if is_out || half { GgmlType::Q6_K } else { GgmlType::Q4_K }
        }
    };
    fallback(ty, dims[0])
}

/// How a tensor's random values are drawn.
#[derive(Clone, Copy)]
pub enum Init {
    Normal(f32),
    /// 1 + noise (norm weights)
    Norm,
    /// −exp(u), u in [0, 1.5) (Mamba2 A, already negative as in GGUF files)
    NegExp,
    Const(f32, f32),
}

struct Planned {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    init: Init,
    /// Exact F32 values instead of random ones.
    values: Option<Vec<f32>>,
}

/// A synthetic file being described: metadata in order, then tensors in order.
pub struct Synth<'a> {
    pub cfg: &'a SynthConfig,
    pub wt: WeightType,
    g: GgufWriter,
    plan: Vec<Planned>,
}

impl<'a> Synth<'a> {
    pub fn new(cfg: &'a SynthConfig, wt: WeightType) -> Synth<'a> {
        Synth { cfg, wt, g: GgufWriter::new(), plan: vec![] }
    }

    /// Take over the metadata and tensors described by `other` (a family writer that
    /// described the file under an adjusted config).
    pub fn adopt(&mut self, other: Synth<'_>) {
        self.g = other.g;
        self.plan = other.plan;
    }

    /// The architecture name written to the file.
    pub fn arch(&self) -> &str {
        self.cfg.arch_name.as_deref().unwrap_or(&self.cfg.arch)
    }

    /// A key as is (`general.*`, `tokenizer.*`).
    pub fn kv(&mut self, key: &str, v: Value) {
        self.g.kv(key, v);
    }

    /// `{arch}.{k}`.
    pub fn arch_kv(&mut self, k: &str, v: Value) {
        let key = format!("{}.{k}", self.arch());
        self.g.kv(&key, v);
    }

    /// Declare a tensor; its type follows the weight type and llama-quantize's rules.
    pub fn tensor(&mut self, name: String, dims: &[u64], layer: Option<u64>, init: Init) {
        let ty = tensor_type(self.wt, &name, dims, layer, self.cfg.tied);
        self.plan.push(Planned { name, dims: dims.to_vec(), ty, init, values: None });
    }

    /// An F32 tensor of exactly these values.
    pub fn const_tensor(&mut self, name: String, dims: &[u64], values: Vec<f32>) {
        self.plan.push(Planned { name, dims: dims.to_vec(), ty: GgmlType::F32, init: Init::Norm, values: Some(values) });
    }

    /// `general.*`, then context, embedding, block count, vocabulary size and RMS eps.
    pub fn common_kv(&mut self) {
        let c = self.cfg;
        let a = self.arch().to_string();
        self.kv("general.architecture", Value::String(a.clone()));
        self.kv("general.name", Value::String(format!("braid synthetic {a}")));
        self.kv("general.file_type", Value::U32(0));
        self.kv("general.quantization_version", Value::U32(2));
        self.arch_kv("context_length", Value::U32(c.context_length as u32));
        self.arch_kv("embedding_length", Value::U32(c.n_embd as u32));
        self.arch_kv("block_count", Value::U32(c.n_layer as u32));
        self.arch_kv("vocab_size", Value::U32(c.n_vocab as u32));
        self.arch_kv("attention.layer_norm_rms_epsilon", Value::F32(1e-5));
    }

    /// `attention.*` and `rope.*` keys; `head_count_kv` as given (a scalar or per-layer array).
    pub fn attention_kv(&mut self, head_count_kv: Value) {
        let c = self.cfg;
        self.arch_kv("attention.head_count", Value::U32(c.n_head as u32));
        self.arch_kv("attention.head_count_kv", head_count_kv);
        self.arch_kv("attention.key_length", Value::U32(c.head_dim as u32));
        self.arch_kv("attention.value_length", Value::U32(c.head_dim as u32));
        self.arch_kv("rope.freq_base", Value::F32(c.rope_theta));
        self.arch_kv("rope.dimension_count", Value::U32(c.n_rot.unwrap_or(c.head_dim) as u32));
    }

    /// `head_count_kv` per layer: `n_head_kv` where `attn(il)`, else 0 (U32 array).
    pub fn head_count_kv_per_layer(&self, attn: impl Fn(u64) -> bool) -> Value {
        Value::Array(Array::U32((0..self.cfg.n_layer).map(|il| if attn(il) { self.cfg.n_head_kv as u32 } else { 0 }).collect()))
    }

    /// The Mamba2 `ssm.*` keys.
    pub fn ssm_kv(&mut self) {
        let c = self.cfg;
        self.arch_kv("ssm.conv_kernel", Value::U32(c.d_conv as u32));
        self.arch_kv("ssm.inner_size", Value::U32(c.d_inner as u32));
        self.arch_kv("ssm.state_size", Value::U32(c.d_state as u32));
        self.arch_kv("ssm.time_step_rank", Value::U32(c.ssm_heads as u32));
        self.arch_kv("ssm.group_count", Value::U32(c.n_group as u32));
    }

    /// A small byte-level BPE vocabulary of exactly `n_vocab` tokens (and the chat template
    /// when the config asks for one).
    pub fn tokenizer(&mut self) {
        add_tokenizer(&mut self.g, self.cfg.n_vocab);
        if self.cfg.chat_template {
            self.kv(
                "tokenizer.chat_template",
                Value::String(
                    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|endoftext|>\n{% endfor %}\
                     {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
                        .into(),
                ),
            );
        }
    }

    fn std_e(&self) -> f32 {
        1.0 / (self.cfg.n_embd as f32).sqrt()
    }

    pub fn token_embd(&mut self) {
        let (e, v) = (self.cfg.n_embd, self.cfg.n_vocab);
        self.tensor("token_embd.weight".into(), &[e, v], None, Init::Normal(1.0));
    }

    /// An F32 norm weight of `n` values.
    pub fn norm(&mut self, name: String, n: u64, il: Option<u64>) {
        self.tensor(name, &[n], il, Init::Norm);
    }

    /// `attn_q/k/v/output.weight` of layer il (and `attn_q_norm` / `attn_k_norm`).
    pub fn attention_tensors(&mut self, il: u64, qk_norm: bool) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        let (e, q, kv) = (c.n_embd, c.n_head * c.head_dim, c.n_head_kv * c.head_dim);
        let std_e = self.std_e();
        self.tensor(b("attn_q.weight"), &[e, q], Some(il), Init::Normal(std_e));
        self.tensor(b("attn_k.weight"), &[e, kv], Some(il), Init::Normal(std_e));
        self.tensor(b("attn_v.weight"), &[e, kv], Some(il), Init::Normal(std_e));
        self.tensor(b("attn_output.weight"), &[q, e], Some(il), Init::Normal(1.0 / (q as f32).sqrt()));
        if qk_norm {
            self.norm(b("attn_q_norm.weight"), c.head_dim, Some(il));
            self.norm(b("attn_k_norm.weight"), c.head_dim, Some(il));
        }
    }

    /// Llama 3's `rope_freqs.weight` [n_rot / 2] as llama.cpp's converter computes it (factor
    /// 32, low / high frequency factors 1 and 4, original context 8192): 1 for high
    /// frequencies, `factor` for low ones, smoothly in between.
    pub fn rope_freqs(&mut self) {
        let c = self.cfg;
        let n_rot = c.n_rot.unwrap_or(c.head_dim);
        let (factor, low, high, old_ctx) = (32.0f64, 1.0f64, 4.0f64, 8192.0f64);
        let (low_wl, high_wl) = (old_ctx / low, old_ctx / high);
        let vals: Vec<f32> = (0..n_rot / 2)
            .map(|i| {
                let freq = 1.0 / (c.rope_theta as f64).powf(2.0 * i as f64 / n_rot as f64);
                let wl = 2.0 * std::f64::consts::PI / freq;
                if wl < high_wl {
                    1.0
                } else if wl > low_wl {
                    factor as f32
                } else {
                    let smooth = (old_ctx / wl - low) / (high - low);
                    (1.0 / ((1.0 - smooth) / factor + smooth)) as f32
                }
            })
            .collect();
        self.const_tensor("rope_freqs.weight".into(), &[n_rot / 2], vals);
    }

    /// `attn_q/k/v.bias` of layer il (Qwen2).
    pub fn attention_biases(&mut self, il: u64) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        self.tensor(b("attn_q.bias"), &[c.n_head * c.head_dim], Some(il), Init::Normal(0.1));
        self.tensor(b("attn_k.bias"), &[c.n_head_kv * c.head_dim], Some(il), Init::Normal(0.1));
        self.tensor(b("attn_v.bias"), &[c.n_head_kv * c.head_dim], Some(il), Init::Normal(0.1));
    }

    /// Gated attention (Qwen3.5 / Qwen3-Next) tensors of layer il: `attn_q` carries each
    /// head's output gate ([E, 2·n_head·hd]); per-head q/k norms.
    pub fn gated_attention_tensors(&mut self, il: u64) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        let (e, q, kv) = (c.n_embd, c.n_head * c.head_dim, c.n_head_kv * c.head_dim);
        let std_e = self.std_e();
        self.tensor(b("attn_q.weight"), &[e, 2 * q], Some(il), Init::Normal(std_e));
        self.tensor(b("attn_k.weight"), &[e, kv], Some(il), Init::Normal(std_e));
        self.tensor(b("attn_v.weight"), &[e, kv], Some(il), Init::Normal(std_e));
        self.tensor(b("attn_output.weight"), &[q, e], Some(il), Init::Normal(1.0 / (q as f32).sqrt()));
        self.norm(b("attn_q_norm.weight"), c.head_dim, Some(il));
        self.norm(b("attn_k_norm.weight"), c.head_dim, Some(il));
    }

    /// Gated DeltaNet tensors of layer il (`n_group` key heads, `ssm_heads` value heads,
    /// head dim `d_state`); `fused_ba`: Qwen3-Next's `ssm_ba`.
    pub fn delta_net_tensors(&mut self, il: u64, fused_ba: bool) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        let l = Some(il);
        let (nk, nv, s) = (c.n_group, c.ssm_heads, c.d_state);
        let (kd, vd) = (nk * s, nv * s);
        let cd = 2 * kd + vd;
        let std_e = self.std_e();
        self.tensor(b("attn_qkv.weight"), &[c.n_embd, cd], l, Init::Normal(std_e));
        self.tensor(b("attn_gate.weight"), &[c.n_embd, vd], l, Init::Normal(std_e));
        if fused_ba {
            self.tensor(b("ssm_ba.weight"), &[c.n_embd, 2 * nv], l, Init::Normal(std_e));
        } else {
            self.tensor(b("ssm_beta.weight"), &[c.n_embd, nv], l, Init::Normal(std_e));
            self.tensor(b("ssm_alpha.weight"), &[c.n_embd, nv], l, Init::Normal(std_e));
        }
        self.tensor(b("ssm_conv1d.weight"), &[c.d_conv, cd], l, Init::Normal(0.5));
        self.tensor(b("ssm_dt.bias"), &[nv], l, Init::Const(-1.0, 1.0));
        self.tensor(b("ssm_a"), &[nv], l, Init::NegExp);
        self.norm(b("ssm_norm.weight"), s, l);
        self.tensor(b("ssm_out.weight"), &[vd, c.n_embd], l, Init::Normal(1.0 / (vd as f32).sqrt()));
    }

    /// Jamba's Mamba-1 tensors of layer il (with the dt / B / C norms).
    pub fn mamba1_tensors(&mut self, il: u64) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        let l = Some(il);
        let (e, di, ds, r) = (c.n_embd, c.d_inner, c.d_state, c.dt_rank);
        let std_e = self.std_e();
        self.tensor(b("ssm_in.weight"), &[e, 2 * di], l, Init::Normal(std_e));
        self.tensor(b("ssm_conv1d.weight"), &[c.d_conv, di], l, Init::Normal(0.5));
        self.tensor(b("ssm_conv1d.bias"), &[di], l, Init::Normal(0.1));
        self.tensor(b("ssm_x.weight"), &[di, r + 2 * ds], l, Init::Normal(1.0 / (di as f32).sqrt()));
        self.norm(b("ssm_dt_norm.weight"), r, l);
        self.tensor(b("ssm_dt.weight"), &[r, di], l, Init::Normal(1.0 / (r as f32).sqrt()));
        self.tensor(b("ssm_dt.bias"), &[di], l, Init::Const(-1.0, 1.0));
        self.norm(b("ssm_b_norm.weight"), ds, l);
        self.norm(b("ssm_c_norm.weight"), ds, l);
        self.tensor(b("ssm_a"), &[ds, di], l, Init::NegExp);
        self.tensor(b("ssm_d"), &[di], l, Init::Const(1.0, 0.2));
        self.tensor(b("ssm_out.weight"), &[di, e], l, Init::Normal(1.0 / (di as f32).sqrt()));
    }

    /// The Mamba2 `ssm_*` tensors of layer il.
    pub fn mamba2_tensors(&mut self, il: u64) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        let l = Some(il);
        let gn = c.n_group * c.d_state;
        let d_in_proj = 2 * c.d_inner + 2 * gn + c.ssm_heads;
        let conv_dim = c.d_inner + 2 * gn;
        let std_e = self.std_e();
        self.tensor(b("ssm_in.weight"), &[c.n_embd, d_in_proj], l, Init::Normal(std_e));
        self.tensor(b("ssm_conv1d.weight"), &[c.d_conv, conv_dim], l, Init::Normal(0.5));
        self.tensor(b("ssm_conv1d.bias"), &[conv_dim], l, Init::Normal(0.1));
        self.tensor(b("ssm_dt.bias"), &[c.ssm_heads], l, Init::Const(-1.0, 1.0));
        self.tensor(b("ssm_a"), &[1, c.ssm_heads], l, Init::NegExp);
        self.tensor(b("ssm_d"), &[1, c.ssm_heads], l, Init::Const(1.0, 0.2));
        if c.ssm_norm {
            self.tensor(b("ssm_norm.weight"), &[c.d_inner / c.n_group, c.n_group], l, Init::Norm);
        }
        self.tensor(b("ssm_out.weight"), &[c.d_inner, c.n_embd], l, Init::Normal(1.0 / (c.d_inner as f32).sqrt()));
    }

    /// LFM2's `shortconv.*` tensors of layer il (`d_conv` taps).
    pub fn short_conv_tensors(&mut self, il: u64) {
        let c = self.cfg;
        let b = |s: &str| format!("blk.{il}.{s}");
        let std_e = self.std_e();
        self.tensor(b("shortconv.in_proj.weight"), &[c.n_embd, 3 * c.n_embd], Some(il), Init::Normal(std_e));
        self.tensor(b("shortconv.conv.weight"), &[c.d_conv, c.n_embd], Some(il), Init::Normal(0.5));
        self.tensor(b("shortconv.out_proj.weight"), &[c.n_embd, c.n_embd], Some(il), Init::Normal(std_e));
    }

    /// `ffn_{gate,}up,down` of layer il with `n_ff` rows, after its norm (named `norm`; none
    /// when the layer's only norm is `attn_norm`).
    pub fn ffn_tensors(&mut self, il: u64, norm: Option<String>, n_ff: u64, gated: bool) {
        let e = self.cfg.n_embd;
        let b = |s: &str| format!("blk.{il}.{s}");
        let std_e = self.std_e();
        if let Some(norm) = norm {
            self.norm(norm, e, Some(il));
        }
        if gated {
            self.tensor(b("ffn_gate.weight"), &[e, n_ff], Some(il), Init::Normal(std_e));
        }
        self.tensor(b("ffn_up.weight"), &[e, n_ff], Some(il), Init::Normal(std_e));
        self.tensor(b("ffn_down.weight"), &[n_ff, e], Some(il), Init::Normal(1.0 / (n_ff as f32).sqrt()));
    }

    /// An MoE layer's tensors (after its norm, named `norm`): router, experts (`gated`:
    /// with `ffn_gate_exps`), `exp_probs_b` when `probs_bias`, latent projections when the
    /// config has a latent width, and a shared expert (`shared_gated`: SwiGLU, else ReLU²).
    pub fn moe_tensors(&mut self, il: u64, norm: Option<String>, gated: bool, probs_bias: bool, shared_gated: bool) {
        let c = self.cfg;
        let (e, ne, ff) = (c.n_embd, c.n_expert, c.n_ff_exp);
        let d = if c.moe_latent > 0 { c.moe_latent } else { e };
        let b = |s: &str| format!("blk.{il}.{s}");
        let l = Some(il);
        let std_e = self.std_e();
        if let Some(norm) = norm {
            self.norm(norm, e, l);
        }
        self.tensor(b("ffn_gate_inp.weight"), &[e, ne], l, Init::Normal(std_e));
        if probs_bias {
            self.tensor(b("exp_probs_b.bias"), &[ne], l, Init::Normal(0.1));
        }
        if c.moe_latent > 0 {
            self.tensor(b("ffn_latent_down.weight"), &[e, d], l, Init::Normal(std_e));
            self.tensor(b("ffn_latent_up.weight"), &[d, e], l, Init::Normal(1.0 / (d as f32).sqrt()));
        }
        let std_d = 1.0 / (d as f32).sqrt();
        if gated {
            self.tensor(b("ffn_gate_exps.weight"), &[d, ff, ne], l, Init::Normal(std_d));
        }
        self.tensor(b("ffn_up_exps.weight"), &[d, ff, ne], l, Init::Normal(std_d));
        self.tensor(b("ffn_down_exps.weight"), &[ff, d, ne], l, Init::Normal(1.0 / (ff as f32).sqrt()));
        if c.n_ff_shexp > 0 {
            let sf = c.n_ff_shexp;
            if shared_gated {
                self.tensor(b("ffn_gate_shexp.weight"), &[e, sf], l, Init::Normal(std_e));
            }
            self.tensor(b("ffn_up_shexp.weight"), &[e, sf], l, Init::Normal(std_e));
            self.tensor(b("ffn_down_shexp.weight"), &[sf, e], l, Init::Normal(1.0 / (sf as f32).sqrt()));
        }
    }

    /// The MoE keys llama.cpp reads: expert count / used / widths / groups.
    pub fn moe_kv(&mut self) {
        let c = self.cfg;
        self.arch_kv("expert_count", Value::U32(c.n_expert as u32));
        self.arch_kv("expert_used_count", Value::U32(c.n_expert_used as u32));
        self.arch_kv("expert_feed_forward_length", Value::U32(c.n_ff_exp as u32));
        if c.n_ff_shexp > 0 {
            self.arch_kv("expert_shared_feed_forward_length", Value::U32(c.n_ff_shexp as u32));
            self.arch_kv("expert_shared_count", Value::U32(1));
        }
        if c.expert_groups.0 > 1 {
            self.arch_kv("expert_group_count", Value::U32(c.expert_groups.0 as u32));
            self.arch_kv("expert_group_used_count", Value::U32(c.expert_groups.1 as u32));
        }
    }

    /// The final norm (named `norm`) and, unless tied, `output.weight`.
    pub fn output(&mut self, norm: &str) {
        let (e, v) = (self.cfg.n_embd, self.cfg.n_vocab);
        self.norm(norm.into(), e, None);
        if !self.cfg.tied {
            let std_e = self.std_e();
            self.tensor("output.weight".into(), &[e, v], None, Init::Normal(std_e));
        }
    }

    /// Write the file: header, then every tensor's random bytes (seeded), streamed to `w`.
    pub fn write<W: Write>(mut self, seed: u64, w: &mut W) -> io::Result<u64> {
        for p in &self.plan {
            self.g.tensor(&p.name, p.ty, &p.dims);
        }
        let plan = self.plan;
        let mut rng = Rng::new(seed);
        let mut buf = Vec::new();
        self.g.write(w, |i, spec, w| {
            let p = &plan[i];
            if let Some(v) = &p.values {
                buf.clear();
                v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
                return w.write_all(&buf);
            }
            let n: u64 = spec.dims.iter().product();
            // Generate in slices of whole rows to bound memory for big tensors.
            let row = spec.dims[0];
            let rows_per = ((1u64 << 22) / row).max(1);
            let n_rows = n / row;
            let mut r0 = 0;
            while r0 < n_rows {
                let rows = rows_per.min(n_rows - r0);
                buf.clear();
                match p.init {
                    Init::Normal(s) => random_tensor_bytes(p.ty, rows * row, s, &mut rng, &mut buf),
                    Init::Norm | Init::NegExp | Init::Const(..) => {
                        for _ in 0..rows * row {
                            let u = rng.uniform();
                            let x = match p.init {
                                Init::Norm => 1.0 + 0.1 * u,
                                Init::NegExp => -((u + 1.0) * 0.75).exp(),
                                Init::Const(c, s) => c + s * u,
                                Init::Normal(_) => 0.0,
                            };
                            buf.extend_from_slice(&x.to_le_bytes());
                        }
                    }
                }
                w.write_all(&buf)?;
                r0 += rows;
            }
            Ok(())
        })
    }
}

/// A small byte-level BPE vocabulary of exactly `n_vocab` tokens: the 256 byte tokens (GPT-2
/// byte→unicode map), merges of earlier tokens, and two control tokens at the end.
fn add_tokenizer(g: &mut GgufWriter, n_vocab: u64) {
    let bytes: Vec<String> = (0u32..256).map(|b| byte_to_unicode(b as u8).to_string()).collect();
    let mut tokens = bytes.clone();
    let mut seen: HashSet<String> = tokens.iter().cloned().collect();
    let mut merges = vec![];
    let n_special = 2;
    let n_normal = (n_vocab as usize).saturating_sub(n_special);
    let words = ["Ġthe", "Ġand", "Ġto", "Ġof", "Ġa", "Ġin", "Ġis", "Ġhybrid", "Ġmodel", "Ġbraid", "ing", "er", "ed"];
    let mut rng = Rng::new(99);
    let mut attempt = 0u64;
    while tokens.len() < n_normal {
        attempt += 1;
        // Prefer merges that build common words, then random pairs of recent tokens.
        let (l, r) = if (attempt as usize) <= words.len() * 8 {
            let w: Vec<char> = words[(attempt as usize - 1) % words.len()].chars().collect();
            let cut = 1 + (attempt as usize / words.len()) % (w.len().max(2) - 1);
            (w[..cut].iter().collect::<String>(), w[cut..].iter().collect::<String>())
        } else {
            let n = tokens.len() as u64;
            let i = (rng.next_u64() % n) as usize;
            let j = (rng.next_u64() % 256) as usize;
            (tokens[i].clone(), bytes[j].clone())
        };
        if !seen.contains(&l) || !seen.contains(&r) || l.is_empty() || r.is_empty() {
            continue;
        }
        let m = format!("{l}{r}");
        if m.chars().count() > 16 || !seen.insert(m.clone()) {
            continue;
        }
        merges.push(format!("{l} {r}"));
        tokens.push(m);
    }
    tokens.truncate(n_normal);
    let mut types = vec![1i32; tokens.len()];
    for name in ["<|endoftext|>", "<|im_start|>"].iter().take(n_special) {
        if (tokens.len() as u64) < n_vocab {
            tokens.push(name.to_string());
            types.push(3);
        }
    }
    let eos = tokens.len() as u32 - n_special as u32;
    g.kv("tokenizer.ggml.model", Value::String("gpt2".into()));
    g.kv("tokenizer.ggml.pre", Value::String("default".into()));
    g.kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    g.kv("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
    g.kv("tokenizer.ggml.merges", Value::Array(Array::String(merges)));
    g.kv("tokenizer.ggml.bos_token_id", Value::U32(eos));
    g.kv("tokenizer.ggml.eos_token_id", Value::U32(eos));
    g.kv("tokenizer.ggml.add_bos_token", Value::Bool(false));
}
