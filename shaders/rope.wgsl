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
// One workgroup per (token, head): 4 dispatches (two norms, two ropes) become one.

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
@group(0) @binding(5) var<storage, read> qn: array<f32>;                 // [norm_n] q_norm weight
@group(0) @binding(6) var<storage, read> kn: array<f32>;                 // [norm_n] k_norm weight

// (cos x, sin x) to about one ulp for |x| < 2^16·π/2, on any adapter: WGSL specifies cos/sin
// only to 2^−11 on [−π, π] and software adapters (SwiftShader) are that coarse. Quadrant
// reduction with π/2 split in three (Cody–Waite: j·DP1 is exact), then Cephes' sinf/cosf
// polynomials on [−π/4, π/4].
fn cos_sin(x: f32) -> vec2<f32> {
    let j = round(x * 0.6366197723675814);
    let r = ((x - j * 1.5703125) - j * 4.837512969970703e-4) - j * 7.549789954891882e-8;
    let z = r * r;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    switch (u32(i32(j) & 3)) {
        case 0u: { return vec2<f32>(c, s); }
        case 1u: { return vec2<f32>(-s, c); }
        case 2u: { return vec2<f32>(-c, -s); }
        default: { return vec2<f32>(s, -c); }
    }
}

var<workgroup> hv: array<f32, 512>;
var<workgroup> red: array<f32, 64>;

// Angle of pair i at position pos (ggml's theta, IMROPE sections, freq factors, scaling).
fn angle(pos: u32, i: u32) -> f32 {
    var theta = f32(pos);
    for (var k = 0u; k < i; k++) { theta *= p.theta_scale; }
    if (p.imrope != 0u) {
        let sector = i % p.sect_dims;
        let m = sector % 3u;
        let on = (m == 1u && sector < 3u * p.sect1) || (m == 2u && sector < 3u * p.sect2) || (m == 0u && sector < 3u * p.sect0);
        if (!on) { theta = 0.0; }
    }
    if (p.has_ff != 0u) { theta = theta / ff[i]; }
    return p.freq_scale * theta;
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
    for (var i = lid.x; i < n; i += 64u) {
        hv[i] = v[o + i];
    }
    workgroupBarrier();
    if (p.norm_n != 0u) {
        var ss = 0.0;
        for (var i = lid.x; i < p.norm_n; i += 64u) { ss += hv[i] * hv[i]; }
        red[lid.x] = ss;
        workgroupBarrier();
        for (var s = 32u; s > 0u; s >>= 1u) {
            if (lid.x < s) { red[lid.x] += red[lid.x + s]; }
            workgroupBarrier();
        }
        let sc = 1.0 / sqrt(red[0] / f32(p.norm_n) + p.eps);
        for (var i = lid.x; i < p.norm_n; i += 64u) {
            var w = qn[i];
            if (is_k) { w = kn[i]; }
            hv[i] = hv[i] * sc * w;
        }
        workgroupBarrier();
    }
    let half = p.n_rot / 2u;
    let pos = positions[t].x;
    for (var i = lid.x; i < half; i += 64u) {
        let cs = cos_sin(angle(pos, i));
        var a = 2u * i;
        var b = a + 1u;
        if (p.neox != 0u) { a = i; b = i + half; }
        let x0 = hv[a];
        let x1 = hv[b];
        hv[a] = x0 * cs.x - x1 * cs.y;
        hv[b] = x0 * cs.y + x1 * cs.x;
    }
    workgroupBarrier();
    for (var i = lid.x; i < n; i += 64u) {
        v[o + i] = hv[i];
    }
}
