// The per-head steps between the q/k projections and attention, in place, in one dispatch
// for the query and the key heads together: an optional RMSNorm of each head (Qwen3's and
// Gemma 3's q_norm / k_norm, llama.cpp `build_norm` on [head_dim, n_head, n_tok]), then rotary
// position embedding. Rows are [n_tok, heads, head_dim] at head stride `head_dim` and row
// stride `stride` (q), `k_head_dim` / `k_stride` from `k_offset` (k, in the same buffer:
// attention's stacked [q | k | v] rows); token t is at position positions[t]
// (tokens of several sessions may mix). NORM rotates adjacent pairs (2i, 2i+1), NEOX split
// halves (i, i + n_rot/2); dims ≥ n_rot are left alone (n_rot 0: no rotation). theta_i = pos ·
// scale^i with scale = base^(−2 / n_rot) computed on the host, multiplied up one step at a
// time in f32 exactly as ggml's CPU rope does; cos and sin are computed here (`cos_sin`) to
// f32 precision on every adapter (positions of thousands give angles of thousands of radians).
// One workgroup per (token, head): 4 dispatches (two norms, two ropes) become one. The norm
// and rotation are `norm_rope` in rotary.wgsl, appended to this file.

struct Params {
    n_tok: u32,
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    k_offset: u32,  // floats before the first key row (keys live in v too)
    offset: u32,
    stride: u32,
    neox: u32,
    theta_scale: f32,
    groups_x: u32,
    /// 1: Qwen3.5's interleaved M-RoPE (IMROPE) for text: pair i rotates by the position when
    /// its sector i % sect_dims falls in section t, h or w (sector % 3 picks which, below
    /// 3·section), else by the 4th position, which is 0 for text — no rotation (ggml's
    /// `ggml_mrope_cache_init`).
    imrope: u32,
    sect0: u32,
    sect1: u32,
    sect2: u32,
    sect_dims: u32,
    /// 1: divide pair i's angle by ff[i] (Llama 3's `rope_freqs`, ggml's freq_factors).
    has_ff: u32,
    /// Linear RoPE scaling: the angle is multiplied by this (ggml's freq_scale; 1: none).
    freq_scale: f32,
    /// Key heads (after the n_heads query heads), their head stride and row stride (from k_offset).
    k_heads: u32,
    k_head_dim: u32,
    k_stride: u32,
    /// Values per head normed by the RMSNorm (0: no norm); its epsilon.
    norm_n: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read_write> v: array<f32>;            // q [n_tok, stride], k from k_offset [n_tok, k_stride]
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> positions: array<vec4<u32>>;   // [n_tok] (pos, …)
@group(0) @binding(3) var<storage, read> ff: array<f32>;                 // [n_rot / 2] (has_ff)
@group(0) @binding(4) var<storage, read> qkn: array<f32>;                // [2 · norm_n] q_norm, k_norm weights

var<workgroup> hv: array<f32, 512>;
var<workgroup> red: array<f32, 64>;

fn norm_weight(is_k: bool, i: u32) -> f32 {
    if (is_k) { return qkn[p.norm_n + i]; }
    return qkn[i];
}

@compute @workgroup_size(64)
fn qk_norm_rope(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let heads = p.n_heads + p.k_heads;
    let row = wg.y * p.groups_x + wg.x;   // t · heads + head (uniform in the workgroup)
    if (row >= p.n_tok * heads) { return; }
    let t = row / heads;
    let h = row % heads;
    let is_k = h >= p.n_heads;
    var o = p.offset + t * p.stride + h * p.head_dim;
    if (is_k) { o = p.k_offset + t * p.k_stride + (h - p.n_heads) * p.k_head_dim; }
    let n = max(p.norm_n, p.n_rot);
    for (var i = lid.x; i < n; i += 64u) { hv[i] = v[o + i]; }
    workgroupBarrier();
    norm_rope(0u, is_k, positions[t].x, lid.x);
    for (var i = lid.x; i < n; i += 64u) { v[o + i] = hv[i]; }
}
