// RMSNorm over rows of n values: y = x / sqrt(mean(x²) + eps) · w[(row % w_rows) · n + i].
// w_rows > 1 gives the grouped norm of Mamba2 (row = token · groups + group).
// One workgroup of 256 per row. rms_norm may add the result into y instead (y += alpha ·
// result: a post-norm joining the residual, Gemma 3); rms_norm_inplace may gate it (· SiLU of x
// at the same place of a [rows, x_stride] layout: the gated DeltaNet's output norm).
// rms_norm_add_next adds as rms_norm does and also makes the next pre-norm's input from the
// new y (a post-norm joining the residual, then the next layer's norm, Gemma 3): h[row · n
// + i] = y · w_next[i], and Σ y² of the row at h[h_base + row] — what a matmul's store_norm
// leaves, with one partial sum per row (shaders/matmul.wgsl, NormOut).

struct Params {
    n: u32,
    n_rows: u32,
    w_rows: u32,
    eps: f32,
    x_offset: u32,
    x_stride: u32,
    y_offset: u32,
    y_stride: u32,
    /// rms_norm: 1 — y += alpha · result.
    accumulate: u32,
    alpha: f32,
    /// rms_norm_inplace: 1 — result · silu(x[x_offset + row · x_stride + i]).
    gate: u32,
    /// rms_norm_add_next: float index in h of row 0's sum of squares.
    h_base: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> w_next: array<f32>;     // [n] (rms_norm_add_next)
@group(0) @binding(5) var<storage, read_write> h: array<f32>;    // [n_rows · n | n_rows] (rms_norm_add_next)

var<workgroup> red: array<f32, 256>;

fn reduce(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// 1/sqrt(mean(x²) + eps) of the n values of x from xo (the workgroup's row).
fn inv_rms(lid: u32, xo: u32) -> f32 {
    var ss = 0.0;
    for (var i = lid; i < p.n; i += 256u) { let v = x[xo + i]; ss += v * v; }
    return 1.0 / sqrt(reduce(lid, ss) / f32(p.n) + p.eps);
}

@compute @workgroup_size(256)
fn rms_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.x;
    let xo = p.x_offset + row * p.x_stride;
    let s = inv_rms(lid.x, xo);
    let yo = p.y_offset + row * p.y_stride;
    let wo = (row % p.w_rows) * p.n;
    if (p.accumulate != 0u) {
        for (var i = lid.x; i < p.n; i += 256u) { y[yo + i] += p.alpha * (x[xo + i] * s * w[wo + i]); }
        return;
    }
    for (var i = lid.x; i < p.n; i += 256u) { y[yo + i] = x[xo + i] * s * w[wo + i]; }
}

@compute @workgroup_size(256)
fn rms_norm_add_next(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.x;
    let xo = p.x_offset + row * p.x_stride;
    let s = inv_rms(lid.x, xo);
    let yo = p.y_offset + row * p.y_stride;
    let wo = (row % p.w_rows) * p.n;
    var sn = 0.0;
    for (var i = lid.x; i < p.n; i += 256u) {
        let v = y[yo + i] + p.alpha * (x[xo + i] * s * w[wo + i]);
        y[yo + i] = v;
        h[row * p.n + i] = v * w_next[i];
        sn += v * v;
    }
    let t = reduce(lid.x, sn);
    if (lid.x == 0u) { h[p.h_base + row] = t; }
}

@compute @workgroup_size(256)
fn rms_norm_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.x;
    let yo = p.y_offset + row * p.y_stride;
    var ss = 0.0;
    for (var i = lid.x; i < p.n; i += 256u) { let v = y[yo + i]; ss += v * v; }
    let s = 1.0 / sqrt(reduce(lid.x, ss) / f32(p.n) + p.eps);
    let wo = (row % p.w_rows) * p.n;
    if (p.gate != 0u) {
        let go = p.x_offset + row * p.x_stride;
        for (var i = lid.x; i < p.n; i += 256u) {
            let g = x[go + i];
            y[yo + i] = y[yo + i] * s * w[wo + i] * (g / (1.0 + exp(-g)));
        }
        return;
    }
    for (var i = lid.x; i < p.n; i += 256u) { y[yo + i] = y[yo + i] * s * w[wo + i]; }
}
