// Rotary position embedding, in place, on [n_tok, n_heads, head_dim] rows (row stride
// `stride`); token t is at position positions[t] (tokens of several sessions may mix). NORM rotates adjacent pairs (2i, 2i+1), NEOX split halves
// (i, i + n_rot/2); dims ≥ n_rot are left alone. theta_i = pos · scale^i with scale =
// base^(−2 / n_rot) computed on the host, multiplied up one step at a time in f32 exactly as
// ggml's CPU rope does; cos and sin are computed here (`cos_sin`) to f32 precision on every
// adapter (positions of thousands give angles of thousands of radians).

struct Params {
    n_tok: u32,
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    _pos0: u32,
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
}

@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> positions: array<vec4<u32>>;   // [n_tok] (pos, …)
@group(0) @binding(3) var<storage, read> ff: array<f32>;                 // [n_rot / 2] (has_ff)

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

@compute @workgroup_size(64)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.n_rot / 2u;
    let idx = gid.y * p.groups_x * 64u + gid.x;
    if (idx >= p.n_tok * p.n_heads * half) { return; }
    let i = idx % half;
    let h = (idx / half) % p.n_heads;
    let t = idx / (half * p.n_heads);
    var theta = f32(positions[t].x);
    for (var k = 0u; k < i; k++) { theta *= p.theta_scale; }
    if (p.imrope != 0u) {
        let sector = i % p.sect_dims;
        let m = sector % 3u;
        let on = (m == 1u && sector < 3u * p.sect1) || (m == 2u && sector < 3u * p.sect2) || (m == 0u && sector < 3u * p.sect0);
        if (!on) { theta = 0.0; }
    }
    if (p.has_ff != 0u) { theta = theta / ff[i]; }
    theta = p.freq_scale * theta;
    let cs = cos_sin(theta);
    let c = cs.x;
    let s = cs.y;
    let o = p.offset + t * p.stride + h * p.head_dim;
    var a = o + 2u * i;
    var b = a + 1u;
    if (p.neox != 0u) { a = o + i; b = o + i + half; }
    let x0 = v[a];
    let x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}
