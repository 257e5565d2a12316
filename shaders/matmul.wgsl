// Quantized matrix products and embedding lookup, one weight type per instantiation: the
// host replaces LOAD_FN with that type's decoder from quant.wgsl (or a flat-float loader
// below) and BLOCK with its block size. Accumulates in f32.
//
// matmul: y[t, row0 + r] = alpha · Σ_k W[r, k] · x[t, k]  (+ y[t, row0 + r] if accumulate)
//   one workgroup per weight row r (2-D grid over rows) and per tile of 8 tokens (z), so a
//   row's quants are decoded once for up to 8 tokens; 64 invocations stride along k.
// embed: y[t, :] = alpha · W[tokens[t] - row0, :] for the tokens whose row is in this part.

struct Params {
    k: u32,          // row length (multiple of 4 and of BLOCK)
    n_rows: u32,     // rows in this part
    n_tok: u32,
    row0: u32,       // first row of this part (output column offset / token id offset)
    x_offset: u32,   // floats (multiple of 4)
    x_stride: u32,   // floats between tokens (multiple of 4)
    y_offset: u32,
    y_stride: u32,
    head: u32,       // head plane start in words
    accumulate: u32,
    alpha: f32,
    groups_x: u32,   // workgroups along x (rows = y * groups_x + x)
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;     // one part, GPU layout
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // [n_tok, x_stride]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;     // [n_tok, y_stride]
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> tokens: array<u32>;      // [n_tok] (embed only)

fn load_f32x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let e = 4u * blk;
    return vec4<f32>(bitcast<f32>(weights[e]), bitcast<f32>(weights[e + 1u]),
                     bitcast<f32>(weights[e + 2u]), bitcast<f32>(weights[e + 3u]));
}
fn load_f16x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(weights[2u * blk]), unpack2x16float(weights[2u * blk + 1u]));
}
fn load_bf16x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let a = weights[2u * blk];
    let b = weights[2u * blk + 1u];
    return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u),
                     bitcast<f32>(b << 16u), bitcast<f32>(b & 0xffff0000u));
}

const BS: u32 = BLOCKu;
const GPB: u32 = BLOCKu / 4u;   // groups of 4 per block
const TT: u32 = 8u;             // tokens per workgroup

var<workgroup> red: array<array<f32, 8>, 64>;

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wg.y * p.groups_x + wg.x;
    if (r >= p.n_rows) { return; }
    let t0 = wg.z * TT;
    let nt = min(TT, p.n_tok - t0);
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    var acc: array<f32, 8>;
    for (var j = lid.x; j < groups; j += 64u) {
        let w = LOAD_FN(r * bpr + j / GPB, j % GPB, p.head);
        for (var t = 0u; t < nt; t++) {
            acc[t] += dot(w, x[(p.x_offset + (t0 + t) * p.x_stride) / 4u + j]);
        }
    }
    for (var t = 0u; t < TT; t++) { red[lid.x][t] = acc[t]; }
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            for (var t = 0u; t < TT; t++) { red[lid.x][t] += red[lid.x + s][t]; }
        }
        workgroupBarrier();
    }
    if (lid.x < nt) {
        let idx = p.y_offset + (t0 + lid.x) * p.y_stride + p.row0 + r;
        var v = p.alpha * red[0][lid.x];
        if (p.accumulate != 0u) { v += y[idx]; }
        y[idx] = v;
    }
}

// The same product with one invocation per weight row and no workgroup reduction: on CPU
// adapters (lavapipe, SwiftShader) barriers and workgroup launches dominate the cost of
// the variant above, while each lane streaming its own row is what a CPU does best.
@compute @workgroup_size(64)
fn matmul_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y * p.groups_x * 64u + gid.x;
    if (r >= p.n_rows) { return; }
    let t0 = gid.z * TT;
    let nt = min(TT, p.n_tok - t0);
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    var acc: array<f32, 8>;
    for (var j = 0u; j < groups; j++) {
        let w = LOAD_FN(r * bpr + j / GPB, j % GPB, p.head);
        for (var t = 0u; t < nt; t++) {
            acc[t] += dot(w, x[(p.x_offset + (t0 + t) * p.x_stride) / 4u + j]);
        }
    }
    for (var t = 0u; t < nt; t++) {
        let idx = p.y_offset + (t0 + t) * p.y_stride + p.row0 + r;
        var v = p.alpha * acc[t];
        if (p.accumulate != 0u) { v += y[idx]; }
        y[idx] = v;
    }
}

// matmul_rows for a single token (decode): one accumulator in a register.
@compute @workgroup_size(64)
fn matvec_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y * p.groups_x * 64u + gid.x;
    if (r >= p.n_rows) { return; }
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    let xo = p.x_offset / 4u;
    var acc = 0.0;
    for (var j = 0u; j < groups; j++) {
        acc += dot(LOAD_FN(r * bpr + j / GPB, j % GPB, p.head), x[xo + j]);
    }
    let idx = p.y_offset + p.row0 + r;
    var v = p.alpha * acc;
    if (p.accumulate != 0u) { v += y[idx]; }
    y[idx] = v;
}

@compute @workgroup_size(64)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>) {
    let groups = p.k / 4u;
    let i = gid.y * p.groups_x * 64u + gid.x;
    if (i >= p.n_tok * groups) { return; }
    let t = i / groups;
    let j = i % groups;
    let tok = tokens[t];
    if (tok < p.row0 || tok >= p.row0 + p.n_rows) { return; }
    let w = p.alpha * LOAD_FN((tok - p.row0) * (p.k / BS) + j / GPB, j % GPB, p.head);
    let o = p.y_offset + t * p.y_stride + 4u * j;
    y[o] = w.x; y[o + 1u] = w.y; y[o + 2u] = w.z; y[o + 3u] = w.w;
}
