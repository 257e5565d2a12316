// Rotary position embedding, in place, on [n_tok, n_heads, head_dim] rows (row stride
// `stride`); token t is at position positions[t] (tokens of several sessions may mix). NORM rotates adjacent pairs (2i, 2i+1), NEOX split halves
// (i, i + n_rot/2); dims ≥ n_rot are left alone. theta_i = pos · base^(−2i / n_rot).

struct Params {
    n_tok: u32,
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    _pos0: u32,
    offset: u32,
    stride: u32,
    neox: u32,
    base: f32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> positions: array<vec4<u32>>;   // [n_tok] (pos, …)

@compute @workgroup_size(64)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.n_rot / 2u;
    let idx = gid.y * p.groups_x * 64u + gid.x;
    if (idx >= p.n_tok * p.n_heads * half) { return; }
    let i = idx % half;
    let h = (idx / half) % p.n_heads;
    let t = idx / (half * p.n_heads);
    let theta = f32(positions[t].x) * pow(p.base, -2.0 * f32(i) / f32(p.n_rot));
    let c = cos(theta);
    let s = sin(theta);
    let o = p.offset + t * p.stride + h * p.head_dim;
    var a = o + 2u * i;
    var b = a + 1u;
    if (p.neox != 0u) { a = o + i; b = o + i + half; }
    let x0 = v[a];
    let x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}
