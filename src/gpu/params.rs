//! Typed kernel parameters and named bindings, one module per shader file.
//!
//! Each shader's `struct Params` is mirrored here by a `#[repr(C)]` Pod struct with the same
//! members in the same order, and each `@group(0) @binding(N) var … name` by a [`Binding`]
//! constant `name` = N. `tests/shader_layout.rs` parses every shader with naga (the WGSL
//! front end wgpu itself uses) and checks that both mirrors agree with the WGSL: member names,
//! offsets and sizes, binding names and numbers. Launchers pass these structs and bindings,
//! never bare numbers.

use bytemuck::{Pod, Zeroable};

/// One `@group(0) @binding(index) var … name` of a shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    pub index: u32,
    pub name: &'static str,
}

/// A Rust mirror of a WGSL uniform struct.
pub trait WgslStruct: Pod {
    /// `(member, byte offset, byte size)` in declaration order.
    fn members() -> Vec<(&'static str, usize, usize)>;
}

macro_rules! wgsl_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl WgslStruct for $name {
            fn members() -> Vec<(&'static str, usize, usize)> {
                vec![$((stringify!($f), std::mem::offset_of!($name, $f), std::mem::size_of::<$t>())),*]
            }
        }
    };
}

macro_rules! bindings {
    ($($name:ident = $idx:literal),* $(,)?) => {
        $(#[allow(non_upper_case_globals)] pub const $name: super::Binding = super::Binding { index: $idx, name: stringify!($name) };)*
        /// Every binding of this shader.
        pub const ALL: &[super::Binding] = &[$($name),*];
    };
}

/// `shaders/matmul.wgsl` (+ `matvec_subgroup.wgsl`): y[t, row0 + r] = alpha·(W·x[t] + bias) (+ y).
pub mod matmul {
    use super::*;
    pub const FILE: &str = "matmul.wgsl";
    wgsl_struct! {
        pub struct Params {
            /// Row length (multiple of 4 and of the block size).
            pub k: u32,
            /// Rows in this part.
            pub n_rows: u32,
            pub n_tok: u32,
            /// First row of this part: output column offset (matmul), token id offset (embed).
            pub row0: u32,
            /// Floats (multiple of 4).
            pub x_offset: u32,
            /// Floats between tokens (multiple of 4).
            pub x_stride: u32,
            pub y_offset: u32,
            pub y_stride: u32,
            /// Head plane start of the part, in u32 words.
            pub head: u32,
            pub accumulate: u32,
            pub alpha: f32,
            /// Workgroups along x (rows = y · groups_x + x).
            pub groups_x: u32,
            /// Add `bias[row0 + r]` before scaling.
            pub has_bias: u32,
            /// matmul_id: rows of one expert of a 3-D weight.
            pub expert_rows: u32,
            /// matmul_id: 1 — the input row is the (token, slot) pair; 0 — the token.
            pub x_per_pair: u32,
            /// matmul_id: slots (experts) per token.
            pub experts_per_token: u32,
            /// Epilogue activation: [`Act`](crate::gpu::ops::Act) as u32 (0 none, 1 SiLU-gated,
            /// 2 GELU-gated, 3 ReLU²), or a paired gate·up product's (4 SiLU, 5 GELU; see
            /// [`paired`](crate::gpu::ops::paired)).
            pub act: u32,
            /// RMS scale of the input ([`Epilogue::RmsScale`](crate::gpu::ops::Epilogue)): float
            /// index in x of token 0's partial sums of squares.
            pub norm_base: u32,
            /// Partial sums per token (0: no RMS scale).
            pub norm_count: u32,
            /// Values the partial sums cover (the mean's divisor).
            pub norm_width: u32,
            pub norm_eps: f32,
            /// Conv epilogue ([`Epilogue::Conv`](crate::gpu::ops::Epilogue)): first convolved row.
            pub conv_row0: u32,
            /// Convolved rows (channels).
            pub conv_channels: u32,
            /// Taps per channel (d_conv).
            pub conv_k: u32,
            pub conv_has_bias: u32,
            /// Pre-norm store ([`NormOut`](crate::gpu::ops::NormOut)): float index in `h_out`
            /// of the workgroups' partial sums of squares.
            pub out_base: u32,
        }
    }
    bindings!(weights = 0, x = 1, y = 2, p = 3, tokens = 4, bias = 5, pairs = 6, tiles = 7, weights4 = 8, conv_b = 9, conv_state = 10, seqs = 11, weights_b = 12, weights4_b = 13, norm_w = 14, h_out = 15);
}

/// `shaders/moe.wgsl`: mixture-of-experts routing, grouping by expert, combination.
pub mod moe {
    use super::*;
    pub const FILE: &str = "moe.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub n_expert: u32,
            /// Experts per token.
            pub k: u32,
            /// 1 softmax, 2 sigmoid, 3 softmax over the chosen weights.
            pub gating: u32,
            /// `exp_probs_b` added to the selection scores.
            pub has_bias: u32,
            pub norm_w: u32,
            /// 0 or 1: none.
            pub w_scale: f32,
            /// Expert groups (≤ 1: none) and how many of them are used.
            pub n_groups: u32,
            pub group_used: u32,
            /// Pairs per tile (moe_group).
            pub tile: u32,
            /// Indirect y of the two matmul families (moe_group).
            pub y_a: u32,
            pub y_b: u32,
            /// Values per output row (moe_combine).
            pub width: u32,
            pub alpha: f32,
            pub accumulate: u32,
            /// 0 none, 1 add the shared expert, 2 add it × sigmoid(gate[t]).
            pub shared_mode: u32,
        }
    }
    bindings!(logits = 0, bias = 1, ids = 2, weights = 3, p = 4, pairs = 5, tiles = 6, args = 7, down = 8, shexp = 9, sgate = 10, out = 11);
}

/// `shaders/norm.wgsl`: RMSNorm of rows, optionally grouped.
pub mod norm {
    use super::*;
    pub const FILE: &str = "norm.wgsl";
    wgsl_struct! {
        pub struct Params {
            /// Values per row.
            pub n: u32,
            pub n_rows: u32,
            /// Rows of the weight (row r uses weight row r % w_rows; > 1 for grouped norms).
            pub w_rows: u32,
            pub eps: f32,
            pub x_offset: u32,
            pub x_stride: u32,
            pub y_offset: u32,
            pub y_stride: u32,
            /// rms_norm: 1 — y += alpha · result.
            pub accumulate: u32,
            pub alpha: f32,
            /// rms_norm_inplace: 1 — result · silu(x[x_offset + row · x_stride + i]).
            pub gate: u32,
            /// rms_norm_add_next: float index in `h` of row 0's sum of squares.
            pub h_base: u32,
        }
    }
    bindings!(x = 0, w = 1, y = 2, p = 3, w_next = 4, h = 5);
}

/// `shaders/rope.wgsl`: rotary position embedding in place.
pub mod rope {
    use super::*;
    pub const FILE: &str = "rope.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub n_heads: u32,
            pub head_dim: u32,
            pub n_rot: u32,
            /// Floats before the first key row (keys share the query rows' buffer).
            pub k_offset: u32,
            /// Floats before the first row.
            pub offset: u32,
            /// Floats between tokens.
            pub stride: u32,
            /// 1: NEOX (split halves), 0: NORM (adjacent pairs).
            pub neox: u32,
            /// `base^(−2 / n_rot)`, computed on the host as ggml does (`powf`).
            pub theta_scale: f32,
            pub groups_x: u32,
            /// 1: interleaved M-RoPE sections for text (Qwen3.5); rotation is NEOX.
            pub imrope: u32,
            pub sect0: u32,
            pub sect1: u32,
            pub sect2: u32,
            /// Sum of the four sections.
            pub sect_dims: u32,
            /// 1: divide pair i's angle by `ff[i]` (Llama 3's `rope_freqs`).
            pub has_ff: u32,
            /// Multiplies every angle (linear RoPE scaling; must be set: 1 for none).
            pub freq_scale: f32,
            /// Key heads (after the `n_heads` query heads), their head stride and row stride
            /// (from `k_offset`).
            pub k_heads: u32,
            pub k_head_dim: u32,
            pub k_stride: u32,
            /// Values per head normed by the RMSNorm (0: no norm).
            pub norm_n: u32,
            pub eps: f32,
        }
    }
    bindings!(v = 0, p = 1, positions = 2, ff = 3, qkn = 4);
}

/// `shaders/attention.wgsl`: KV store into the paged pool, causal GQA attention.
pub mod attention {
    use super::*;
    pub const FILE: &str = "attention.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub n_head: u32,
            pub n_kv: u32,
            pub head_dim: u32,
            /// Tokens per KV block.
            pub block: u32,
            /// Floats between tokens' `[q | k | v]` rows in `q`.
            pub q_stride: u32,
            /// Where a token's K and V rows start in its `[q | k | v]` row.
            pub k_offset: u32,
            pub v_offset: u32,
            /// n_kv · head_dim.
            pub kv_dim: u32,
            pub out_stride: u32,
            pub scale: f32,
            /// Sliding window: a token sees the last `window` positions (0: all).
            pub window: u32,
            /// Floats between a query token's heads (head_dim; 2·head_dim when gated).
            pub q_head: u32,
            /// 1: multiply the output by sigmoid of the gate stored after each query head.
            pub gated: u32,
            /// 1: a decode step (one token per session) whose query head and new key are
            /// normed and rotated here (`norm_rope`), not by `qk_norm_rope` before.
            pub rope_here: u32,
            /// As `rope::Params` (used with `rope_here`).
            pub n_rot: u32,
            pub neox: u32,
            pub theta_scale: f32,
            pub imrope: u32,
            pub sect0: u32,
            pub sect1: u32,
            pub sect2: u32,
            pub sect_dims: u32,
            pub has_ff: u32,
            pub freq_scale: f32,
            pub norm_n: u32,
            pub eps: f32,
        }
    }
    bindings!(q = 0, kc = 1, vc = 2, out = 3, p = 4, tmeta = 5, tables = 6, ff = 7, qkn = 8);
}

/// `shaders/ssm.wgsl`: the Mamba2 sequential scan (its conv is `conv.wgsl`).
pub mod ssm {
    use super::*;
    pub const FILE: &str = "ssm.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub d_inner: u32,
            pub d_state: u32,
            pub n_head: u32,
            pub n_group: u32,
            pub d_in_proj: u32,
            /// ssm_step4: 1 — store y·norm_w and per-workgroup Σ y² (a one-group RMSNorm fused
            /// into out_proj).
            pub fused_norm: u32,
        }
    }
    bindings!(zx = 0, w = 1, b = 2, dsk = 3, state = 4, xbc = 5, y = 6, p = 7, seqs = 8, state4 = 9, xbc4 = 10, zx4 = 11, norm_w = 12);
}

/// `shaders/ssd.wgsl`: the chunked (SSD) Mamba2 scan for prefill.
pub mod ssd {
    use super::*;
    pub const FILE: &str = "ssd.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub d_inner: u32,
            pub d_state: u32,
            pub n_head: u32,
            pub n_group: u32,
            pub d_in_proj: u32,
            pub n_chunks: u32,
            /// Floats: the session's slot in the state pool.
            pub state_off: u32,
        }
    }
    bindings!(zx = 0, xbc = 1, dtb = 2, a = 3, dsk = 4, ds = 5, decay = 6, y = 7, state = 8, p = 9);
}

/// `shaders/short_conv.wgsl`: LFM2's gated short convolution with carried state.
pub mod short_conv {
    use super::*;
    pub const FILE: &str = "short_conv.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub n_embd: u32,
            /// Taps of the convolution (LFM2's `shortconv.l_cache`).
            pub l_cache: u32,
            pub _pad: u32,
        }
    }
    bindings!(bcx = 0, w = 1, state = 2, y = 3, p = 4, seqs = 5);
}

/// `shaders/conv.wgsl`: causal depthwise conv with carried window (Mamba-1, DeltaNet).
pub mod conv {
    use super::*;
    pub const FILE: &str = "conv.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            /// Channels convolved: the first `channels` floats of each input row.
            pub channels: u32,
            pub d_conv: u32,
            /// Floats between input rows.
            pub x_stride: u32,
            pub has_bias: u32,
            /// Floats before the first convolved value of each row.
            pub x_offset: u32,
            pub _pad0: u32,
            pub _pad1: u32,
        }
    }
    bindings!(x = 0, w = 1, bias = 2, state = 3, y = 4, p = 5, seqs = 6);
}

/// `shaders/delta_net.wgsl`: gated DeltaNet prep, recurrence and chunked (WY) prefill.
pub mod delta_net {
    use super::*;
    pub const FILE: &str = "delta_net.wgsl";
    /// Tokens per chunk of the chunked form.
    pub const CHUNK: u32 = 64;
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub n_k: u32,
            pub n_v: u32,
            pub s_k: u32,
            pub s_v: u32,
            /// 0: value head h reads key head h % n_k (Qwen3.5); 1: h / (n_v / n_k).
            pub head_map: u32,
            /// 0: [b | a] rows; 1: per key head [b | a] (Qwen3-Next's `ssm_ba`).
            pub ba_interleaved: u32,
            pub n_chunks: u32,
            /// Floats: the session's slot in the state pool (chunked path).
            pub state_off: u32,
            pub eps: f32,
            pub scale: f32,
            pub _pad: u32,
        }
    }
    bindings!(xc = 0, ba = 1, dt_b = 2, a = 3, bg = 4, state = 5, out = 6, p = 7, seqs = 8, lm = 9, mm = 10, tm = 11, uw = 12);
}

/// `shaders/mamba1.wgsl`: the Mamba-1 selective scan.
pub mod mamba1 {
    use super::*;
    pub const FILE: &str = "mamba1.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n_tok: u32,
            pub d_inner: u32,
            pub d_state: u32,
            pub _pad: u32,
        }
    }
    bindings!(xc = 0, dbc = 1, xz = 2, a = 3, dsk = 4, state = 5, y = 6, p = 7, seqs = 8);
}

/// `shaders/elementwise.wgsl`: activations and residual adds.
pub mod elementwise {
    use super::*;
    pub const FILE: &str = "elementwise.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n: u32,
            pub a_offset: u32,
            pub b_offset: u32,
            pub groups_x: u32,
            pub alpha: f32,
        }
    }
    bindings!(a = 0, b = 1, p = 2);
}

/// `shaders/argmax.wgsl`: the index of each row's largest value.
pub mod argmax {
    use super::*;
    pub const FILE: &str = "argmax.wgsl";
    wgsl_struct! {
        pub struct Params {
            pub n: u32,
            pub _a: u32,
            pub _b: u32,
            pub _c: u32,
        }
    }
    bindings!(logits = 0, out = 1, p = 2);
}

/// `shaders/copy.wgsl`: a plain vec4 copy and a read-only pass (the bandwidth yardsticks).
pub mod copy {
    use super::*;
    pub const FILE: &str = "copy.wgsl";
    /// vec4s each invocation of `read_sweep` loads (`READS` in the shader).
    pub const READS: u64 = 8;
    wgsl_struct! {
        pub struct Params {
            pub groups_x: u32,
            /// `read_sweep`: invocations in the grid.
            pub stride: u32,
            /// `read_sweep`: a value the source never holds.
            pub never: f32,
            pub _c: u32,
        }
    }
    bindings!(src = 0, dst = 1, p = 2);
}

/// `shaders/dequant.wgsl`: dequantize a tensor part to f32 (tests, tools).
pub mod dequant {
    use super::*;
    pub const FILE: &str = "dequant.wgsl";
    wgsl_struct! {
        pub struct Params {
            /// Blocks to decode (elements for float types).
            pub n_blocks: u32,
            /// Head plane start, in words.
            pub head: u32,
            pub groups_x: u32,
            /// First block (element for float types) to decode.
            pub blk0: u32,
        }
    }
    bindings!(weights = 0, out = 1, p = 2);
}

/// Every shader module with its bindings and parameter members, for the layout test.
pub fn shader_mirrors() -> Vec<(&'static str, &'static [Binding], Vec<(&'static str, usize, usize)>)> {
    vec![
        (matmul::FILE, matmul::ALL, matmul::Params::members()),
        (norm::FILE, norm::ALL, norm::Params::members()),
        (rope::FILE, rope::ALL, rope::Params::members()),
        (attention::FILE, attention::ALL, attention::Params::members()),
        (ssm::FILE, ssm::ALL, ssm::Params::members()),
        (ssd::FILE, ssd::ALL, ssd::Params::members()),
        (short_conv::FILE, short_conv::ALL, short_conv::Params::members()),
        (conv::FILE, conv::ALL, conv::Params::members()),
        (delta_net::FILE, delta_net::ALL, delta_net::Params::members()),
        (mamba1::FILE, mamba1::ALL, mamba1::Params::members()),
        (moe::FILE, moe::ALL, moe::Params::members()),
        (elementwise::FILE, elementwise::ALL, elementwise::Params::members()),
        (argmax::FILE, argmax::ALL, argmax::Params::members()),
        (copy::FILE, copy::ALL, copy::Params::members()),
        (dequant::FILE, dequant::ALL, dequant::Params::members()),
    ]
}
