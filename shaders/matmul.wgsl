// Quantized matrix products and embedding lookup, one weight type per instantiation: the
// host replaces LOAD_FN with that type's decoder from quant.wgsl (or a flat-float loader
// below) and BLOCK with its block size. Accumulates in f32.
//
// matmul: y[t, row0 + r] = alpha · (Σ_k W[r, k] · x[t, k] + bias[row0 + r])  (+ y[t, row0 + r] if
//   accumulate; the bias only when has_bias)
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
    has_bias: u32,   // add bias[row0 + r] before scaling
    // matmul_id only (mixture of experts): a 3-D weight [k, rows_per_expert, n_expert]
    expert_rows: u32, // rows of one expert
    x_per_pair: u32,  // 1: input row = the pair; 0: input row = pair / experts_per_token
    experts_per_token: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;     // one part, GPU layout
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // [n_tok, x_stride]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;     // [n_tok, y_stride]
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> tokens: array<u32>;      // [n_tok] (embed only)
@group(0) @binding(5) var<storage, read> bias: array<f32>;        // [rows of the whole tensor]
@group(0) @binding(6) var<storage, read> pairs: array<u32>;       // (token · k + slot) grouped by expert (matmul_id)
@group(0) @binding(7) var<storage, read> tiles: array<vec4<u32>>; // (expert, first in pairs, count, _) (matmul_id)

// The shared epilogue: bias, scale, residual accumulate, store.
fn store_row(idx: u32, r: u32, acc: f32) {
    var v = acc;
    if (p.has_bias != 0u) { v += bias[p.row0 + r]; }
    v *= p.alpha;
    if (p.accumulate != 0u) { v += y[idx]; }
    y[idx] = v;
}

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

// Dot product of block `blk` with the x groups starting at `xb`: per-block work done once.
fn dot_generic(blk: u32, xb: u32, head: u32) -> f32 {
    var acc = 0.0;
    for (var g = 0u; g < GPB; g++) { acc += dot(LOAD_FN(blk, g, head), x[xb + g]); }
    return acc;
}

fn dot_q8_0(blk: u32, xb: u32, head: u32) -> f32 {
    var acc = 0.0;
    for (var g = 0u; g < 8u; g++) { acc += dot(sbytes4(weights[blk * 8u + g]), x[xb + g]); }
    return acc * head_f16(head, blk);
}

fn dot_q4_0(blk: u32, xb: u32, head: u32) -> f32 {
    var acc = 0.0;
    for (var g = 0u; g < 8u; g++) { acc += dot(vec4<f32>(nibbles32(blk * 4u, g)) - 8.0, x[xb + g]); }
    return acc * head_f16(head, blk);
}

// Q4_K / Q5_K: per 32-element sub-block, Σ (d·sc·q − dmin·mn)·x = d·sc·Σq·x − dmin·mn·Σx.
fn dot_k(blk: u32, xb: u32, words: u32, has_qh: bool) -> f32 {
    let base = blk * words;
    let dm = unpack2x16float(weights[base]);
    var qs_base = base + 4u;
    if (has_qh) { qs_base = base + 12u; }
    var sum = 0.0;
    for (var j = 0u; j < 8u; j++) {
        let smn = k_scale_min(base + 1u, j);
        let c = j / 2u;
        let sh = vec4<u32>(4u * (j % 2u));
        var sq = 0.0;
        var sx = 0.0;
        for (var l4 = 0u; l4 < 8u; l4++) {
            var q = (bytes4(weights[qs_base + 8u * c + l4]) >> sh) & vec4<u32>(0xfu);
            if (has_qh) {
                q = q | (((bytes4(weights[base + 4u + l4]) >> vec4<u32>(j)) & vec4<u32>(1u)) << vec4<u32>(4u));
            }
            let xv = x[xb + 8u * j + l4];
            sq += dot(vec4<f32>(q), xv);
            sx += xv.x + xv.y + xv.z + xv.w;
        }
        sum += dm.x * smn.x * sq - dm.y * smn.y * sx;
    }
    return sum;
}
fn dot_q4_k(blk: u32, xb: u32, head: u32) -> f32 { return dot_k(blk, xb, 36u, false); }
fn dot_q5_k(blk: u32, xb: u32, head: u32) -> f32 { return dot_k(blk, xb, 44u, true); }

// Q6_K: one i8 scale per 16 elements.
fn dot_q6_k(blk: u32, xb: u32, head: u32) -> f32 {
    let base = blk * 52u;
    var sum = 0.0;
    for (var n = 0u; n < 2u; n++) {
        for (var qq = 0u; qq < 4u; qq++) {
            for (var l16 = 0u; l16 < 2u; l16++) {
                let si = 8u * n + l16 + 2u * qq;
                let sc = sbytes4(weights[base + 48u + si / 4u])[si % 4u];
                var sq = 0.0;
                for (var l4 = 0u; l4 < 4u; l4++) {
                    let l = 16u * l16 + 4u * l4;
                    let ql = (bytes4(weights[base + (64u * n + l + 32u * (qq & 1u)) / 4u]) >> vec4<u32>(4u * (qq >> 1u))) & vec4<u32>(0xfu);
                    let qh = (bytes4(weights[base + 32u + (32u * n + l) / 4u]) >> vec4<u32>(2u * qq)) & vec4<u32>(3u);
                    sq += dot(vec4<f32>(ql | (qh << vec4<u32>(4u))) - 32.0, x[xb + (128u * n + 32u * qq + l) / 4u]);
                }
                sum += sc * sq;
            }
        }
    }
    return sum * head_f16(head, blk);
}

// Q2_K: per 16 elements i, Σ (d·sc·q − dmin·mn)·x = d·sc·Σq·x − dmin·mn·Σx (scale byte i).
fn dot_q2_k(blk: u32, xb: u32, head: u32) -> f32 {
    let base = blk * 21u;
    let dm = unpack2x16float(weights[base + 20u]);
    var sum = 0.0;
    for (var i = 0u; i < 16u; i++) {
        // elements 16i..16i+16: half n = i/8, shift 2·((i%8)/2), quant bytes from 32n + 16(i%2)
        let sc = byte_at(base, i);
        let sh = vec4<u32>(2u * ((i % 8u) / 2u));
        let qw = base + 4u + 8u * (i / 8u) + 4u * (i % 2u);
        var sq = 0.0;
        var sx = 0.0;
        for (var l4 = 0u; l4 < 4u; l4++) {
            let q = (bytes4(weights[qw + l4]) >> sh) & vec4<u32>(3u);
            let xv = x[xb + 4u * i + l4];
            sq += dot(vec4<f32>(q), xv);
            sx += xv.x + xv.y + xv.z + xv.w;
        }
        sum += dm.x * f32(sc & 0xfu) * sq - dm.y * f32(sc >> 4u) * sx;
    }
    return sum;
}

// Q3_K: per 16 elements i, sc_i · Σ q·x, times d once.
fn dot_q3_k(blk: u32, xb: u32, head: u32) -> f32 {
    let base = blk * 27u;
    var sum = 0.0;
    for (var i = 0u; i < 16u; i++) {
        let j = (i % 8u) / 2u;
        let sh = vec4<u32>(2u * j);
        let hs = vec4<u32>(4u * (i / 8u) + j);
        let qw = base + 8u + 8u * (i / 8u) + 4u * (i % 2u);
        let hw = base + 4u * (i % 2u);
        var sq = 0.0;
        for (var l4 = 0u; l4 < 4u; l4++) {
            let ql = (bytes4(weights[qw + l4]) >> sh) & vec4<u32>(3u);
            let hb = (bytes4(weights[hw + l4]) >> hs) & vec4<u32>(1u);
            sq += dot(vec4<f32>(ql) - 4.0 + 4.0 * vec4<f32>(hb), x[xb + 4u * i + l4]);
        }
        sum += q3_k_scale(base + 24u, i) * sq;
    }
    return sum * head_f16(head, blk);
}

// IQ4_XS: per 32-element sub-block, its scale · Σ table(q)·x.
fn dot_iq4_xs(blk: u32, xb: u32, head: u32) -> f32 {
    let base = blk * 34u;
    var sum = 0.0;
    for (var ib = 0u; ib < 8u; ib++) {
        var sq = 0.0;
        for (var g = 0u; g < 8u; g++) {
            let q = nibbles32(base + 2u + 4u * ib, g);
            sq += dot(vec4<f32>(IQ4NL[q.x], IQ4NL[q.y], IQ4NL[q.z], IQ4NL[q.w]), x[xb + 8u * ib + g]);
        }
        sum += iq4_xs_scale(base, ib) * sq;
    }
    return sum;
}

const BS: u32 = BLOCKu;
const GPB: u32 = BLOCKu / 4u;   // groups of 4 per block
const TT: u32 = 8u;             // tokens per workgroup (matmul)
const TR: u32 = 16u;            // tokens per invocation (matmul_rows)

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
        store_row(p.y_offset + (t0 + lid.x) * p.y_stride + p.row0 + r, r, red[0][lid.x]);
    }
}

// The same product with one invocation per weight row and no workgroup reduction: on CPU
// adapters (lavapipe, SwiftShader) barriers and workgroup launches dominate the cost of
// the variant above, while each lane streaming its own row is what a CPU does best.
@compute @workgroup_size(64)
fn matmul_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y * p.groups_x * 64u + gid.x;
    if (r >= p.n_rows) { return; }
    let t0 = gid.z * TR;
    let nt = min(TR, p.n_tok - t0);
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    // Sixteen token rows of x (tokens past the end repeat the last one; their sums are
    // dropped), accumulated in four vec4 registers: CPU adapters spill indexed arrays.
    var xo: array<u32, 16>;
    for (var t = 0u; t < TR; t++) { xo[t] = (p.x_offset + (t0 + min(t, nt - 1u)) * p.x_stride) / 4u; }
    let o0 = vec4<u32>(xo[0], xo[1], xo[2], xo[3]);
    let o1 = vec4<u32>(xo[4], xo[5], xo[6], xo[7]);
    let o2 = vec4<u32>(xo[8], xo[9], xo[10], xo[11]);
    let o3 = vec4<u32>(xo[12], xo[13], xo[14], xo[15]);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var j = 0u; j < groups; j++) {
        let w = LOAD_FN(r * bpr + j / GPB, j % GPB, p.head);
        a0 += vec4<f32>(dot(w, x[o0.x + j]), dot(w, x[o0.y + j]), dot(w, x[o0.z + j]), dot(w, x[o0.w + j]));
        a1 += vec4<f32>(dot(w, x[o1.x + j]), dot(w, x[o1.y + j]), dot(w, x[o1.z + j]), dot(w, x[o1.w + j]));
        if (nt > 8u) {
            a2 += vec4<f32>(dot(w, x[o2.x + j]), dot(w, x[o2.y + j]), dot(w, x[o2.z + j]), dot(w, x[o2.w + j]));
            a3 += vec4<f32>(dot(w, x[o3.x + j]), dot(w, x[o3.y + j]), dot(w, x[o3.z + j]), dot(w, x[o3.w + j]));
        }
    }
    for (var t = 0u; t < nt; t++) {
        let idx = p.y_offset + (t0 + t) * p.y_stride + p.row0 + r;
        var v = a0[t % 4u];
        if (t >= 12u) { v = a3[t % 4u]; } else if (t >= 8u) { v = a2[t % 4u]; } else if (t >= 4u) { v = a1[t % 4u]; }
        store_row(idx, r, v);
    }
}

// matmul_rows for a single token (decode): one accumulator in a register; blocks in the
// outer loop so a block's scales are decoded once (the inner loop has a constant trip count
// and is unrolled, letting the compiler share the per-block work).
@compute @workgroup_size(64)
fn matvec_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y * p.groups_x * 64u + gid.x;
    if (r >= p.n_rows) { return; }
    let bpr = p.k / BS;
    let xo = p.x_offset / 4u;
    var acc = 0.0;
    for (var b = 0u; b < bpr; b++) {
        acc += DOT_FN(r * bpr + b, xo + b * GPB, p.head);
    }
    store_row(p.y_offset + p.row0 + r, r, acc);
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

// ---- mixture of experts (llama.cpp's mul_mat_id): y[pair, r] = W_e[r, :] · x[in(pair)] for the
// pairs (token, slot) routed to expert e, grouped by expert into tiles (moe.wgsl `moe_group`)
// so each expert row is read once per tile, and only the chosen experts' rows are read. The
// grid comes from the GPU (indirect dispatch): tiles × rows. Global weight row g = e ·
// expert_rows + r; a part only computes the rows it holds.

fn id_x_row(pair: u32) -> u32 {
    if (p.x_per_pair != 0u) { return pair; }
    return pair / p.experts_per_token;
}

// One invocation per row, up to 16 pairs of a tile each (CPU adapters).
@compute @workgroup_size(64)
fn matmul_id_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let tile = tiles[wg.x];
    let r = gid.y * 64u + (gid.x % 64u);
    if (r >= p.expert_rows || tile.z == 0u) { return; }
    let g = tile.x * p.expert_rows + r;
    if (g < p.row0 || g >= p.row0 + p.n_rows) { return; }
    let lr = g - p.row0;
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    let nt = min(tile.z, TR);
    var xo: array<u32, 16>;
    for (var t = 0u; t < TR; t++) { xo[t] = (p.x_offset + id_x_row(pairs[tile.y + min(t, nt - 1u)]) * p.x_stride) / 4u; }
    let o0 = vec4<u32>(xo[0], xo[1], xo[2], xo[3]);
    let o1 = vec4<u32>(xo[4], xo[5], xo[6], xo[7]);
    let o2 = vec4<u32>(xo[8], xo[9], xo[10], xo[11]);
    let o3 = vec4<u32>(xo[12], xo[13], xo[14], xo[15]);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var j = 0u; j < groups; j++) {
        let w = LOAD_FN(lr * bpr + j / GPB, j % GPB, p.head);
        a0 += vec4<f32>(dot(w, x[o0.x + j]), dot(w, x[o0.y + j]), dot(w, x[o0.z + j]), dot(w, x[o0.w + j]));
        if (nt > 4u) { a1 += vec4<f32>(dot(w, x[o1.x + j]), dot(w, x[o1.y + j]), dot(w, x[o1.z + j]), dot(w, x[o1.w + j])); }
        if (nt > 8u) {
            a2 += vec4<f32>(dot(w, x[o2.x + j]), dot(w, x[o2.y + j]), dot(w, x[o2.z + j]), dot(w, x[o2.w + j]));
            a3 += vec4<f32>(dot(w, x[o3.x + j]), dot(w, x[o3.y + j]), dot(w, x[o3.z + j]), dot(w, x[o3.w + j]));
        }
    }
    for (var t = 0u; t < nt; t++) {
        var v = a0[t % 4u];
        if (t >= 12u) { v = a3[t % 4u]; } else if (t >= 8u) { v = a2[t % 4u]; } else if (t >= 4u) { v = a1[t % 4u]; }
        y[p.y_offset + pairs[tile.y + t] * p.y_stride + r] = p.alpha * v;
    }
}

// One workgroup per (tile, row): 64 lanes along the row, a workgroup reduction, up to 8 pairs
// of the tile (GPUs).
var<workgroup> id_tile: vec4<u32>;

@compute @workgroup_size(64)
fn matmul_id(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // The tile through workgroup memory, so that branching on it stays uniform (barriers below).
    if (lid.x == 0u) { id_tile = tiles[wg.x]; }
    let tile = workgroupUniformLoad(&id_tile);
    let r = wg.y;
    if (r >= p.expert_rows || tile.z == 0u) { return; }
    let g = tile.x * p.expert_rows + r;
    if (g < p.row0 || g >= p.row0 + p.n_rows) { return; }
    let lr = g - p.row0;
    let nt = min(tile.z, TT);
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    var acc: array<f32, 8>;
    for (var j = lid.x; j < groups; j += 64u) {
        let w = LOAD_FN(lr * bpr + j / GPB, j % GPB, p.head);
        for (var t = 0u; t < nt; t++) {
            acc[t] += dot(w, x[(p.x_offset + id_x_row(pairs[tile.y + t]) * p.x_stride) / 4u + j]);
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
        y[p.y_offset + pairs[tile.y + lid.x] * p.y_stride + r] = p.alpha * red[0][lid.x];
    }
}
