//! Synthetic GGUF models: the real tensor names, shapes and metadata of each supported
//! architecture (spec §1, §4) with random weights, for tests, benchmarks and the demo's
//! offline default. Random quantized blocks are valid blocks with finite scales sized so the
//! weights have roughly the chosen standard deviation.

use std::collections::HashSet;
use std::io::{self, Write};

use half::f16;

use crate::gguf::writer::GgufWriter;
use crate::gguf::{Array, GgmlType, Value};

/// xorshift64*: small, fast and stable across versions (synthetic files must not change
/// when a dependency does).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill_bytes(&mut v);
        v
    }
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

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
                MXFP4 => 1.0,
                _ => 1.0,
            };
            for blk in out[start..].chunks_exact_mut(ts) {
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

/// Which mixer a layer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Attention,
    Mamba2,
    ShortConv,
    /// Falcon-H1: attention and Mamba2 side by side.
    Parallel,
}

/// The shape of a synthetic model.
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
    pub d_inner: u64,
    pub d_state: u64,
    pub n_group: u64,
    pub ssm_heads: u64,
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
}

impl SynthConfig {
    pub fn preset(name: &str) -> Option<SynthConfig> {
        let base = SynthConfig {
            arch: String::new(), n_embd: 0, n_layer: 0, n_ff: 0, n_vocab: 0, n_head: 0, n_head_kv: 0,
            head_dim: 0, attn_layers: vec![], d_inner: 0, d_state: 0, n_group: 1, ssm_heads: 0, d_conv: 4,
            tied: true, ssm_norm: true, rope_theta: 10000.0, context_length: 4096, n_rot: None,
            granite_rope: false, chat_template: false,
        };
        Some(match name {
            "granite-4.0-h-350m" => SynthConfig {
                arch: "granitehybrid".into(), n_embd: 768, n_layer: 32, n_ff: 2048, n_vocab: 100352,
                n_head: 12, n_head_kv: 4, head_dim: 64, attn_layers: vec![10, 13, 17, 27],
                d_inner: 1536, d_state: 128, ssm_heads: 48, context_length: 1 << 20, ..base
            },
            "falcon-h1-0.5b" => SynthConfig {
                arch: "falcon-h1".into(), n_embd: 1024, n_layer: 36, n_ff: 2048, n_vocab: 32784,
                n_head: 8, n_head_kv: 2, head_dim: 64, attn_layers: (0..36).collect(), d_inner: 1536,
                d_state: 128, ssm_heads: 24, tied: false, ssm_norm: false, rope_theta: 1e11, ..base
            },
            "mamba2-370m" => SynthConfig {
                arch: "mamba2".into(), n_embd: 1024, n_layer: 48, n_vocab: 50288, d_inner: 2048,
                d_state: 128, ssm_heads: 32, context_length: 1 << 20, ..base
            },
            "lfm2-350m" => SynthConfig {
                arch: "lfm2".into(), n_embd: 1024, n_layer: 16, n_ff: 4608, n_vocab: 65536, n_head: 16,
                n_head_kv: 8, head_dim: 64, attn_layers: vec![2, 5, 8, 10, 12, 14], d_conv: 3,
                rope_theta: 1e6, context_length: 128000, ..base
            },
            "llama-1b" => SynthConfig {
                arch: "llama".into(), n_embd: 2048, n_layer: 16, n_ff: 8192, n_vocab: 128256, n_head: 32,
                n_head_kv: 8, head_dim: 64, attn_layers: (0..16).collect(), rope_theta: 500000.0,
                context_length: 131072, ..base
            },
            // Tiny shapes for tests: odd sizes on purpose where the formats allow.
            "tiny-llama" => SynthConfig {
                arch: "llama".into(), n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 16, attn_layers: vec![0, 1], tied: false, ..base
            },
            "tiny-mamba2" => SynthConfig {
                arch: "mamba2".into(), n_embd: 64, n_layer: 2, n_vocab: 300, d_inner: 128, d_state: 16,
                ssm_heads: 8, n_group: 2, ..base
            },
            "tiny-granitehybrid" => SynthConfig {
                arch: "granitehybrid".into(), n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 16, attn_layers: vec![1, 3], d_inner: 128, d_state: 16,
                ssm_heads: 8, ..base
            },
            "tiny-falcon-h1" => SynthConfig {
                arch: "falcon-h1".into(), n_embd: 64, n_layer: 2, n_ff: 96, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 16, attn_layers: vec![0, 1], d_inner: 96, d_state: 16,
                ssm_heads: 6, tied: false, ssm_norm: false, rope_theta: 1e11, ..base
            },
            "tiny-lfm2" => SynthConfig {
                arch: "lfm2".into(), n_embd: 64, n_layer: 4, n_ff: 96, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 16, attn_layers: vec![1, 3], d_conv: 3, rope_theta: 1e6, ..base
            },
            // The demo page's offline default: Granite-4.0-H's layout (mostly Mamba2, attention
            // in a few layers) at a size that loads and generates quickly anywhere.
            "demo-granitehybrid" => SynthConfig {
                arch: "granitehybrid".into(), n_embd: 256, n_layer: 6, n_ff: 512, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 64, attn_layers: vec![2, 5], d_inner: 512, d_state: 32, ssm_heads: 8,
                // An untied output matrix keeps the random logits flat, so replies are varied
                // gibberish rather than one token repeated.
                chat_template: true, tied: false, ..base
            },
            // Small shapes whose rows are multiples of 256, so K-quants apply without fallback.
            "small-llama" => SynthConfig {
                arch: "llama".into(), n_embd: 256, n_layer: 2, n_ff: 512, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 64, attn_layers: vec![0, 1], tied: false, ..base
            },
            "small-mamba2" => SynthConfig {
                arch: "mamba2".into(), n_embd: 256, n_layer: 2, n_vocab: 300, d_inner: 512, d_state: 32,
                ssm_heads: 8, ..base
            },
            "small-granitehybrid" => SynthConfig {
                arch: "granitehybrid".into(), n_embd: 256, n_layer: 3, n_ff: 512, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 64, attn_layers: vec![1], d_inner: 512, d_state: 32, ssm_heads: 8, ..base
            },
            "small-falcon-h1" => SynthConfig {
                arch: "falcon-h1".into(), n_embd: 256, n_layer: 2, n_ff: 512, n_vocab: 300, n_head: 4,
                n_head_kv: 2, head_dim: 64, attn_layers: vec![0, 1], d_inner: 256, d_state: 32,
                ssm_heads: 4, tied: false, ssm_norm: false, rope_theta: 1e11, ..base
            },
            // Odd shapes: head_dim 24 with partial RoPE, 4:1 GQA, several SSM groups, d_conv 3,
            // rows that fall back from Q8_0 to F16, a 257-token vocabulary.
            "odd-llama" => SynthConfig {
                arch: "llama".into(), n_embd: 96, n_layer: 2, n_ff: 160, n_vocab: 257, n_head: 4,
                n_head_kv: 1, head_dim: 24, attn_layers: vec![0, 1], tied: false, ..base
            },
            "odd-mamba2" => SynthConfig {
                arch: "mamba2".into(), n_embd: 96, n_layer: 2, n_vocab: 257, d_inner: 160, d_state: 24,
                ssm_heads: 10, n_group: 5, d_conv: 3, ..base
            },
            "odd-granitehybrid" => SynthConfig {
                arch: "granitehybrid".into(), n_embd: 96, n_layer: 3, n_ff: 160, n_vocab: 257, n_head: 4,
                n_head_kv: 2, head_dim: 24, attn_layers: vec![0, 2], d_inner: 192, d_state: 24,
                ssm_heads: 12, n_group: 3, granite_rope: true, n_rot: Some(12), ..base
            },
            "odd-falcon-h1" => SynthConfig {
                arch: "falcon-h1".into(), n_embd: 96, n_layer: 2, n_ff: 160, n_vocab: 257, n_head: 4,
                n_head_kv: 2, head_dim: 24, attn_layers: vec![0, 1], d_inner: 72, d_state: 20,
                ssm_heads: 6, n_group: 2, tied: false, ssm_norm: true, rope_theta: 1e11, ..base
            },
            _ => return None,
        })
    }

    pub const PRESETS: &'static [&'static str] = &[
        "granite-4.0-h-350m", "falcon-h1-0.5b", "mamba2-370m", "lfm2-350m", "llama-1b",
        "tiny-llama", "tiny-mamba2", "tiny-granitehybrid", "tiny-falcon-h1", "tiny-lfm2", "demo-granitehybrid",
        "small-llama", "small-mamba2", "small-granitehybrid", "small-falcon-h1",
        "odd-llama", "odd-mamba2", "odd-granitehybrid", "odd-falcon-h1",
    ];

    pub fn layer_kind(&self, il: u64) -> LayerKind {
        match self.arch.as_str() {
            "falcon-h1" => LayerKind::Parallel,
            "mamba2" => LayerKind::Mamba2,
            "llama" => LayerKind::Attention,
            "lfm2" if !self.attn_layers.contains(&il) => LayerKind::ShortConv,
            _ if self.attn_layers.contains(&il) => LayerKind::Attention,
            _ => LayerKind::Mamba2,
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
        IQ4_NL | MXFP4 => IQ4_NL,
        _ => F16,
    };
    if ne0 % f.block_size() == 0 { f } else { F16 }
}

fn tensor_type(wt: WeightType, name: &str, dims: &[u64], layer: Option<u64>, tied: bool) -> GgmlType {
    let quantizable = dims.len() >= 2
        && name.ends_with(".weight")
        && !name.contains("norm")
        && !name.contains("conv1d")
        && !name.contains("shortconv.conv");
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

struct Planned {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    init: Init,
}

#[derive(Clone, Copy)]
enum Init {
    Normal(f32),
    /// 1 + noise (norm weights)
    Norm,
    /// −exp(u), u in [0, 1.5) (Mamba2 A, already negative as in GGUF files)
    NegExp,
    Const(f32, f32),
}

/// Build a synthetic model file for `cfg`, weights in `wt`, writing to `w`.
pub fn write_model<W: Write>(cfg: &SynthConfig, wt: WeightType, seed: u64, w: &mut W) -> io::Result<u64> {
    let mut g = GgufWriter::new();
    let a = cfg.arch.as_str();
    let k = |s: &str| format!("{a}.{s}");
    let (e, v) = (cfg.n_embd, cfg.n_vocab);
    g.kv("general.architecture", Value::String(a.into()));
    g.kv("general.name", Value::String(format!("braid synthetic {a}")));
    g.kv("general.file_type", Value::U32(0));
    g.kv("general.quantization_version", Value::U32(2));
    g.kv(&k("context_length"), Value::U32(cfg.context_length as u32));
    g.kv(&k("embedding_length"), Value::U32(e as u32));
    g.kv(&k("block_count"), Value::U32(cfg.n_layer as u32));
    g.kv(&k("vocab_size"), Value::U32(v as u32));
    g.kv(&k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    g.kv(&k("feed_forward_length"), Value::U32(cfg.n_ff as u32));
    let has_attn = cfg.n_head > 0;
    if has_attn {
        g.kv(&k("attention.head_count"), Value::U32(cfg.n_head as u32));
        if matches!(a, "granitehybrid" | "lfm2") {
            let kv: Vec<u32> = (0..cfg.n_layer)
                .map(|il| if cfg.layer_kind(il) == LayerKind::Attention { cfg.n_head_kv as u32 } else { 0 })
                .collect();
            g.kv(&k("attention.head_count_kv"), Value::Array(Array::U32(kv)));
        } else {
            g.kv(&k("attention.head_count_kv"), Value::U32(cfg.n_head_kv as u32));
        }
        g.kv(&k("attention.key_length"), Value::U32(cfg.head_dim as u32));
        g.kv(&k("attention.value_length"), Value::U32(cfg.head_dim as u32));
        g.kv(&k("rope.freq_base"), Value::F32(cfg.rope_theta));
        g.kv(&k("rope.dimension_count"), Value::U32(cfg.n_rot.unwrap_or(cfg.head_dim) as u32));
    } else {
        g.kv(&k("attention.head_count"), Value::U32(0));
    }
    if cfg.d_inner > 0 {
        g.kv(&k("ssm.conv_kernel"), Value::U32(cfg.d_conv as u32));
        g.kv(&k("ssm.inner_size"), Value::U32(cfg.d_inner as u32));
        g.kv(&k("ssm.state_size"), Value::U32(cfg.d_state as u32));
        g.kv(&k("ssm.time_step_rank"), Value::U32(cfg.ssm_heads as u32));
        g.kv(&k("ssm.group_count"), Value::U32(cfg.n_group as u32));
    }
    match a {
        "granitehybrid" => {
            g.kv(&k("embedding_scale"), Value::F32(12.0));
            g.kv(&k("residual_scale"), Value::F32(0.246));
            g.kv(&k("attention.scale"), Value::F32(0.015625));
            g.kv(&k("logit_scale"), Value::F32(3.0));
            g.kv(&k("rope.scaling.finetuned"), Value::Bool(cfg.granite_rope));
        }
        "lfm2" => {
            g.kv(&k("shortconv.l_cache"), Value::U32(cfg.d_conv as u32));
        }
        _ => {}
    }
    add_tokenizer(&mut g, v);
    if cfg.chat_template {
        g.kv(
            "tokenizer.chat_template",
            Value::String(
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|endoftext|>\n{% endfor %}\
                 {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
                    .into(),
            ),
        );
    }

    // ---- tensors
    let mut plan: Vec<Planned> = vec![];
    let mut t = |name: String, dims: &[u64], layer: Option<u64>, init: Init| {
        let ty = tensor_type(wt, &name, dims, layer, cfg.tied);
        plan.push(Planned { name, dims: dims.to_vec(), ty, init });
    };
    let std_e = 1.0 / (e as f32).sqrt();
    t("token_embd.weight".into(), &[e, v], None, Init::Normal(1.0));
    for il in 0..cfg.n_layer {
        let b = |s: &str| format!("blk.{il}.{s}");
        let l = Some(il);
        let kind = cfg.layer_kind(il);
        t(b("attn_norm.weight"), &[e], l, Init::Norm);
        if matches!(kind, LayerKind::Attention | LayerKind::Parallel) {
            let (q, kv) = (cfg.n_head * cfg.head_dim, cfg.n_head_kv * cfg.head_dim);
            t(b("attn_q.weight"), &[e, q], l, Init::Normal(std_e));
            t(b("attn_k.weight"), &[e, kv], l, Init::Normal(std_e));
            t(b("attn_v.weight"), &[e, kv], l, Init::Normal(std_e));
            t(b("attn_output.weight"), &[q, e], l, Init::Normal(1.0 / (q as f32).sqrt()));
            if a == "lfm2" {
                t(b("attn_q_norm.weight"), &[cfg.head_dim], l, Init::Norm);
                t(b("attn_k_norm.weight"), &[cfg.head_dim], l, Init::Norm);
            }
        }
        if matches!(kind, LayerKind::Mamba2 | LayerKind::Parallel) {
            let gn = cfg.n_group * cfg.d_state;
            let d_in_proj = 2 * cfg.d_inner + 2 * gn + cfg.ssm_heads;
            let conv_dim = cfg.d_inner + 2 * gn;
            t(b("ssm_in.weight"), &[e, d_in_proj], l, Init::Normal(std_e));
            t(b("ssm_conv1d.weight"), &[cfg.d_conv, conv_dim], l, Init::Normal(0.5));
            t(b("ssm_conv1d.bias"), &[conv_dim], l, Init::Normal(0.1));
            t(b("ssm_dt.bias"), &[cfg.ssm_heads], l, Init::Const(-1.0, 1.0));
            t(b("ssm_a"), &[1, cfg.ssm_heads], l, Init::NegExp);
            t(b("ssm_d"), &[1, cfg.ssm_heads], l, Init::Const(1.0, 0.2));
            if cfg.ssm_norm {
                t(b("ssm_norm.weight"), &[cfg.d_inner / cfg.n_group, cfg.n_group], l, Init::Norm);
            }
            t(b("ssm_out.weight"), &[cfg.d_inner, e], l, Init::Normal(1.0 / (cfg.d_inner as f32).sqrt()));
        }
        if kind == LayerKind::ShortConv {
            t(b("shortconv.in_proj.weight"), &[e, 3 * e], l, Init::Normal(std_e));
            t(b("shortconv.conv.weight"), &[cfg.d_conv, e], l, Init::Normal(0.5));
            t(b("shortconv.out_proj.weight"), &[e, e], l, Init::Normal(std_e));
        }
        if cfg.n_ff > 0 {
            // Falcon-H1 GGUFs name this norm without the ".weight" suffix (spec §1.3).
            let norm = if a == "falcon-h1" { b("ffn_norm") } else { b("ffn_norm.weight") };
            t(norm, &[e], l, Init::Norm);
            t(b("ffn_gate.weight"), &[e, cfg.n_ff], l, Init::Normal(std_e));
            t(b("ffn_up.weight"), &[e, cfg.n_ff], l, Init::Normal(std_e));
            t(b("ffn_down.weight"), &[cfg.n_ff, e], l, Init::Normal(1.0 / (cfg.n_ff as f32).sqrt()));
        }
    }
    let out_norm = if a == "lfm2" { "token_embd_norm.weight" } else { "output_norm.weight" };
    t(out_norm.into(), &[e], None, Init::Norm);
    if !cfg.tied {
        t("output.weight".into(), &[e, v], None, Init::Normal(std_e));
    }
    for p in &plan {
        g.tensor(&p.name, p.ty, &p.dims);
    }
    let mut rng = Rng::new(seed);
    let mut buf = Vec::new();
    g.write(w, |i, spec, w| {
        let p = &plan[i];
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
    for (i, name) in ["<|endoftext|>", "<|im_start|>"].iter().enumerate().take(n_special) {
        if (tokens.len() as u64) < n_vocab {
            tokens.push(name.to_string());
            types.push(3);
            let _ = i;
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

/// GPT-2's byte → printable unicode character map.
pub fn byte_to_unicode(b: u8) -> char {
    let printable = |c: u8| (b'!'..=b'~').contains(&c) || (0xA1..=0xAC).contains(&c) || (0xAE..=0xFF).contains(&c);
    if printable(b) {
        return b as char;
    }
    let n = (0..b).filter(|&c| !printable(c)).count() as u32;
    char::from_u32(256 + n).unwrap_or('?')
}
