//! Recording kernel dispatches: each call names its shader entry point, binds buffers by name
//! (`gpu::params`) and passes a typed parameter struct; `submit` encodes them all into one
//! command buffer (compute passes, with buffer copies between them where taps ask for them)
//! and submits it once.
//!
//! Nothing is created per dispatch on the hot path: parameters go into one pooled uniform
//! buffer per submission, scratch buffers come from the device's pool, and bind groups are
//! cached by what they bind — a decode step of the same shape as the previous one binds the
//! very same buffers at the same offsets and creates no bind group at all.

use std::rc::Rc;

use super::context::{GpuContext, Pipeline, SCRATCH_POOL_MAX_BYTES};
use super::kernels::QUANT_WGSL;
use super::params::{self, Binding, WgslStruct};
use super::tensor::GpuTensor;
use crate::gguf::GgmlType;

pub const MATMUL_WGSL: &str = include_str!("../../shaders/matmul.wgsl");
pub const NORM_WGSL: &str = include_str!("../../shaders/norm.wgsl");
pub const ROPE_WGSL: &str = include_str!("../../shaders/rope.wgsl");
pub const ROTARY_WGSL: &str = include_str!("../../shaders/rotary.wgsl");
pub const ATTENTION_WGSL: &str = include_str!("../../shaders/attention.wgsl");
pub const SSM_WGSL: &str = include_str!("../../shaders/ssm.wgsl");
pub const SHORT_CONV_WGSL: &str = include_str!("../../shaders/short_conv.wgsl");
pub const CONV_WGSL: &str = include_str!("../../shaders/conv.wgsl");
pub const DELTA_NET_WGSL: &str = include_str!("../../shaders/delta_net.wgsl");
pub const MAMBA1_WGSL: &str = include_str!("../../shaders/mamba1.wgsl");
pub const MOE_WGSL: &str = include_str!("../../shaders/moe.wgsl");
pub const ELEMENTWISE_WGSL: &str = include_str!("../../shaders/elementwise.wgsl");
/// Activations shared by `elementwise.wgsl` and `matmul.wgsl` (prepended to both).
pub const ACT_WGSL: &str = include_str!("../../shaders/act.wgsl");
pub const COPY_WGSL: &str = include_str!("../../shaders/copy.wgsl");
pub const SSD_WGSL: &str = include_str!("../../shaders/ssd.wgsl");
pub const ARGMAX_WGSL: &str = include_str!("../../shaders/argmax.wgsl");
pub const MATVEC_SUBGROUP_WGSL: &str = include_str!("../../shaders/matvec_subgroup.wgsl");
pub const SSM_SUBGROUP_WGSL: &str = include_str!("../../shaders/ssm_subgroup.wgsl");
pub const ATTENTION_SUBGROUP_WGSL: &str = include_str!("../../shaders/attention_subgroup.wgsl");
pub const DELTA_NET_SUBGROUP_WGSL: &str = include_str!("../../shaders/delta_net_subgroup.wgsl");

/// The matmul module instantiated for one weight type: its cache names (see
/// [`MatmulNames`]), decoder and block size.
pub fn matmul_variant(ty: GgmlType) -> Option<(MatmulNames, &'static str, u32)> {
    use GgmlType::*;
    macro_rules! v {
        ($n:literal, $load:literal, $block:literal) => {
            (
                MatmulNames {
                    plain: concat!("matmul_", $n),
                    sg: concat!("matmul_sg_", $n),
                    conv: concat!("matmul_conv_", $n),
                    sg_conv: concat!("matmul_sg_conv_", $n),
                    pair: concat!("matmul_pair_", $n),
                    sg_pair: concat!("matmul_sg_pair_", $n),
                    norm: concat!("matmul_norm_", $n),
                    sg_norm: concat!("matmul_sg_norm_", $n),
                },
                $load,
                $block,
            )
        };
    }
    Some(match ty {
        F32 => v!("f32", "load_f32x4", 4),
        F16 => v!("f16", "load_f16x4", 4),
        BF16 => v!("bf16", "load_bf16x4", 4),
        Q4_0 => v!("q4_0", "load_q4_0", 32),
        Q4_1 => v!("q4_1", "load_q4_1", 32),
        Q5_0 => v!("q5_0", "load_q5_0", 32),
        Q5_1 => v!("q5_1", "load_q5_1", 32),
        Q8_0 => v!("q8_0", "load_q8_0", 32),
        IQ4_NL => v!("iq4_nl", "load_iq4_nl", 32),
        MXFP4 => v!("mxfp4", "load_mxfp4", 32),
        Q4_K => v!("q4_k", "load_q4_k", 256),
        Q5_K => v!("q5_k", "load_q5_k", 256),
        Q6_K => v!("q6_k", "load_q6_k", 256),
        Q2_K => v!("q2_k", "load_q2_k", 256),
        Q3_K => v!("q3_k", "load_q3_k", 256),
        IQ4_XS => v!("iq4_xs", "load_iq4_xs", 256),
        _ => return None,
    })
}

/// Pipeline-cache names of one type's matmul module: plain, with the subgroup kernel, and
/// both again with the conv epilogue (`store_conv`), in the paired form and with the next
/// pre-norm in the store (`store_norm`).
#[derive(Debug, Clone, Copy)]
pub struct MatmulNames {
    pub plain: &'static str,
    pub sg: &'static str,
    pub conv: &'static str,
    pub sg_conv: &'static str,
    pub pair: &'static str,
    pub sg_pair: &'static str,
    pub norm: &'static str,
    pub sg_norm: &'static str,
}

/// What a matmul module is built for besides its weight type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulForm {
    Plain,
    /// With the causal-conv store (`store_conv`, [`Epilogue::Conv`]).
    Conv,
    /// Two matrices in one dispatch ([`Epilogue::Pair`], see [`paired`]).
    Pair,
    /// With the next pre-norm in the store (`store_norm`, [`NormOut`]).
    Norm,
}

/// The WGSL of the matmul module for `ty` (with the subgroup kernel appended when asked), in
/// `form`.
pub fn matmul_source(ty: GgmlType, subgroups: bool, form: MatmulForm) -> String {
    let Some((_, load, block)) = matmul_variant(ty) else {
        // Loading refuses unsupported types before any kernel is built.
        return String::new();
    };
    let body = if subgroups { format!("{MATMUL_WGSL}\n{MATVEC_SUBGROUP_WGSL}") } else { MATMUL_WGSL.to_string() };
    // One-row block dot products (matvec_rows), for the types that decode on it.
    let dot = match ty {
        GgmlType::Q4_0 => "dot_q4_0",
        GgmlType::Q2_K => "dot_q2_k",
        GgmlType::Q3_K => "dot_q3_k",
        GgmlType::IQ4_XS => "dot_iq4_xs",
        _ => "dot_generic",
    };
    // matvec_rows8_blk's block products from an x16 chunk (the 32-element types).
    let dot4x = if ty == GgmlType::Q8_0 { "dot4x_q8_0" } else { "dot4x_blk" };
    let dot4 = match ty {
        GgmlType::Q8_0 => "dot4_q8_0",
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::IQ4_NL => "dot4_blk",
        GgmlType::Q5_K => "dot4_q5_k",
        GgmlType::Q6_K => "dot4_q6_k",
        _ => "dot4_generic",
    };
    // Whole-block decoders (matmul_tile_blk, dot4_blk) of the 32-element types.
    let block_fn = match ty {
        GgmlType::Q4_0 => "block_q4_0",
        GgmlType::Q4_1 => "block_q4_1",
        GgmlType::Q5_0 => "block_q5_0",
        GgmlType::Q5_1 => "block_q5_1",
        GgmlType::Q8_0 => "block_q8_0",
        GgmlType::IQ4_NL => "block_iq4_nl",
        _ => "block_none",
    };
    // The group loader of the 4-row kernels (dot4_generic, matmul_tile): F32 as whole vec4.
    let load4 = if ty == GgmlType::F32 { "load4_f32x4" } else { load };
    let pair = if ty == GgmlType::BF16 { "bf16x2" } else { "unpack2x16float" };
    let (store, flush) = match form {
        MatmulForm::Conv => ("store_conv", "norm_flush_none"),
        MatmulForm::Norm => ("store_norm", "norm_flush"),
        MatmulForm::Plain | MatmulForm::Pair => ("store_y", "norm_flush_none"),
    };
    let body = body.replace("STORE_FN", store).replace("NORM_FLUSH", flush).replace("PAIR_FN", pair).replace("BLOCK_FN", block_fn).replace("LOAD4_FN", load4).replace("LOAD_FN", load).replace("DOT4X_FN", dot4x).replace("DOT4_FN", dot4).replace("DOT_FN", dot).replace("BLOCKu", &format!("{block}u")).replace("X16_FN", if subgroups { "x16_sg" } else { "x16" });
    // Browsers require the `enable` directive; naga (native) rejects it and needs none.
    let enable = subgroups && cfg!(target_arch = "wasm32");
    let module = format!("{QUANT_WGSL}\n{ACT_WGSL}\n{body}");
    let module = if form == MatmulForm::Pair { paired(&module) } else { module };
    format!("{}{module}", if enable { "enable subgroups;\n" } else { "" })
}

/// The paired form of a matmul module: one dispatch computes W_a·x then W_b·x (a gated FFN's
/// gate and up projections) with the same kernel. Every `weights[i]` / `weights4[i]` load
/// becomes `wsel(i)` / `wsel4(i)`, which read `weights_b` / `weights4_b` once the private flag
/// `second` is set, and every entry point's body becomes a function the entry point calls
/// twice, setting `second` in between. The invocation that stores a row's first result is
/// the one that stores its second (the same body, the same indices), so the epilogue of the
/// second pass reads the first's result back from y (act 4 / 5 in `store_row`). Bodies with
/// workgroup barriers (shared reduction arrays) get one more between the passes.
pub fn paired(src: &str) -> String {
    let s = bracket_call(src, "weights4[", "wsel4(");
    let s = bracket_call(&s, "weights[", "wsel(");
    let mut out = String::with_capacity(s.len() * 2);
    let mut wrappers = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("@compute") {
        let Some(fn_at) = rest[i..].find("fn ").map(|k| i + k) else { break };
        let Some(open) = rest[fn_at..].find('(').map(|k| fn_at + k) else { break };
        let Some(close) = matching(rest, open, '(', ')') else { break };
        let (attrs, name, args) = (&rest[i..fn_at], rest[fn_at + 3..open].trim(), &rest[open + 1..close]);
        // The body's parameters: the entry's without their `@builtin(…)` attributes.
        let params: Vec<&str> = args.split(',').map(strip_attributes).filter(|a| !a.is_empty()).collect();
        let names: Vec<&str> = params.iter().map(|a| a.split(':').next().unwrap_or("").trim()).collect();
        out.push_str(&rest[..i]);
        out.push_str(&format!("fn {name}_pass({})", params.join(", ")));
        let call = format!("{name}_pass({})", names.join(", "));
        // A body that shares workgroup memory (its own barriers) must not start its second
        // pass while another invocation still reads the first's (matmul's reduction array).
        let body = rest[close..].find('{').and_then(|o| matching(rest, close + o, '{', '}').map(|c| &rest[close + o..c]));
        let fence = if body.is_some_and(|b| b.contains("workgroupBarrier")) { "\n    workgroupBarrier();" } else { "" };
        wrappers.push_str(&format!("\n{attrs}fn {name}({args}) {{\n    {call};{fence}\n    second = true;\n    {call};\n}}\n"));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out.push_str(&wrappers);
    out.push_str(
        "\nfn wsel(i: u32) -> u32 { if (second) { return weights_b[i]; } return weights[i]; }\n\
         fn wsel4(i: u32) -> vec4<u32> { if (second) { return weights4_b[i]; } return weights4[i]; }\n",
    );
    out
}

/// `src` with every indexing `pat…]` (pat ending in `[`, not preceded by an identifier
/// character) rewritten as the call `repl…)`.
fn bracket_call(src: &str, pat: &str, repl: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find(pat) {
        let ident = rest[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
        let open = i + pat.len() - 1;
        match (ident, matching(rest, open, '[', ']')) {
            (false, Some(close)) => {
                out.push_str(&rest[..i]);
                out.push_str(repl);
                out.push_str(&rest[open + 1..close]);
                out.push(')');
                rest = &rest[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The index of the bracket that closes the one at `open`.
fn matching(s: &str, open: usize, l: char, r: char) -> Option<usize> {
    let mut depth = 0usize;
    for (k, c) in s[open..].char_indices() {
        if c == l {
            depth += 1;
        } else if c == r {
            depth -= 1;
            if depth == 0 {
                return Some(open + k);
            }
        }
    }
    None
}

/// An entry-point parameter without its attributes (`@builtin(x) gid: vec3<u32>` → `gid: vec3<u32>`).
fn strip_attributes(a: &str) -> &str {
    let mut a = a.trim();
    while a.starts_with('@') {
        a = match a.find('(').and_then(|o| matching(a, o, '(', ')')) {
            Some(c) => a[c + 1..].trim_start(),
            None => return a,
        };
    }
    a
}

/// `shaders/ssm.wgsl`; with `subgroups`, `shaders/ssm_subgroup.wgsl` appended (its kernels
/// `ssm_scan4_sg` / `ssm_step4_sg` share B and C loads among 8 lanes; see
/// [`GpuContext::share_x`]).
pub fn ssm_source(subgroups: bool) -> String {
    if subgroups {
        // The `enable` directive as in `matmul_source`: browsers require it, naga rejects it.
        let enable = if cfg!(target_arch = "wasm32") { "enable subgroups;\n" } else { "" };
        format!("{enable}{SSM_WGSL}\n{SSM_SUBGROUP_WGSL}")
    } else {
        SSM_WGSL.to_string()
    }
}

/// `shaders/elementwise.wgsl` with the shared activations.
/// `module` (rope.wgsl or attention.wgsl) with `shaders/rotary.wgsl` appended: the per-head
/// RMSNorm and rotation both run (`norm_rope`).
pub fn rotary_source(module: &str) -> String {
    format!("{module}\n{ROTARY_WGSL}")
}

/// `shaders/attention.wgsl` (with `shaders/rotary.wgsl`) for a KV pool of F16 (`kv16`, needs
/// shader-f16) or F32 elements: declares its element type `KvT` and `KV_MAX`, the largest
/// finite value of it (stores clamp to it).
pub fn attention_source(kv16: bool) -> String {
    let head = if kv16 {
        "enable f16;\nalias KvT = f16;\nconst KV_MAX: f32 = 65504.0;\n"
    } else {
        "alias KvT = f32;\nconst KV_MAX: f32 = 3.4e38;\n"
    };
    format!("{head}{}", rotary_source(ATTENTION_WGSL))
}

/// The attention module ([`attention_source`]) with `shaders/attention_subgroup.wgsl`'s
/// `attention_sg` appended, for heads of `32 · nc` dimensions (`nc` in 1 ..= 8), `g` query
/// heads of one KV head per workgroup: the CPU adapters' kernel whose 8-lane subgroups share
/// the query and each key's weight and location by broadcast ([`GpuContext::share_x`]).
///
/// [`GpuContext::share_x`]: crate::gpu::GpuContext::share_x
///
/// Native only: its key loops run per subgroup (trip counts differ between subgroups), which
/// Vulkan allows and WGSL's uniformity analysis in browsers would refuse; browsers' CPU
/// adapter (SwiftShader) has 4-lane subgroups anyway.
pub fn attention_sg_source(kv16: bool, nc: u32, g: u32) -> String {
    // After the module's own directives (`enable f16;`): constants are declarations.
    format!("{}\nconst NC: u32 = {nc}u;\nconst G: u32 = {g}u;\n{ATTENTION_SUBGROUP_WGSL}", attention_source(kv16))
}

/// How `attention_sg` runs heads of `head_dim` with `group` query heads per KV head: its
/// chunk count NC (head sizes that are multiples of 32 up to 256, whose partial outputs fill
/// `sg_acc`) and the query heads per workgroup G (the largest divisor of `group`, at most 8,
/// whose heads and a key fit `hv`'s 1024 floats), or `None`.
pub fn attention_sg_shape(head_dim: u32, group: u32) -> Option<(u32, u32)> {
    if head_dim % 32 != 0 || !(32..=256).contains(&head_dim) || group == 0 {
        return None;
    }
    let g = (1..=group.min(8)).rev().find(|g| group % g == 0 && (g + 1) * head_dim <= 1024)?;
    Some((head_dim / 32, g))
}

/// `shaders/delta_net.wgsl` with `shaders/delta_net_subgroup.wgsl`'s `dn_scan_sg` for key
/// heads of `32 · nk` dims (`nk` in 1 ..= 8): the CPU adapters' token-by-token recurrence
/// ([`GpuContext::share_x`](crate::gpu::GpuContext::share_x)). Native only, as
/// [`attention_sg_source`].
pub fn delta_net_sg_source(nk: u32) -> String {
    format!("{DELTA_NET_WGSL}\nconst NK: u32 = {nk}u;\n{DELTA_NET_SUBGROUP_WGSL}")
}

pub fn elementwise_source() -> String {
    format!("{ACT_WGSL}\n{ELEMENTWISE_WGSL}")
}

/// Shader family: cache name, source and the binding of its parameters.
#[derive(Clone, Copy, Debug)]
pub enum Shader {
    Matmul(GgmlType),
    /// The matmul module with the subgroup kernel appended.
    MatmulSg(GgmlType),
    /// The matmul module whose store is the causal-conv epilogue (`store_conv`); with the
    /// subgroup kernel when the flag is set.
    MatmulConv(GgmlType, bool),
    /// The paired matmul module ([`paired`]); with the subgroup kernel when the flag is set.
    MatmulPair(GgmlType, bool),
    /// The matmul module whose store adds the next pre-norm (`store_norm`, [`NormOut`]); with
    /// the subgroup kernel when the flag is set.
    MatmulNorm(GgmlType, bool),
    Norm,
    Rope,
    /// Attention over a KV pool of F16 elements (`true`) or F32 ([`attention_source`]).
    Attention(bool),
    /// [`attention_sg_source`]: F16 pool or not, the head's 32-dim chunks (1 ..= 8) and the
    /// query heads per workgroup (1 ..= 8).
    AttentionSg(bool, u32, u32),
    Ssm,
    /// The Mamba2 scan module with the kernels that share B and C through 8-lane subgroups
    /// ([`ssm_source`]).
    SsmSg,
    ShortConv,
    Conv,
    DeltaNet,
    /// [`delta_net_sg_source`] for key heads of this many 32-dim blocks (1 ..= 8).
    DeltaNetSg(u32),
    Mamba1,
    Moe,
    Elementwise,
    Copy,
    Ssd,
    Argmax,
}

impl Shader {
    fn name(self) -> &'static str {
        match self {
            Shader::Matmul(t) => matmul_variant(t).map_or("matmul_unsupported", |v| v.0.plain),
            Shader::MatmulSg(t) => matmul_variant(t).map_or("matmul_unsupported", |v| v.0.sg),
            Shader::MatmulConv(t, sg) => matmul_variant(t).map_or("matmul_unsupported", |v| if sg { v.0.sg_conv } else { v.0.conv }),
            Shader::MatmulPair(t, sg) => matmul_variant(t).map_or("matmul_unsupported", |v| if sg { v.0.sg_pair } else { v.0.pair }),
            Shader::MatmulNorm(t, sg) => matmul_variant(t).map_or("matmul_unsupported", |v| if sg { v.0.sg_norm } else { v.0.norm }),
            Shader::Norm => "norm",
            Shader::Rope => "rope",
            Shader::Attention(kv16) => if kv16 { "attention_kv16" } else { "attention" },
            Shader::AttentionSg(kv16, nc, g) => attention_sg_name(kv16, nc, g),
            Shader::Ssm => "ssm",
            Shader::SsmSg => "ssm_sg",
            Shader::ShortConv => "short_conv",
            Shader::Conv => "conv",
            Shader::DeltaNet => "delta_net",
            Shader::DeltaNetSg(nk) => ["delta_net_sg32", "delta_net_sg64", "delta_net_sg96", "delta_net_sg128", "delta_net_sg160", "delta_net_sg192", "delta_net_sg224", "delta_net_sg256"][(nk.clamp(1, 8) - 1) as usize],
            Shader::Mamba1 => "mamba1",
            Shader::Moe => "moe",
            Shader::Elementwise => "elementwise",
            Shader::Copy => "copy",
            Shader::Ssd => "ssd",
            Shader::Argmax => "argmax",
        }
    }
    fn source(self) -> String {
        match self {
            Shader::Matmul(t) => matmul_source(t, false, MatmulForm::Plain),
            Shader::MatmulSg(t) => matmul_source(t, true, MatmulForm::Plain),
            Shader::MatmulConv(t, sg) => matmul_source(t, sg, MatmulForm::Conv),
            Shader::MatmulPair(t, sg) => matmul_source(t, sg, MatmulForm::Pair),
            Shader::MatmulNorm(t, sg) => matmul_source(t, sg, MatmulForm::Norm),
            Shader::Norm => NORM_WGSL.into(),
            Shader::Rope => rotary_source(ROPE_WGSL),
            Shader::Attention(kv16) => attention_source(kv16),
            Shader::AttentionSg(kv16, nc, g) => attention_sg_source(kv16, nc.clamp(1, 8), g.clamp(1, 8)),
            Shader::Ssm => ssm_source(false),
            Shader::SsmSg => ssm_source(true),
            Shader::ShortConv => SHORT_CONV_WGSL.into(),
            Shader::Conv => CONV_WGSL.into(),
            Shader::DeltaNet => DELTA_NET_WGSL.into(),
            Shader::DeltaNetSg(nk) => delta_net_sg_source(nk.clamp(1, 8)),
            Shader::Mamba1 => MAMBA1_WGSL.into(),
            Shader::Moe => MOE_WGSL.into(),
            Shader::Elementwise => elementwise_source(),
            Shader::Copy => COPY_WGSL.into(),
            Shader::Ssd => SSD_WGSL.into(),
            Shader::Argmax => ARGMAX_WGSL.into(),
        }
    }
    /// The uniform binding of the shader's `Params`.
    fn params_binding(self) -> Binding {
        match self {
            Shader::Matmul(_) | Shader::MatmulSg(_) | Shader::MatmulConv(..) | Shader::MatmulPair(..) | Shader::MatmulNorm(..) => params::matmul::p,
            Shader::Norm => params::norm::p,
            Shader::Rope => params::rope::p,
            Shader::Attention(_) | Shader::AttentionSg(..) => params::attention::p,
            Shader::Ssm | Shader::SsmSg => params::ssm::p,
            Shader::ShortConv => params::short_conv::p,
            Shader::Conv => params::conv::p,
            Shader::DeltaNet | Shader::DeltaNetSg(_) => params::delta_net::p,
            Shader::Mamba1 => params::mamba1::p,
            Shader::Moe => params::moe::p,
            Shader::Elementwise => params::elementwise::p,
            Shader::Copy => params::copy::p,
            Shader::Ssd => params::ssd::p,
            Shader::Argmax => params::argmax::p,
        }
    }
}

/// The cache name of an `attention_sg` module: one per (pool type, chunks, heads), made once
/// (a name lives as long as the program, as the pipelines cached under it do).
fn attention_sg_name(kv16: bool, nc: u32, g: u32) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Names = Mutex<HashMap<(bool, u32, u32), &'static str>>;
    static NAMES: OnceLock<Names> = OnceLock::new();
    let key = (kv16, nc.clamp(1, 8), g.clamp(1, 8));
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    names.entry(key).or_insert_with(|| {
        let (kv16, nc, g) = key;
        Box::leak(format!("attention_sg{}x{g}{}", 32 * nc, if kv16 { "_kv16" } else { "" }).into_boxed_str())
    })
}

/// Workgroups of a dispatch: counted on the host, or read from a buffer the GPU wrote.
#[derive(Clone)]
pub enum Groups {
    Direct(u32, u32, u32),
    /// (x, y, z) as three u32 at this byte offset of the buffer.
    Indirect(wgpu::Buffer, u64),
}

enum Command {
    Dispatch {
        /// (shader module, entry point), for profiling.
        kernel: (&'static str, &'static str),
        pipeline: Rc<Pipeline>,
        bufs: Vec<(u32, wgpu::Buffer)>,
        /// Binding, byte offset and size of the parameters in the submission's uniform buffer.
        params: (u32, u64, u64),
        groups: Groups,
    },
    Copy { src: wgpu::Buffer, src_offset: u64, dst: wgpu::Buffer, dst_offset: u64, bytes: u64 },
}

/// Where a matrix product reads and writes: rows of `x` (offset and stride in floats), rows
/// of `y`, and the epilogue `y = alpha·(W·x + bias) (+ y)`.
#[derive(Clone, Copy)]
pub struct MatmulIo<'b> {
    pub x: &'b wgpu::Buffer,
    pub x_offset: u32,
    pub x_stride: u32,
    pub y: &'b wgpu::Buffer,
    pub y_offset: u32,
    pub y_stride: u32,
    pub n_tok: u32,
    pub alpha: f32,
    pub accumulate: bool,
    /// An F32 vector of W's row count.
    pub bias: Option<&'b wgpu::Buffer>,
    /// An activation applied to each result in the epilogue (after bias and scale, before the
    /// accumulate): a gated FFN's up projection takes its gate here, saving the separate
    /// elementwise dispatch.
    pub act: Act<'b>,
    /// A fused epilogue that replaces a dispatch of its own (see [`Epilogue`]).
    pub epi: Epilogue<'b>,
    /// The next pre-norm in the store (decode; see [`NormOut`] and [`Recorder::norm_out_rows`]).
    pub norm_out: Option<NormOut<'b>>,
}

/// The RMSNorm that follows a decode step's residual add, split between two dispatches
/// (llama.cpp `build_norm` with `LLM_NORM_RMS`: `x / sqrt(mean(x²) + eps) · w`): the product
/// that adds into the residual stores `y · w` into `h[0 .. rows]` and each workgroup's Σ y²
/// into `h[base ..]` ([`Recorder::norm_out_rows`] rows each); the products that read `h`
/// then scale their results by `1 / sqrt(Σ / rows + eps)` ([`Epilogue::RmsScale`], or
/// [`Recorder::set_scaled_input`]), which is the norm since the scale is one number per token.
/// One dispatch less per norm. One token, one part starting at row 0.
#[derive(Clone, Copy)]
pub struct NormOut<'b> {
    /// The norm's weight, F32 [rows].
    pub w: &'b wgpu::Buffer,
    /// [rows + partial sums] floats.
    pub h: &'b wgpu::Buffer,
    /// Float index in `h` of the partial sums (a multiple of 4 keeps their loads whole vec4s).
    pub base: u32,
}

/// A matrix input that holds `x · w` and the partial sums of squares of an RMSNorm
/// ([`NormOut`]): products reading it apply the scale ([`Epilogue::RmsScale`]'s fields).
#[derive(Clone, Debug)]
pub struct ScaledInput {
    pub buf: wgpu::Buffer,
    pub base: u32,
    pub count: u32,
    pub width: u32,
    pub eps: f32,
}

/// What a matrix product's epilogue does besides bias, scale and activation: work that would
/// otherwise be a dispatch of its own (`store_row` in `shaders/matmul.wgsl`).
#[derive(Clone, Copy, Default)]
pub enum Epilogue<'b> {
    #[default]
    None,
    /// Each token's result × 1/sqrt(Σ partials / width + eps) (before bias and scale): an
    /// RMSNorm of the input whose weight is already applied to x, its `count` partial sums of
    /// squares per token stored in x's buffer from float `base` (Mamba2's grouped norm with
    /// one group: `ssm_step4` writes y·w and the partials).
    RmsScale { base: u32, count: u32, width: u32, eps: f32 },
    /// Rows `row0 .. row0 + channels` of the result are convolved in place with their
    /// channel's carried window (`state` [slots, channels, k − 1]), taps `w` [channels, k] and
    /// bias `b`, then SiLU — Mamba2's causal conv of xBC, as `shaders/conv.wgsl` computes it.
    /// Only for steps of one token per session (`seqs` maps token t to session t's slot); not
    /// with a bias or gated activation (the taps take that binding).
    Conv { w: &'b wgpu::Buffer, b: Option<&'b wgpu::Buffer>, state: &'b wgpu::Buffer, seqs: &'b wgpu::Buffer, row0: u32, channels: u32, k: u32 },
    /// A second matrix of W's type, shape and parts: one dispatch computes g = W·x, then
    /// u = second·x, and stores act(g) · u — a gated FFN's gate and up projections (`gelu`:
    /// GeGLU, else SwiGLU; [`paired`]). Not with a bias or another activation.
    Pair { second: &'b GpuTensor, gelu: bool },
}

/// The epilogue activation of a matrix product (`store_row` in `shaders/matmul.wgsl`).
#[derive(Clone, Copy, Default)]
pub enum Act<'b> {
    #[default]
    None,
    /// y = silu(gate[t, r]) · (W·x)[t, r]; `gate` laid out as y (SwiGLU). Not with a bias.
    SiluGate(&'b wgpu::Buffer),
    /// y = gelu(gate[t, r]) · (W·x)[t, r], GELU as ggml's CPU computes it (GeGLU). Not with a bias.
    GeluGate(&'b wgpu::Buffer),
    /// y = max(W·x, 0)² (Nemotron-H's plain FFN).
    ReluSqr,
}

impl<'b> Act<'b> {
    fn code(&self) -> u32 {
        match self {
            Act::None => 0,
            Act::SiluGate(_) => 1,
            Act::GeluGate(_) => 2,
            Act::ReluSqr => 3,
        }
    }
    fn gate(&self) -> Option<&'b wgpu::Buffer> {
        match *self {
            Act::SiluGate(g) | Act::GeluGate(g) => Some(g),
            _ => None,
        }
    }
}

/// Records the commands of one submission (see the module docs).
pub struct Recorder<'a> {
    pub ctx: &'a GpuContext,
    list: Vec<Command>,
    params: Vec<u8>,
    held: Vec<wgpu::Buffer>,
    /// Scratch buffers too large to be pooled: bind groups that bind them are not cached.
    transient: Vec<wgpu::Buffer>,
    /// Scratch buffers whose contents are dead (their scope ended), free for later commands
    /// of this same submission, by size.
    free: std::collections::HashMap<u64, Vec<wgpu::Buffer>>,
    /// Scratch buffers taken in the open scopes, in order.
    scoped: Vec<wgpu::Buffer>,
    /// The buffer that now holds a pre-norm's `x · w` and partial sums ([`NormOut`]).
    scaled: Option<ScaledInput>,
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a GpuContext) -> Recorder<'a> {
        Recorder { ctx, list: vec![], params: vec![], held: vec![], transient: vec![], free: Default::default(), scoped: vec![], scaled: None }
    }

    /// Start a scope of scratch buffers (e.g. one layer).
    pub fn scope(&self) -> usize {
        self.scoped.len()
    }

    /// End a scope: the scratch buffers taken since `mark` hold nothing later commands read, so
    /// later commands of this submission may reuse them (commands run in order, and WebGPU
    /// orders a later write after earlier reads). A 40-layer step then needs one layer's
    /// intermediates, not forty. Taking and freeing in the same order every step keeps the
    /// assignment (and so the cached bind groups) the same.
    pub fn end_scope(&mut self, mark: usize) {
        for b in self.scoped.drain(mark.min(self.scoped.len())..) {
            self.free.entry(b.size()).or_default().push(b);
        }
    }

    /// A storage buffer of `n` f32 for this submission only (pooled between submissions).
    pub fn scratch(&mut self, n: u64) -> wgpu::Buffer {
        self.scratch_bytes(n.max(1) * 4)
    }

    /// A storage buffer of at least `bytes` (rounded to a multiple of 16) for this submission.
    pub fn scratch_bytes(&mut self, bytes: u64) -> wgpu::Buffer {
        let size = bytes.max(16).next_multiple_of(16);
        if let Some(b) = self.free.get_mut(&size).and_then(Vec::pop) {
            self.scoped.push(b.clone());
            return b;
        }
        let b = self.ctx.take_scratch(size);
        if size > SCRATCH_POOL_MAX_BYTES {
            self.transient.push(b.clone());
        }
        self.held.push(b.clone());
        self.scoped.push(b.clone());
        b
    }

    /// A storage buffer holding `data` for this submission, from the scratch pool (sizes
    /// rounded up to a power of two so a growing table keeps reusing the same buffer).
    pub fn upload_u32(&mut self, data: &[u32]) -> wgpu::Buffer {
        let bytes = ((data.len().max(4) * 4) as u64).next_power_of_two();
        // Written now (queue.write_buffer runs before the submission): never a buffer freed
        // for reuse inside this submission.
        let b = self.ctx.take_scratch(bytes);
        if bytes > SCRATCH_POOL_MAX_BYTES {
            self.transient.push(b.clone());
        }
        self.held.push(b.clone());
        if !data.is_empty() {
            self.ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
        }
        b
    }

    /// Record `entry` of `shader` with `bufs` bound by name and `params` as its uniform.
    pub fn dispatch<P: WgslStruct>(
        &mut self,
        shader: Shader,
        entry: &'static str,
        bufs: &[(Binding, &wgpu::Buffer)],
        params: &P,
        groups: (u32, u32, u32),
    ) {
        self.dispatch_groups(shader, entry, bufs, params, Groups::Direct(groups.0, groups.1, groups.2))
    }

    /// As [`Recorder::dispatch`], with the workgroup counts given as [`Groups`].
    pub fn dispatch_groups<P: WgslStruct>(
        &mut self,
        shader: Shader,
        entry: &'static str,
        bufs: &[(Binding, &wgpu::Buffer)],
        params: &P,
        groups: Groups,
    ) {
        debug_assert!(
            matches!(shader, Shader::Matmul(_) | Shader::MatmulSg(_) | Shader::MatmulConv(..) | Shader::MatmulPair(..) | Shader::MatmulNorm(..))
                || !self.scaled.as_ref().is_some_and(|s| bufs.iter().any(|(_, b)| *b == &s.buf)),
            "{entry} binds a scaled input (x · w of a fused pre-norm)"
        );
        let src = move || shader.source();
        let pipeline = self.ctx.pipeline(shader.name(), &src, entry);
        // Each dispatch's parameters start at an offset the device allows for uniform
        // bindings; uniform structs are sized in multiples of 16 bytes.
        let align = (self.ctx.limits.min_uniform_buffer_offset_alignment as usize).max(16);
        self.params.resize(self.params.len().next_multiple_of(align), 0);
        let offset = self.params.len() as u64;
        let bytes = bytemuck::bytes_of(params);
        let size = bytes.len().next_multiple_of(16);
        self.params.extend_from_slice(bytes);
        self.params.resize(offset as usize + size, 0);
        let bufs = bufs.iter().map(|(b, buf)| (b.index, (*buf).clone())).collect();
        let binding = shader.params_binding().index;
        self.list.push(Command::Dispatch { kernel: (shader.name(), entry), pipeline, bufs, params: (binding, offset, size as u64), groups });
    }

    /// Copy bytes between buffers at this point of the submission (taps, snapshots).
    pub fn copy(&mut self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64, bytes: u64) {
        if bytes > 0 {
            self.list.push(Command::Copy { src: src.clone(), src_offset, dst: dst.clone(), dst_offset, bytes });
        }
    }

    /// Workgroups for `n` invocations of 64 as a 2-D grid, and the x count to pass to the shader.
    pub fn grid(&self, n: u64) -> (u32, u32) {
        super::kernels::grid(self.ctx, n)
    }

    /// y[t, row0..] (+)= alpha · W · x[t] for every part of `w`.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &mut self,
        w: &GpuTensor,
        x: &wgpu::Buffer,
        x_offset: u32,
        x_stride: u32,
        y: &wgpu::Buffer,
        y_offset: u32,
        y_stride: u32,
        n_tok: u32,
        alpha: f32,
        accumulate: bool,
    ) {
        self.matmul_io(w, MatmulIo { x, x_offset, x_stride, y, y_offset, y_stride, n_tok, alpha, accumulate, bias: None, act: Act::None, epi: Epilogue::None, norm_out: None })
    }

    /// Declare that `s.buf` now holds a pre-norm's `x · w` and partial sums ([`NormOut`]):
    /// every product reading it from offset 0 applies the norm's scale, and no other kernel
    /// may read it (a debug assertion) until this is set to `None`.
    pub fn set_scaled_input(&mut self, s: Option<ScaledInput>) {
        self.scaled = s;
    }

    /// Rows per partial sum of squares when `w`'s product with `n_tok` tokens can store the
    /// next pre-norm ([`NormOut`]): 64 for the row kernels of CPU adapters (one sum per
    /// workgroup), 8 for the subgroup kernel; `None` for more than one token, a tensor of
    /// several parts, or the workgroup kernel (one row per workgroup: a sum per row).
    pub fn norm_out_rows(&self, w: &GpuTensor, n_tok: u32) -> Option<u32> {
        if n_tok != 1 || w.parts.len() != 1 || w.parts[0].row0 != 0 {
            return None;
        }
        // As matmul_io picks the kernel.
        if self.ctx.use_subgroups() {
            Some(8)
        } else if self.ctx.prefers_row_kernels() {
            Some(64)
        } else {
            None
        }
    }

    /// `io.y[t, row0..] (+)= alpha · (W · io.x[t] + bias)` for every part of `w`.
    pub fn matmul_io(&mut self, w: &GpuTensor, io: MatmulIo) {
        let MatmulIo { x, x_offset, x_stride, y, y_offset, y_stride, n_tok, alpha, accumulate, bias, act, epi, norm_out } = io;
        debug_assert!(!w.parts.is_empty(), "{}: a matrix stacked into another at load", w.info.name);
        // A scaled input (a fused pre-norm's x · w): its scale in the epilogue.
        let scaled = self.scaled.as_ref().filter(|s| s.buf == *x && x_offset == 0).map(|s| (s.base, s.count, s.width, s.eps));
        let rms = match epi {
            Epilogue::RmsScale { base, count, width, eps } => Some((base, count, width, eps)),
            _ => None,
        };
        debug_assert!(rms.is_none() || scaled.is_none(), "an RMS-scale epilogue on a scaled input");
        let rms = rms.or(scaled);
        debug_assert!(norm_out.is_none() || (self.norm_out_rows(w, n_tok).is_some() && matches!(epi, Epilogue::None | Epilogue::RmsScale { .. })), "a pre-norm store the kernel cannot make");
        // The gate of a gated activation takes the bias binding (the two never come together),
        // and so do the conv epilogue's taps.
        debug_assert!(bias.is_none() || act.gate().is_none(), "a gated epilogue with a bias");
        let conv = match epi {
            Epilogue::Conv { w, b, state, seqs, .. } => {
                debug_assert!(bias.is_none() && act.gate().is_none(), "a conv epilogue with a bias or gate");
                Some((w, b.unwrap_or(w), state, seqs))
            }
            _ => None,
        };
        let aux = conv.map(|c| c.0).or(act.gate()).or(bias);
        let second = match epi {
            Epilogue::Pair { second, gelu } => {
                debug_assert!(bias.is_none() && matches!(act, Act::None), "a paired product with a bias or activation");
                debug_assert!(second.parts.len() == w.parts.len() && second.info.ty == w.info.ty, "paired matrices differ");
                Some((second, if gelu { 5 } else { 4 }))
            }
            _ => None,
        };
        use params::matmul as b;
        let k = w.info.ne0() as u32;
        let per_row = self.ctx.prefers_row_kernels();
        let subgroup = n_tok == 1 && self.ctx.use_subgroups();
        // CPU adapters (lavapipe, SwiftShader) run every storage-buffer load as a loop over the
        // SIMD lanes, so their kernels are built to load few words per multiply-add (see
        // `cpu_matmul_entry`).
        let share_x = per_row && self.ctx.share_x();
        let cpu = per_row.then(|| cpu_matmul_entry(w.info.ty, n_tok, k, self.ctx.load_bound(), share_x, self.ctx.forced_matvec_rows()));
        for (pi, part) in w.parts.iter().enumerate() {
            let (gx, gy) = if subgroup {
                self.rows_grid(part.n_rows.div_ceil(8))
            } else if per_row {
                self.grid(part.n_rows)
            } else {
                self.rows_grid(part.n_rows)
            };
            let p = b::Params {
                k,
                n_rows: part.n_rows as u32,
                n_tok,
                row0: part.row0 as u32,
                x_offset,
                x_stride,
                y_offset,
                y_stride,
                head: part.head_word as u32,
                accumulate: accumulate as u32,
                alpha,
                groups_x: gx,
                has_bias: bias.is_some() as u32,
                act: second.map_or(act.code(), |s| s.1),
                ..Default::default()
            };
            let p = match rms {
                Some((base, count, width, eps)) => b::Params { norm_base: base, norm_count: count, norm_width: width, norm_eps: eps, ..p },
                None => p,
            };
            let p = match epi {
                Epilogue::Conv { b: cb, row0, channels, k, .. } => {
                    b::Params { conv_row0: row0, conv_channels: channels, conv_k: k, conv_has_bias: cb.is_some() as u32, ..p }
                }
                _ => p,
            };
            let p = match norm_out {
                Some(no) => b::Params { out_base: no.base, ..p },
                None => p,
            };
            let ty = w.info.ty;
            let shader = |sg: bool| match (conv.is_some(), second.is_some(), norm_out.is_some(), sg) {
                (true, _, _, sg) => Shader::MatmulConv(ty, sg),
                (_, true, _, sg) => Shader::MatmulPair(ty, sg),
                (_, _, true, sg) => Shader::MatmulNorm(ty, sg),
                (false, false, false, true) => Shader::MatmulSg(ty),
                (false, false, false, false) => Shader::Matmul(ty),
            };
            // The second matrix's part at the bindings of the first's views.
            let pair_buf = second.and_then(|(t, _)| t.parts.get(pi)).map(|q| &q.buffer);
            let pair_bufs = |bufs: &[(Binding, &wgpu::Buffer)]| -> Vec<(Binding, &wgpu::Buffer)> {
                let Some(pb) = pair_buf else { return vec![] };
                bufs.iter()
                    .filter_map(|(bd, _)| match *bd {
                        x if x == b::weights => Some((b::weights_b, pb)),
                        x if x == b::weights4 => Some((b::weights4_b, pb)),
                        _ => None,
                    })
                    .collect()
            };
            // Without a bias or gate the binding still needs a buffer: the weights (read-only too).
            let mut bufs = vec![(b::weights, &part.buffer), (b::x, x), (b::y, y), (b::bias, aux.unwrap_or(&part.buffer))];
            let conv_bufs = conv.map(|(_, cb, state, seqs)| [(b::conv_b, cb), (b::conv_state, state), (b::seqs, seqs)]);
            let norm_bufs = norm_out.map(|no| [(b::norm_w, no.w), (b::h_out, no.h)]);
            if subgroup {
                bufs.extend(conv_bufs.iter().flatten());
                bufs.extend(norm_bufs.iter().flatten());
                let extra = pair_bufs(&bufs);
                bufs.extend(extra);
                self.dispatch(shader(true), "matvec_subgroup", &bufs, &p, (gx, gy, 1));
            } else {
                let (entry, bufs) = match cpu {
                    Some(c) => {
                        let mut v = vec![(b::x, x), (b::y, y), (b::bias, aux.unwrap_or(&part.buffer))];
                        if c.words {
                            v.push((b::weights, &part.buffer));
                        }
                        if c.vec4s {
                            v.push((b::weights4, &part.buffer));
                        }
                        (c.entry, v)
                    }
                    None => ("matmul", bufs),
                };
                let mut bufs = bufs;
                bufs.extend(conv_bufs.iter().flatten());
                bufs.extend(norm_bufs.iter().flatten());
                let extra = pair_bufs(&bufs);
                bufs.extend(extra);
                let tokens_per_z = cpu.map_or(8, |c| c.tokens_per_z);
                let shared = share_x && cpu.is_some_and(|c| c.x16);
                self.dispatch(shader(shared), entry, &bufs, &p, (gx, gy, n_tok.div_ceil(tokens_per_z)));
            }
        }
    }

    /// y[t, :] = alpha · W[tokens[t], :] (embedding lookup from any weight type).
    pub fn embed(&mut self, w: &GpuTensor, tokens: &wgpu::Buffer, n_tok: u32, y: &wgpu::Buffer, alpha: f32) {
        use params::matmul as b;
        let k = w.info.ne0() as u32;
        for part in &w.parts {
            let (gx, gy) = self.grid(n_tok as u64 * k as u64 / 4);
            let p = b::Params {
                k,
                n_rows: part.n_rows as u32,
                n_tok,
                row0: part.row0 as u32,
                y_stride: k,
                head: part.head_word as u32,
                alpha,
                groups_x: gx,
                ..Default::default()
            };
            self.dispatch(Shader::Matmul(w.info.ty), "embed", &[(b::weights, &part.buffer), (b::y, y), (b::tokens, tokens)], &p, (gx, gy, 1));
        }
    }

    /// As [`Recorder::embed`] for one token, with the first pre-norm made in the same
    /// dispatch (`embed_row` in the Norm form: `no.h` gets `y · no.w` and one partial sum of
    /// squares per 256 values from float `no.base`, as [`NormOut`]): the number of partial
    /// sums, or `None` (nothing recorded) for a table of several parts.
    pub fn embed_norm(&mut self, w: &GpuTensor, tokens: &wgpu::Buffer, y: &wgpu::Buffer, alpha: f32, no: NormOut) -> Option<u32> {
        use params::matmul as b;
        let [part] = &w.parts[..] else { return None };
        let k = w.info.ne0() as u32;
        let (gx, gy) = self.grid(k as u64 / 4);
        let p = b::Params {
            k,
            n_rows: part.n_rows as u32,
            n_tok: 1,
            y_stride: k,
            head: part.head_word as u32,
            alpha,
            groups_x: gx,
            out_base: no.base,
            ..Default::default()
        };
        let bufs = [(b::weights, &part.buffer), (b::y, y), (b::tokens, tokens), (b::norm_w, no.w), (b::h_out, no.h)];
        self.dispatch(Shader::MatmulNorm(w.info.ty, false), "embed_row", &bufs, &p, (gx, gy, 1));
        Some(k.div_ceil(256))
    }

    /// Mixture of experts: `y[pair, r] = alpha · W_e[r] · x[in(pair)]` for the (token, slot)
    /// pairs of every tile, e the tile's expert, on a 3-D weight `w` = [k, expert_rows,
    /// n_expert] (any parts). `pairs` / `tiles` / `args` come from `moe_group`; `args_offset`
    /// picks this family's indirect (x = tiles, y = row groups) triple. `x_per_pair`: the input
    /// row is the pair (else the token = pair / experts_per_token).
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_id(
        &mut self,
        w: &GpuTensor,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        pairs: &wgpu::Buffer,
        tiles: &wgpu::Buffer,
        args: &wgpu::Buffer,
        args_offset: u64,
        x_per_pair: bool,
        experts_per_token: u32,
    ) {
        use params::matmul as b;
        let k = w.info.ne0() as u32;
        let expert_rows = w.info.dims.get(1).copied().unwrap_or(1) as u32;
        // A scaled input (a fused pre-norm's x · w): its scale in the store, per token.
        let scaled = self.scaled.as_ref().filter(|s| s.buf == *x).map(|s| (s.base, s.count, s.width, s.eps));
        let per_row = self.ctx.prefers_row_kernels();
        for part in &w.parts {
            let (norm_base, norm_count, norm_width, norm_eps) = scaled.unwrap_or_default();
            let p = b::Params {
                norm_base,
                norm_count,
                norm_width,
                norm_eps,
                k,
                n_rows: part.n_rows as u32,
                row0: part.row0 as u32,
                x_stride: k,
                y_stride: expert_rows,
                head: part.head_word as u32,
                alpha: 1.0,
                expert_rows,
                x_per_pair: x_per_pair as u32,
                experts_per_token,
                ..Default::default()
            };
            let bufs = [(b::weights, &part.buffer), (b::x, x), (b::y, y), (b::pairs, pairs), (b::tiles, tiles)];
            let entry = if per_row { "matmul_id_rows" } else { "matmul_id" };
            self.dispatch_groups(Shader::Matmul(w.info.ty), entry, &bufs, &p, Groups::Indirect(args.clone(), args_offset));
        }
    }

    /// Pairs per tile and indirect row count of [`Recorder::matmul_id`] for `expert_rows` rows.
    pub fn matmul_id_shape(&self, expert_rows: u32) -> (u32, u32) {
        if self.ctx.prefers_row_kernels() { (16, expert_rows.div_ceil(64)) } else { (8, expert_rows) }
    }

    /// `rows` workgroups (one per row) as a 2-D grid: (x, y) with row = wg.y · x + wg.x.
    pub fn rows_grid(&self, rows: u64) -> (u32, u32) {
        let max = self.ctx.limits.max_compute_workgroups_per_dimension as u64;
        if rows <= max {
            (rows.max(1) as u32, 1)
        } else {
            let y = rows.div_ceil(max);
            (rows.div_ceil(y) as u32, y as u32)
        }
    }

    /// Encode everything (dispatches in compute passes, copies between them) and submit once
    /// (when the context is profiling, each command alone, timed).
    pub fn submit(self) {
        let ctx = self.ctx;
        if self.list.is_empty() {
            ctx.give_scratch(self.held);
            return;
        }
        let ubuf = (!self.params.is_empty()).then(|| {
            let b = ctx.take_uniform((self.params.len() as u64).next_multiple_of(256));
            ctx.queue.write_buffer(&b, 0, &self.params);
            b
        });
        let profiling = ctx.profiling();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let mut i = 0;
        while i < self.list.len() {
            if let Command::Copy { src, src_offset, dst, dst_offset, bytes } = &self.list[i] {
                enc.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *bytes);
                i += 1;
                continue;
            }
            let mut timed = None;
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                while let Some(Command::Dispatch { kernel, pipeline, bufs, params, groups }) = self.list.get(i) {
                    let (binding, offset, size) = *params;
                    let Some(ub) = &ubuf else { break };
                    let mut entries: Vec<(u32, &wgpu::Buffer, u64, u64)> = bufs.iter().map(|(b, buf)| (*b, buf, 0, buf.size())).collect();
                    entries.push((binding, ub, offset, size));
                    let cacheable = !bufs.iter().any(|(_, b)| self.transient.contains(b));
                    let group = ctx.bind_group(pipeline, &entries, cacheable);
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, &group, &[]);
                    match groups {
                        Groups::Direct(x, y, z) => pass.dispatch_workgroups(*x, *y, *z),
                        Groups::Indirect(b, offset) => pass.dispatch_workgroups_indirect(b, *offset),
                    }
                    ctx.count(|s| s.dispatches += 1);
                    i += 1;
                    if profiling {
                        timed = Some(*kernel);
                        break;
                    }
                }
            }
            if let Some(kernel) = timed {
                // This dispatch alone: what came before it was already waited for.
                let done = std::mem::replace(&mut enc, ctx.device.create_command_encoder(&Default::default()));
                ctx.submit_timed(kernel, done.finish());
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.count(|s| s.submits += 1);
        ctx.give_scratch(self.held);
        if let Some(b) = ubuf {
            ctx.give_uniform(b);
        }
    }
}

/// A matrix kernel of a CPU adapter and the weight views it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuMatmul {
    entry: &'static str,
    /// Binds `weights` (words; head planes, one-word decoders).
    words: bool,
    /// Binds `weights4` (the same buffer as vec4: whole-block bodies in few loads).
    vec4s: bool,
    /// Tokens per z of the grid (lavapipe's Q6_K tile: 4).
    tokens_per_z: u32,
    /// Reads x through `X16_FN` in 8-lane groups of invocations: the subgroup module's form shares the
    /// loads among the lanes where [`GpuContext::share_x`] holds.
    x16: bool,
}

/// Which matmul.wgsl kernel a CPU adapter runs for `ty` and `n_tok` tokens. Every kernel
/// writes 64 rows per workgroup (the grid of `Recorder::grid`) and `tokens_per_z` tokens
/// per z (8; lavapipe's Q6_K tile 4).
/// Measured on lavapipe, granite-4.0-h-350m shape, decode tok/s one row per invocation →
/// this choice: Q4_K_M 3.0 → 6.3-7.2 (8 rows), F16 3.1 → 4.8 (4 rows); for Q2_K, Q3_K and
/// IQ4_XS the one-row kernel stays (its block decoder beats the 4-row per-group fallback:
/// Q3_K 2.99 vs 2.10, IQ4_XS 3.32 vs 2.89). Prefill runs 4-row × 8-token tiles, Q4_K 8-row
/// ones (× 4 tokens at first: Q4_K_M 7.4 → 20 tok/s; × 8 now, below).
/// The 32-element types decode whole blocks (`dot4_blk`, `matmul_tile_blk`: one load of the
/// scale and high bits per block instead of per group of 4), F32 loads a vec4 per group and
/// F16/BF16 a vec4 of 8 halves (`matvec_rows4_half`): on lavapipe (P 64, G 8-16, 2026-12-01)
/// granite-350m Q4_0 decode 2.41 → 3.95 tok/s, F32 1.53 → 2.3-3.0, F16 2.14 → 2.9-3.1, and
/// qwen2.5-0.5b Q4_K_M (mostly Q5_0) 1.61 → 2.28; on SwiftShader Q4_0 decode 0.36 → 1.02
/// and prefill 1.48 → 2.56 tok/s. Q6_K decodes 8 rows per invocation on lavapipe only
/// ([`GpuContext::load_bound`]): its products 105-117 → 77-91 ms per token there (granite-350m
/// Q4_K_M decode +11%), but 1.8× slower on SwiftShader. Q6_K builds its 6-bit quants four
/// per word operation and applies the −32 offset once per quarter (`quarter_sums`): Q6_K
/// products per token 983-1012 → 674-819 ms on SwiftShader (granite-350m Q4_K_M decode 0.39
/// → 0.55 tok/s), about 10% less on lavapipe. The 32-element decode applies each block's
/// scale and offset once to its sums (`Blk`): Q4_0 products 8-10% less on SwiftShader,
/// unchanged on lavapipe.
/// Where a workgroup's lanes form 8-lane subgroups (lavapipe, [`GpuContext::share_x`]), the
/// kernels read x through `X16_FN` in its broadcast form: each lane loads 2 of every 16 x
/// groups. lavapipe runs each storage load as a loop over the lanes, and replacing the 8-row Q4_K
/// tile's x loads by arithmetic halved its time, so x was half the cost of every kernel that
/// loads the same x in each lane. Measured there (2026-12-02, `BRAID_XSHARE=0` vs on,
/// interleaved, kernel time per token over the scan's, which neither touches): Q4_K decode
/// 5.8-6.1 → 4.6, Q6_K decode 2.9-3.2 → 2.0-2.3, Q8_0 decode 9.1-10.1 → 7.3-7.4 and prefill
/// 7.7-8.3 → 2.6-3.2 (Q8_0 prefill 7.8-8.1 → 16.7-17.8 tok/s), F16 decode 14.3-14.6 →
/// 10.2-12.4, the generic prefill tile (Q6_K in a Q4_K_M file) 0.95-1.1 → 0.62-0.64 and F16
/// prefill 8.7-8.9 → 4.1-4.2. Q4_K prefill runs 8 rows × 8 tokens (on lavapipe 16 × 4 took
/// 15% less than 8 × 4, 8 × 8 another 7-20% less: granite-350m prefill 14.1-14.9 → 15.3-17.0
/// tok/s; on SwiftShader 8 × 8 took 8-16% less than 8 × 4, where a 16-row tile did not finish
/// a 4-token prompt in 4 minutes). Q6_K prefill on lavapipe runs 8 rows × 4 tokens (`matmul_tile8_q6_k`, its
/// quants decoded once per four tokens): its products 8.7-9.4 → 6.6-6.9 ms per prompt token
/// (the generic tile reloaded a row's scales and high bits for every group of four).
/// SwiftShader (the browser's software adapter; natively through Chromium's
/// `vk_swiftshader_icd.json`) measured the same order: the one-row kernel halves decode (0.37
/// → 0.18 tok/s), the workgroup kernels are 20× slower. `BRAID_MATVEC=rows` (native only)
/// forces the one-row decode kernel for such comparisons.
fn cpu_matmul_entry(ty: GgmlType, n_tok: u32, k: u32, load_bound: bool, share_x: bool, matvec_rows: bool) -> CpuMatmul {
    use GgmlType::*;
    let e = |entry, words, vec4s| CpuMatmul { entry, words, vec4s, tokens_per_z: 8, x16: false };
    if n_tok == 1 && matvec_rows {
        return e("matvec_rows", true, false);
    }
    match (ty, n_tok) {
        (Q4_K, 1) => CpuMatmul { x16: true, ..e("matvec_rows8_q4_k", false, true) },
        (Q4_K, _) => CpuMatmul { x16: true, ..e("matmul_tile8x8_q4_k", false, true) },
        (Q5_K, 1) => e("matvec_rows4", false, true),
        (Q6_K, 1) if load_bound => CpuMatmul { x16: true, ..e("matvec_rows8_q6_k", true, true) },
        (Q6_K, _) if load_bound => CpuMatmul { tokens_per_z: 4, x16: true, ..e("matmul_tile8_q6_k", true, true) },
        (Q8_0 | Q4_0 | IQ4_NL, 1) if share_x => CpuMatmul { x16: true, ..e("matvec_rows8_blk", true, true) },
        (Q4_1 | Q5_0 | Q5_1, 1) if share_x => CpuMatmul { x16: true, ..e("matvec_rows8_blk", true, false) },
        (Q6_K | Q8_0 | Q4_0 | IQ4_NL, 1) => e("matvec_rows4", true, true),
        (Q4_1 | Q5_0 | Q5_1, 1) => e("matvec_rows4", true, false),
        (Q2_K | Q3_K | IQ4_XS, 1) => e("matvec_rows", true, false),
        (F32, 1) => e("matvec_rows4", false, true),
        (F16 | BF16, 1) if k % 8 == 0 => CpuMatmul { x16: true, ..e("matvec_rows4_half", false, true) },
        (F32, _) => CpuMatmul { x16: true, ..e("matmul_tile", false, true) },
        (Q4_0 | Q8_0 | IQ4_NL, _) => CpuMatmul { x16: true, ..e("matmul_tile_blk", true, true) },
        (Q4_1 | Q5_0 | Q5_1, _) => CpuMatmul { x16: true, ..e("matmul_tile_blk", true, false) },
        (_, 1) => e("matvec_rows4", true, false),
        _ => CpuMatmul { x16: true, ..e("matmul_tile", true, false) },
    }
}
