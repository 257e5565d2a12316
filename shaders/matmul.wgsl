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
    // epilogue activation after bias and scale: 0 none; 1 silu(g)·v, 2 gelu_ggml(g)·v with g =
    // bias[idx], the gate projection laid out as y (SwiGLU / GeGLU: no bias then); 3 max(v, 0)²;
    // 4 silu(g)·v, 5 gelu_ggml(g)·v with g the first pass's result (paired gate·up)
    act: u32,
    // RMS scale of the input (a Mamba2 layer's grouped norm, n_group = 1, fused into out_proj):
    // when norm_count > 0 the result is × 1/sqrt(Σ_i x_f[norm_base + t·norm_count + i] /
    // norm_width + norm_eps) before bias and scale, x_f the x buffer as floats: the partial
    // Σ y² the scan (ssm_step4) left after the token rows.
    norm_base: u32,
    norm_count: u32,
    norm_width: u32,
    norm_eps: f32,
    // Causal conv in the epilogue (decode, one token per session; STORE_FN = store_conv): rows
    // conv_row0 .. conv_row0 + conv_channels of the result are a Mamba2 in_proj's xBC; each
    // is convolved with its channel's carried window (conv_state [slots, conv_channels,
    // conv_k − 1]) and taps (bias [conv_channels, conv_k]), + conv_b (conv_has_bias), SiLU,
    // and stored in place (as shaders/conv.wgsl computes it, in the same order).
    conv_row0: u32,
    conv_channels: u32,
    conv_k: u32,
    conv_has_bias: u32,
    // The next pre-norm in the epilogue (decode, one token; STORE_FN = store_norm): besides y,
    // store y·norm_w[row0 + r] into h_out[row0 + r], and each workgroup's Σ y² into
    // h_out[out_base + workgroup] (norm_flush); a consumer reads h_out with norm_base = out_base.
    out_base: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;     // one part, GPU layout
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // [n_tok, x_stride]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;     // [n_tok, y_stride]
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> tokens: array<u32>;      // [n_tok] (embed only)
@group(0) @binding(5) var<storage, read> bias: array<f32>;        // [rows of the whole tensor], or the gate [n_tok, y_stride] (act 1, 2)
@group(0) @binding(6) var<storage, read> pairs: array<u32>;       // (token · k + slot) grouped by expert (matmul_id)
@group(0) @binding(7) var<storage, read> tiles: array<vec4<u32>>; // (expert, first in pairs, count, _) (matmul_id)
@group(0) @binding(8) var<storage, read> weights4: array<vec4<u32>>; // the weights again, 4 words per load
@group(0) @binding(9) var<storage, read> conv_b: array<f32>;      // [conv_channels] (store_conv)
@group(0) @binding(10) var<storage, read_write> conv_state: array<f32>; // [slots, conv_channels, conv_k − 1] (store_conv)
@group(0) @binding(11) var<storage, read> seqs: array<vec4<u32>>; // (first token, count, slot, _) per session (store_conv)
@group(0) @binding(12) var<storage, read> weights_b: array<u32>;   // the second matrix of a paired product (gate·up)
@group(0) @binding(13) var<storage, read> weights4_b: array<vec4<u32>>; // the same as vec4
@group(0) @binding(14) var<storage, read> norm_w: array<f32>;     // [rows of the whole tensor] the next pre-norm's weight (store_norm)
@group(0) @binding(15) var<storage, read_write> h_out: array<f32>; // [rows of the whole tensor | partial sums] (store_norm)

// A paired product (the host's `paired` form of this module: two matrices of one type and
// shape in one dispatch) runs each entry point's body twice, the second time with `second`
// set and every weight load reading weights_b / weights4_b.
var<private> second: bool;

// The shared epilogue: bias, scale, activation (a gated FFN's gate·up, ReLU²), residual
// accumulate, store.
fn store_row(idx: u32, r: u32, acc: f32) {
    var v = acc;
    if (p.norm_count != 0u) { v *= rms_scale((idx - p.y_offset) / p.y_stride); }
    if (p.has_bias != 0u) { v += bias[p.row0 + r]; }
    v *= p.alpha;
    switch p.act {
        case 1u: { v = silu_f32(bias[idx]) * v; }
        case 2u: { v = gelu_ggml(bias[idx]) * v; }
        case 3u: { let m = max(v, 0.0); v = m * m; }
        // A paired gate·up product: the first pass stores the gate, the second gates by it.
        case 4u, 5u: {
            if (!second) {
                y[idx] = v;
                return;
            }
            let g = y[idx];
            if (p.act == 4u) { v = silu_f32(g) * v; } else { v = gelu_ggml(g) * v; }
        }
        default: {}
    }
    if (p.accumulate != 0u) { v += y[idx]; }
    STORE_FN(idx, r, v);
}

fn store_y(idx: u32, r: u32, v: f32) {
    y[idx] = v;
}

// 1/sqrt(mean + eps) of token t's input from the partial sums of squares after the token rows,
// summed in order once per invocation and token (a vec4 load per four partials where they
// start on a whole vec4: the loads, not the adds, cost on CPU adapters).
var<private> rs_t: u32 = 0xffffffffu;
var<private> rs_v: f32;
fn rms_scale(t: u32) -> f32 {
    if (t == rs_t) { return rs_v; }
    var s = 0.0;
    let o = p.norm_base + t * p.norm_count;
    if (o % 4u == 0u) {
        for (var i = 0u; i < p.norm_count; i += 4u) {
            let v = x[(o + i) / 4u];
            s += v.x;
            if (i + 1u < p.norm_count) { s += v.y; }
            if (i + 2u < p.norm_count) { s += v.z; }
            if (i + 3u < p.norm_count) { s += v.w; }
        }
    } else {
        for (var i = 0u; i < p.norm_count; i++) { s += x[(o + i) / 4u][(o + i) % 4u]; }
    }
    rs_t = t;
    rs_v = 1.0 / sqrt(s / f32(p.norm_width) + p.norm_eps);
    return rs_v;
}

// The residual rows of a decode step's last product with the next pre-norm fused (llama.cpp
// build_norm, LLM_NORM_RMS, split between two dispatches): y as store_y, y·norm_w into h_out,
// and y² summed per invocation; norm_flush then leaves the workgroup's sum after the rows.
var<private> nsq: f32;
var<workgroup> nsq_wg: array<f32, 64>;
fn store_norm(idx: u32, r: u32, v: f32) {
    y[idx] = v;
    let e = p.row0 + r;
    h_out[e] = v * norm_w[e];
    nsq += v * v;
}

// The end of every decode kernel (NORM_FLUSH), in uniform control flow (a barrier) where the
// store is store_norm:
// invocation `li` of `size` adds its sum to the workgroup's, whose rows start at
// slot · rows, stored at h_out[out_base + slot] when the workgroup has rows.
fn norm_flush(li: u32, size: u32, slot: u32, rows: u32) {
    nsq_wg[li] = nsq;
    workgroupBarrier();
    if (li == 0u && slot * rows < p.n_rows) {
        var s = 0.0;
        for (var i = 0u; i < size; i++) { s += nsq_wg[i]; }
        h_out[p.out_base + slot] = s;
    }
}

// The kernels' flush with the other stores (store_y, store_conv): nothing to leave.
fn norm_flush_none(li: u32, size: u32, slot: u32, rows: u32) {}

// The xBC rows of a Mamba2 in_proj: conv of the channel's window [state | v] with its taps
// (bias holds them), + conv bias, SiLU, in place; the window moves on by v. Other rows as
// store_y. Decode only: token t is session t (one token each).
fn store_conv(idx: u32, r: u32, v: f32) {
    let row = p.row0 + r;
    if (row < p.conv_row0 || row >= p.conv_row0 + p.conv_channels) {
        y[idx] = v;
        return;
    }
    let c = row - p.conv_row0;
    let k = p.conv_k;
    let t = (idx - p.y_offset) / p.y_stride;
    let so = (seqs[t].z * p.conv_channels + c) * (k - 1u);
    var acc = 0.0;
    if (p.conv_has_bias != 0u) { acc = conv_b[c]; }
    for (var i = 0u; i + 1u < k; i++) {
        let s = conv_state[so + i];
        acc += bias[c * k + i] * s;
        if (i > 0u) { conv_state[so + i - 1u] = s; }
    }
    acc += bias[c * k + k - 1u] * v;
    conv_state[so + k - 2u] = v;
    y[idx] = acc / (1.0 + exp(-acc));
}

fn load_f32x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let e = 4u * blk;
    return vec4<f32>(bitcast<f32>(weights[e]), bitcast<f32>(weights[e + 1u]),
                     bitcast<f32>(weights[e + 2u]), bitcast<f32>(weights[e + 3u]));
}
// Group blk of an F32 part in one load (the 4-row kernels, which bind weights4).
fn load4_f32x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(weights4[blk]);
}
// The two bf16 halves of a word (low first) as f32.
fn bf16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}
fn load_f16x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(weights[2u * blk]), unpack2x16float(weights[2u * blk + 1u]));
}
fn load_bf16x4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return vec4<f32>(bf16x2(weights[2u * blk]), bf16x2(weights[2u * blk + 1u]));
}

// Dot product of block `blk` with the x groups starting at `xb`: per-block work done once.
fn dot_generic(blk: u32, xb: u32, head: u32) -> f32 {
    var acc = 0.0;
    for (var g = 0u; g < GPB; g++) { acc += dot(LOAD_FN(blk, g, head), x[xb + g]); }
    return acc;
}

fn dot_q4_0(blk: u32, xb: u32, head: u32) -> f32 {
    var acc = 0.0;
    for (var g = 0u; g < 8u; g++) { acc += dot(vec4<f32>(nibbles32(blk * 4u, g)) - 8.0, x[xb + g]); }
    return acc * head_f16(head, blk);
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
const TR: u32 = 16u;            // pairs per invocation (matmul_id_rows)

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

// On CPU adapters (lavapipe, SwiftShader) barriers and workgroup launches dominate the cost
// of the variant above, while each lane streaming its own rows is what a CPU does best:
// matvec_rows (decode, one row per invocation), matvec_rows4 and matmul_tile below.

// Decode, one row per invocation: one accumulator in a register; blocks in the
// outer loop so a block's scales are decoded once (the inner loop has a constant trip count
// and is unrolled, letting the compiler share the per-block work).
@compute @workgroup_size(64)
fn matvec_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Invocations past the last row compute the last row and store nothing.
    let r = gid.y * p.groups_x * 64u + gid.x;
    let rc = min(r, p.n_rows - 1u);
    let bpr = p.k / BS;
    let xo = p.x_offset / 4u;
    var acc = 0.0;
    for (var b = 0u; b < bpr; b++) {
        acc += DOT_FN(rc * bpr + b, xo + b * GPB, p.head);
    }
    if (r < p.n_rows) { store_row(p.y_offset + p.row0 + r, r, acc); }
    NORM_FLUSH(lid.x, 64u, gid.y * p.groups_x + gid.x / 64u, 64u);
}

// ---- decode on CPU adapters: four rows per invocation --------------------------------
// On CPU adapters (lavapipe, SwiftShader) every storage-buffer load is a loop over the SIMD
// lanes, so the count of loaded words, not arithmetic, bounds a matrix–vector product: one
// row per invocation reloads all of x for every row (for Q4_K, 256 x words per 36 weight
// words). Here an invocation owns four rows (block indices rb.x..rb.w of one column block),
// loads each x group once for the four, and each weight word once.

fn dot4_generic(rb: vec4<u32>, xb: u32, head: u32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    for (var g = 0u; g < GPB; g++) {
        let xv = x[xb + g];
        acc += vec4<f32>(dot(LOAD4_FN(rb.x, g, head), xv), dot(LOAD4_FN(rb.y, g, head), xv),
                         dot(LOAD4_FN(rb.z, g, head), xv), dot(LOAD4_FN(rb.w, g, head), xv));
    }
    return acc;
}

// Kept apart from dot4x_q8_0 (the same arithmetic, x from an x16 chunk) on purpose: built
// through it, SwiftShader's Q8_0 decode ran 0.31 vs 0.47-0.49 tok/s (granite-350m, 2026-12-02).
fn dot4_q8_0(rb: vec4<u32>, xb: u32, head: u32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    for (var h = 0u; h < 2u; h++) {
        let w0 = weights4[2u * rb.x + h];
        let w1 = weights4[2u * rb.y + h];
        let w2 = weights4[2u * rb.z + h];
        let w3 = weights4[2u * rb.w + h];
        for (var t = 0u; t < 4u; t++) {
            let xv = x[xb + 4u * h + t];
            acc += vec4<f32>(dot(sbytes4(w0[t]), xv), dot(sbytes4(w1[t]), xv), dot(sbytes4(w2[t]), xv), dot(sbytes4(w3[t]), xv));
        }
    }
    return acc * vec4<f32>(head_f16(head, rb.x), head_f16(head, rb.y), head_f16(head, rb.z), head_f16(head, rb.w));
}

// Byte i (0..11) of a K-quant block's 12 scale bytes, held in three words.
fn k12(s: vec3<u32>, i: u32) -> u32 {
    return (s[i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// (scale, min) of sub-block j from the 12 scale bytes (as k_scale_min).
fn k_sm(s: vec3<u32>, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(k12(s, j) & 63u), f32(k12(s, j + 4u) & 63u));
    }
    let hi = k12(s, j + 4u);
    return vec2<f32>(f32((hi & 0xfu) | ((k12(s, j - 4u) >> 6u) << 4u)),
                     f32((hi >> 4u) | ((k12(s, j) >> 6u) << 4u)));
}

// Q5_K (Q4_K has its own 8-row kernel below): per 64-element chunk c, sub-blocks 2c (low
// nibbles) and 2c+1 (high nibbles)
// of the same 8 quant words; Σ (d·sc·q − dmin·mn)·x = d·sc·Σq·x − dmin·mn·Σx.
fn dot4_k(rb: vec4<u32>, xb: u32, words: u32, has_qh: bool) -> vec4<f32> {
    // Word offsets are multiples of 4 (36 and 44 words per block): whole vec4 loads.
    var base: array<u32, 4>;
    var dm: array<vec2<f32>, 4>;
    var sc: array<vec3<u32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        base[i] = rb[i] * (words / 4u);
        let h = weights4[base[i]];
        dm[i] = unpack2x16float(h.x);
        sc[i] = h.yzw;
    }
    var qo = 1u;
    if (has_qh) { qo = 3u; }
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        var xa: array<vec4<f32>, 16>;
        var sx0 = 0.0;
        var sx1 = 0.0;
        for (var l = 0u; l < 8u; l++) {
            xa[l] = x[xb + 16u * c + l];
            xa[8u + l] = x[xb + 16u * c + 8u + l];
            sx0 += xa[l].x + xa[l].y + xa[l].z + xa[l].w;
            sx1 += xa[8u + l].x + xa[8u + l].y + xa[8u + l].z + xa[8u + l].w;
        }
        for (var i = 0u; i < 4u; i++) {
            var s0 = 0.0;
            var s1 = 0.0;
            for (var h2 = 0u; h2 < 2u; h2++) {
                let qw = weights4[base[i] + qo + 2u * c + h2];
                var hw = vec4<u32>(0u);
                if (has_qh) { hw = weights4[base[i] + 1u + h2]; }
                for (var t = 0u; t < 4u; t++) {
                    let l4 = 4u * h2 + t;
                    let q = bytes4(qw[t]);
                    var lo = q & vec4<u32>(0xfu);
                    var hi = q >> vec4<u32>(4u);
                    if (has_qh) {
                        let h = bytes4(hw[t]) >> vec4<u32>(2u * c);
                        lo = lo | ((h & vec4<u32>(1u)) << vec4<u32>(4u));
                        hi = hi | (((h >> vec4<u32>(1u)) & vec4<u32>(1u)) << vec4<u32>(4u));
                    }
                    s0 += dot(vec4<f32>(lo), xa[l4]);
                    s1 += dot(vec4<f32>(hi), xa[8u + l4]);
                }
            }
            let m0 = k_sm(sc[i], 2u * c);
            let m1 = k_sm(sc[i], 2u * c + 1u);
            acc[i] += (dm[i].x * m0.x * s0 - dm[i].y * m0.y * sx0) + (dm[i].x * m1.x * s1 - dm[i].y * m1.y * sx1);
        }
    }
    return acc;
}
fn dot4_q5_k(rb: vec4<u32>, xb: u32, head: u32) -> vec4<f32> { return dot4_k(rb, xb, 44u, true); }

// Σx of each quarter qq of xa (groups 4qq .. 4qq + 3): Q6_K's −32 offset, Σ(q − 32)·x =
// Σq·x − 32·Σx, applied once per quarter for every row instead of per quant.
fn quarter_sums(xa: array<vec4<f32>, 16>) -> vec4<f32> {
    let one = vec4<f32>(1.0);
    return vec4<f32>(dot((xa[0] + xa[1]) + (xa[2] + xa[3]), one), dot((xa[4] + xa[5]) + (xa[6] + xa[7]), one),
                     dot((xa[8] + xa[9]) + (xa[10] + xa[11]), one), dot((xa[12] + xa[13]) + (xa[14] + xa[15]), one));
}

// Q6_K (13 vec4 per block): for half n and scale group l16, vec4 4n + l16 and 4n + 2 + l16
// of ql and 8 + 2n + l16 of qh hold the 64 quants of the four quarters qq; vec4 12 the scales.
fn dot4_q6_k(rb: vec4<u32>, xb: u32, head: u32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    for (var n = 0u; n < 2u; n++) {
        for (var l16 = 0u; l16 < 2u; l16++) {
            var xa: array<vec4<f32>, 16>;
            for (var qq = 0u; qq < 4u; qq++) {
                for (var t = 0u; t < 4u; t++) { xa[4u * qq + t] = x[xb + 32u * n + 8u * qq + 4u * l16 + t]; }
            }
            let xs = quarter_sums(xa);
            for (var i = 0u; i < 4u; i++) {
                let base = rb[i] * 13u;
                let qa = weights4[base + 4u * n + l16];
                let qb = weights4[base + 4u * n + 2u + l16];
                let qh = weights4[base + 8u + 2u * n + l16];
                var sq = vec4<f32>(0.0);
                for (var t = 0u; t < 4u; t++) {
                    // Four 6-bit quants per word operation (quarter qq's quants as the bytes of word qq).
                    let hw = qh[t];
                    let q0 = (qa[t] & 0x0f0f0f0fu) | ((hw << 4u) & 0x30303030u);
                    let q1 = (qb[t] & 0x0f0f0f0fu) | ((hw << 2u) & 0x30303030u);
                    let q2 = ((qa[t] >> 4u) & 0x0f0f0f0fu) | (hw & 0x30303030u);
                    let q3 = ((qb[t] >> 4u) & 0x0f0f0f0fu) | ((hw >> 2u) & 0x30303030u);
                    sq += vec4<f32>(dot(vec4<f32>(bytes4(q0)), xa[t]), dot(vec4<f32>(bytes4(q1)), xa[4u + t]),
                                    dot(vec4<f32>(bytes4(q2)), xa[8u + t]), dot(vec4<f32>(bytes4(q3)), xa[12u + t]));
                }
                // scale si = 8n + l16 + 2qq: bytes l16, l16 + 2 of words 2n and 2n + 1 of vec4 12
                let sw = weights4[base + 12u];
                let s0 = sbytes4(sw[2u * n]);
                let s1 = sbytes4(sw[2u * n + 1u]);
                acc[i] += dot(vec4<f32>(s0[l16], s0[l16 + 2u], s1[l16], s1[l16 + 2u]), sq - 32.0 * xs);
            }
        }
    }
    return acc * vec4<f32>(head_f16(head, rb.x), head_f16(head, rb.y), head_f16(head, rb.z), head_f16(head, rb.w));
}

// Q6_K decode, eight rows per invocation: rows ra and rc (four each) share every x load.
// Sums of scale·q·x over quarter-pair (n, l16) of four rows' blocks rb (without d). The same
// arithmetic as dot4_q6_k's loop body, kept apart on purpose: dot4_q6_k written through this
// function ran 1.6× slower on SwiftShader (2.06 vs 1.26 s per token for granite-350m's Q6_K).
fn q6_k_part4(rb: vec4<u32>, n: u32, l16: u32, xa: array<vec4<f32>, 16>, xs: vec4<f32>) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        let base = rb[i] * 13u;
        let qa = weights4[base + 4u * n + l16];
        let qb = weights4[base + 4u * n + 2u + l16];
        let qh = weights4[base + 8u + 2u * n + l16];
        let sq = q6_k_sums(q6_k_word(qa.x, qb.x, qh.x), q6_k_word(qa.y, qb.y, qh.y), q6_k_word(qa.z, qb.z, qh.z), q6_k_word(qa.w, qb.w, qh.w), xa);
        let sw = weights4[base + 12u];
        let s0 = sbytes4(sw[2u * n]);
        let s1 = sbytes4(sw[2u * n + 1u]);
        acc[i] += dot(vec4<f32>(s0[l16], s0[l16 + 2u], s1[l16], s1[l16 + 2u]), sq - 32.0 * xs);
    }
    return acc;
}

@compute @workgroup_size(8)
fn matvec_rows8_q6_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    x_lane = lid.x;
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 8u * (gid.y * p.groups_x * 8u + gid.x);
    let bpr = p.k / 256u;
    let last = vec4<u32>(p.n_rows - 1u);
    let ra = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last) * bpr;
    let rc = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last) * bpr;
    let xo = p.x_offset / 4u;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    for (var b = 0u; b < bpr; b++) {
        let ba = ra + vec4<u32>(b);
        let bc = rc + vec4<u32>(b);
        var sa = vec4<f32>(0.0);
        var sc = vec4<f32>(0.0);
        for (var n = 0u; n < 2u; n++) {
            for (var l16 = 0u; l16 < 2u; l16++) {
                // Quarter qq's groups t: xo + 64b + 32n + 8qq + 4l16 + t.
                let g = vec4<u32>(xo + 64u * b + 32u * n + 4u * l16) + vec4<u32>(0u, 1u, 2u, 3u);
                let xa = X16_FN(g, g + vec4<u32>(8u), g + vec4<u32>(16u), g + vec4<u32>(24u));
                let xs = quarter_sums(xa);
                sa += q6_k_part4(ba, n, l16, xa, xs);
                sc += q6_k_part4(bc, n, l16, xa, xs);
            }
        }
        let h = p.head;
        lo += sa * vec4<f32>(head_f16(h, ba.x), head_f16(h, ba.y), head_f16(h, ba.z), head_f16(h, ba.w));
        hi += sc * vec4<f32>(head_f16(h, bc.x), head_f16(h, bc.y), head_f16(h, bc.z), head_f16(h, bc.w));
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + i, r0 + i, lo[i]); }
        if (r0 + 4u + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + 4u + i, r0 + 4u + i, hi[i]); }
    }
    NORM_FLUSH(lid.x, 8u, gid.y * p.groups_x + gid.x / 8u, 64u);
}

// Word t of a Q6_K quarter-pair's ql (a, b) and qh (hw) words: quarter qq's four quants as
// q[qq] (the bytes of the word qq builds, as q6_k_part4).
fn q6_k_word(a: u32, b: u32, hw: u32) -> array<vec4<f32>, 4> {
    return array<vec4<f32>, 4>(vec4<f32>(bytes4((a & 0x0f0f0f0fu) | ((hw << 4u) & 0x30303030u))),
                               vec4<f32>(bytes4((b & 0x0f0f0f0fu) | ((hw << 2u) & 0x30303030u))),
                               vec4<f32>(bytes4(((a >> 4u) & 0x0f0f0f0fu) | (hw & 0x30303030u))),
                               vec4<f32>(bytes4(((b >> 4u) & 0x0f0f0f0fu) | ((hw >> 2u) & 0x30303030u))));
}

// Σ over words t of (quarter qq's quants · x groups 4qq + t) per quarter, for one token:
// q[t][qq] from q6_k_word (indices literal: a loop counter would index through scratch memory
// on CPU adapters).
fn q6_k_sums(q0: array<vec4<f32>, 4>, q1: array<vec4<f32>, 4>, q2: array<vec4<f32>, 4>, q3: array<vec4<f32>, 4>,
             xa: array<vec4<f32>, 16>) -> vec4<f32> {
    var s = vec4<f32>(dot(q0[0], xa[0]), dot(q0[1], xa[4]), dot(q0[2], xa[8]), dot(q0[3], xa[12]));
    s += vec4<f32>(dot(q1[0], xa[1]), dot(q1[1], xa[5]), dot(q1[2], xa[9]), dot(q1[3], xa[13]));
    s += vec4<f32>(dot(q2[0], xa[2]), dot(q2[1], xa[6]), dot(q2[2], xa[10]), dot(q2[3], xa[14]));
    s += vec4<f32>(dot(q3[0], xa[3]), dot(q3[1], xa[7]), dot(q3[2], xa[11]), dot(q3[3], xa[15]));
    return s;
}

// One Q6_K row's quarter-pair (n, l16) of block base (its 13 vec4s) for up to four tokens
// (x groups xa_j, their quarter sums xs[j]): the quants are decoded once for the four, as
// q6_k_part4 does for one. Token j's sum (without d) in component j.
fn q6_k_row_tok4(base: u32, n: u32, l16: u32, xa0: array<vec4<f32>, 16>, xa1: array<vec4<f32>, 16>,
                 xa2: array<vec4<f32>, 16>, xa3: array<vec4<f32>, 16>, xs: mat4x4<f32>) -> vec4<f32> {
    let qa = weights4[base + 4u * n + l16];
    let qb = weights4[base + 4u * n + 2u + l16];
    let qh = weights4[base + 8u + 2u * n + l16];
    let q0 = q6_k_word(qa.x, qb.x, qh.x);
    let q1 = q6_k_word(qa.y, qb.y, qh.y);
    let q2 = q6_k_word(qa.z, qb.z, qh.z);
    let q3 = q6_k_word(qa.w, qb.w, qh.w);
    let sw = weights4[base + 12u];
    let s_lo = sbytes4(sw[2u * n]);
    let s_hi = sbytes4(sw[2u * n + 1u]);
    let sc = vec4<f32>(s_lo[l16], s_lo[l16 + 2u], s_hi[l16], s_hi[l16 + 2u]);
    return vec4<f32>(dot(sc, q6_k_sums(q0, q1, q2, q3, xa0) - 32.0 * xs[0]), dot(sc, q6_k_sums(q0, q1, q2, q3, xa1) - 32.0 * xs[1]),
                     dot(sc, q6_k_sums(q0, q1, q2, q3, xa2) - 32.0 * xs[2]), dot(sc, q6_k_sums(q0, q1, q2, q3, xa3) - 32.0 * xs[3]));
}

// Quarter-pair (n, l16) of one token's x for a Q6_K block (groups g + 8qq + t, g the first).
fn q6_k_x16(g: u32) -> array<vec4<f32>, 16> {
    let q = vec4<u32>(g) + vec4<u32>(0u, 1u, 2u, 3u);
    return X16_FN(q, q + vec4<u32>(8u), q + vec4<u32>(16u), q + vec4<u32>(24u));
}

// Q6_K prefill on lavapipe, 8 rows × 4 tokens per invocation (64 rows per workgroup): each
// row's quants are loaded and decoded once for four tokens, each token's x groups loaded once
// for eight rows (shared among the lanes where X16_FN is x16_sg). The generic tile read a
// row's scale and high bits again for every group of four. The same arithmetic per row and
// token as matvec_rows8_q6_k.
@compute @workgroup_size(8)
fn matmul_tile8_q6_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    x_lane = lid.x;
    // Invocations past the last row compute clamped rows and store nothing; token columns
    // past the last repeat it (their sums are dropped).
    let r0 = 8u * (gid.y * p.groups_x * 8u + gid.x);
    let t0 = gid.z * 4u;
    let nt = min(4u, p.n_tok - t0);
    let bpr = p.k / 256u;
    let last = vec4<u32>(p.n_rows - 1u);
    let ra = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last) * bpr;
    let rc = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last) * bpr;
    let tt = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(t0 + nt - 1u));
    let ox = (vec4<u32>(p.x_offset) + tt * p.x_stride) / 4u;
    // acc[i]: row r0 + i, token t0 + j in component j.
    var acc: array<vec4<f32>, 8>;
    for (var b = 0u; b < bpr; b++) {
        let ba = ra + vec4<u32>(b);
        let bc = rc + vec4<u32>(b);
        var s: array<vec4<f32>, 8>;
        for (var n = 0u; n < 2u; n++) {
            for (var l16 = 0u; l16 < 2u; l16++) {
                let g = 64u * b + 32u * n + 4u * l16;
                let xa0 = q6_k_x16(ox.x + g);
                let xa1 = q6_k_x16(ox.y + g);
                let xa2 = q6_k_x16(ox.z + g);
                let xa3 = q6_k_x16(ox.w + g);
                let xs = mat4x4<f32>(quarter_sums(xa0), quarter_sums(xa1), quarter_sums(xa2), quarter_sums(xa3));
                s[0] += q6_k_row_tok4(ba.x * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[1] += q6_k_row_tok4(ba.y * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[2] += q6_k_row_tok4(ba.z * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[3] += q6_k_row_tok4(ba.w * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[4] += q6_k_row_tok4(bc.x * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[5] += q6_k_row_tok4(bc.y * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[6] += q6_k_row_tok4(bc.z * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
                s[7] += q6_k_row_tok4(bc.w * 13u, n, l16, xa0, xa1, xa2, xa3, xs);
            }
        }
        let h = p.head;
        acc[0] += s[0] * head_f16(h, ba.x); acc[1] += s[1] * head_f16(h, ba.y);
        acc[2] += s[2] * head_f16(h, ba.z); acc[3] += s[3] * head_f16(h, ba.w);
        acc[4] += s[4] * head_f16(h, bc.x); acc[5] += s[5] * head_f16(h, bc.y);
        acc[6] += s[6] * head_f16(h, bc.z); acc[7] += s[7] * head_f16(h, bc.w);
    }
    for (var t = 0u; t < nt; t++) {
        let row = p.y_offset + (t0 + t) * p.y_stride + p.row0;
        for (var i = 0u; i < 8u; i++) {
            if (r0 + i < p.n_rows) { store_row(row + r0 + i, r0 + i, acc[i][t]); }
        }
    }
}

// y[row0 + r] for rows r0 .. r0 + 3 of one token (rows past the end repeat the last row;
// their sums are dropped). 16 invocations per workgroup: 64 rows, as matvec_rows.
@compute @workgroup_size(16)
fn matvec_rows4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 4u * (gid.y * p.groups_x * 16u + gid.x);
    let bpr = p.k / BS;
    let xo = p.x_offset / 4u;
    let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n_rows - 1u));
    var acc = vec4<f32>(0.0);
    for (var b = 0u; b < bpr; b++) {
        acc += DOT4_FN(rows * bpr + vec4<u32>(b), xo + b * GPB, p.head);
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + i, r0 + i, acc[i]); }
    }
    NORM_FLUSH(lid.x, 16u, gid.y * p.groups_x + gid.x / 16u, 64u);
}

// F16 / BF16 decode on CPU adapters: four rows per invocation, eight elements (one vec4 of
// halves) per row and load. Needs k % 8 == 0 (each row starts on a whole vec4).
fn half8(w: vec4<u32>, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    return dot(vec4<f32>(PAIR_FN(w.x), PAIR_FN(w.y)), xa) + dot(vec4<f32>(PAIR_FN(w.z), PAIR_FN(w.w)), xb);
}

// Eight elements jj of four rows (row starts rb, in vec4s of halves) with x from xs[o],
// xs[o + 1] (o a literal at every call).
fn half_step(rb: vec4<u32>, jj: u32, xs: array<vec4<f32>, 16>, o: u32) -> vec4<f32> {
    let xa = xs[o];
    let xb = xs[o + 1u];
    return vec4<f32>(half8(weights4[rb.x + jj], xa, xb), half8(weights4[rb.y + jj], xa, xb),
                     half8(weights4[rb.z + jj], xa, xb), half8(weights4[rb.w + jj], xa, xb));
}

@compute @workgroup_size(16)
fn matvec_rows4_half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Two 8-lane subgroups per workgroup where x loads are shared (X16_FN).
    x_lane = lid.x & 7u;
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 4u * (gid.y * p.groups_x * 16u + gid.x);
    let k8 = p.k / 8u;
    let xo = p.x_offset / 4u;
    let rb = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n_rows - 1u)) * k8;
    let lastg = vec4<u32>(xo + 2u * k8 - 1u);
    var acc = vec4<f32>(0.0);
    // 64 elements (16 x groups) a step; groups past the row's end are clamped and unused.
    for (var j = 0u; j < k8; j += 8u) {
        let g = vec4<u32>(xo + 2u * j) + vec4<u32>(0u, 1u, 2u, 3u);
        let xs = X16_FN(min(g, lastg), min(g + vec4<u32>(4u), lastg), min(g + vec4<u32>(8u), lastg), min(g + vec4<u32>(12u), lastg));
        acc += half_step(rb, j, xs, 0u);
        if (j + 1u < k8) { acc += half_step(rb, j + 1u, xs, 2u); }
        if (j + 2u < k8) { acc += half_step(rb, j + 2u, xs, 4u); }
        if (j + 3u < k8) { acc += half_step(rb, j + 3u, xs, 6u); }
        if (j + 4u < k8) { acc += half_step(rb, j + 4u, xs, 8u); }
        if (j + 5u < k8) { acc += half_step(rb, j + 5u, xs, 10u); }
        if (j + 6u < k8) { acc += half_step(rb, j + 6u, xs, 12u); }
        if (j + 7u < k8) { acc += half_step(rb, j + 7u, xs, 14u); }
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + i, r0 + i, acc[i]); }
    }
    NORM_FLUSH(lid.x, 16u, gid.y * p.groups_x + gid.x / 16u, 64u);
}

// ---- prefill on CPU adapters: a 4-row × 8-token register tile per invocation -----------
// Each decoded weight group serves 8 tokens and each x group 4 rows (one row per invocation
// reloaded x for every row): on lavapipe prefill ran 1.8-2.2× faster than with 1 × 16.

fn dots4(w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>, xv: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(w0, xv), dot(w1, xv), dot(w2, xv), dot(w3, xv));
}

// Store a 4-row × 8-token tile (token t's four rows in a_t).
fn store_tile(r0: u32, t0: u32, nt: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
              a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>) {
    for (var t = 0u; t < nt; t++) {
        var v = a0;
        switch t {
            case 1u: { v = a1; }
            case 2u: { v = a2; }
            case 3u: { v = a3; }
            case 4u: { v = a4; }
            case 5u: { v = a5; }
            case 6u: { v = a6; }
            case 7u: { v = a7; }
            default: {}
        }
        let row = p.y_offset + (t0 + t) * p.y_stride + p.row0;
        for (var i = 0u; i < 4u; i++) {
            if (r0 + i < p.n_rows) { store_row(row + r0 + i, r0 + i, v[i]); }
        }
    }
}

// Group jj of four rows (row blocks rb) for up to 8 tokens, x from xs[o] .. xs[o + 7] (o a
// literal at every call), added to the tokens' sums.
fn tile_group(rb: vec4<u32>, jj: u32, xs: array<vec4<f32>, 16>, o: u32, nt: u32, acc: array<vec4<f32>, 8>) -> array<vec4<f32>, 8> {
    let b = jj / GPB;
    let g = jj % GPB;
    let w0 = LOAD4_FN(rb.x + b, g, p.head);
    let w1 = LOAD4_FN(rb.y + b, g, p.head);
    let w2 = LOAD4_FN(rb.z + b, g, p.head);
    let w3 = LOAD4_FN(rb.w + b, g, p.head);
    var r = acc;
    r[0] += dots4(w0, w1, w2, w3, xs[o]);
    r[1] += dots4(w0, w1, w2, w3, xs[o + 1u]);
    r[2] += dots4(w0, w1, w2, w3, xs[o + 2u]);
    r[3] += dots4(w0, w1, w2, w3, xs[o + 3u]);
    if (nt > 4u) {
        r[4] += dots4(w0, w1, w2, w3, xs[o + 4u]);
        r[5] += dots4(w0, w1, w2, w3, xs[o + 5u]);
        r[6] += dots4(w0, w1, w2, w3, xs[o + 6u]);
        r[7] += dots4(w0, w1, w2, w3, xs[o + 7u]);
    }
    return r;
}

@compute @workgroup_size(16)
fn matmul_tile(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Two 8-lane subgroups per workgroup where x loads are shared (X16_FN).
    x_lane = lid.x & 7u;
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 4u * (gid.y * p.groups_x * 16u + gid.x);
    let t0 = gid.z * 8u;
    let nt = min(8u, p.n_tok - t0);
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    let rb = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n_rows - 1u)) * bpr;
    // Token rows past the end repeat the last one (their sums are dropped).
    let ta = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(t0 + nt - 1u));
    let tb = min(vec4<u32>(t0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(t0 + nt - 1u));
    let oa = (vec4<u32>(p.x_offset) + ta * p.x_stride) / 4u;
    let ob = (vec4<u32>(p.x_offset) + tb * p.x_stride) / 4u;
    var acc: array<vec4<f32>, 8>;
    // Two groups a step: the 8 tokens' x of groups j and j + 1 as one x16 chunk (an odd last
    // group pairs with itself, its second half unused).
    for (var j = 0u; j < groups; j += 2u) {
        let j1 = min(j + 1u, groups - 1u);
        let xs = X16_FN(oa + vec4<u32>(j), ob + vec4<u32>(j), oa + vec4<u32>(j1), ob + vec4<u32>(j1));
        acc = tile_group(rb, j, xs, 0u, nt, acc);
        if (j + 1u < groups) { acc = tile_group(rb, j + 1u, xs, 8u, nt, acc); }
    }
    store_tile(r0, t0, nt, acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

// ---- the 32-element block types on CPU adapters, a whole block at a time -----------------
// block_<type>(blk, head) returns block blk's 32 quants as 8 groups of 4 and its affine map
// (Blk) from the fewest loads (load_<type> reloads the block's scale and high bits for every
// group of 4); values8 gives load_<type>'s values. The host picks one as BLOCK_FN.

// The quants of a 16-byte nibble body q: groups 0-3 are the low nibbles of words 0-3, groups
// 4-7 the high ones (as nibbles32).
fn nib8(q: vec4<u32>) -> array<vec4<u32>, 8> {
    let m = vec4<u32>(0xfu);
    let f = vec4<u32>(4u);
    let a = bytes4(q.x);
    let b = bytes4(q.y);
    let c = bytes4(q.z);
    let d = bytes4(q.w);
    return array<vec4<u32>, 8>(a & m, b & m, c & m, d & m, a >> f, b >> f, c >> f, d >> f);
}

// Bit 4 of element e from bit e of qh (Q5_0, Q5_1; as q5).
fn add_qh(n: array<vec4<u32>, 8>, qh: u32) -> array<vec4<u32>, 8> {
    let h = vec4<u32>(qh) >> vec4<u32>(0u, 1u, 2u, 3u);
    let one = vec4<u32>(1u);
    let s = vec4<u32>(4u);
    return array<vec4<u32>, 8>(n[0] | ((h & one) << s), n[1] | (((h >> vec4<u32>(4u)) & one) << s),
                               n[2] | (((h >> vec4<u32>(8u)) & one) << s), n[3] | (((h >> vec4<u32>(12u)) & one) << s),
                               n[4] | (((h >> vec4<u32>(16u)) & one) << s), n[5] | (((h >> vec4<u32>(20u)) & one) << s),
                               n[6] | (((h >> vec4<u32>(24u)) & one) << s), n[7] | (((h >> vec4<u32>(28u)) & one) << s));
}

// A 32-element block as its quants (as f32) and an affine map: value = q·dm.x + dm.y. Kept
// apart so that decode applies the map once per block and row (Σ value·x = dm.x·Σq·x +
// dm.y·Σx): one multiply-add per quant less on SwiftShader, which is bound by arithmetic.
struct Blk { q: array<vec4<f32>, 8>, dm: vec2<f32> }

fn f32x8(n: array<vec4<u32>, 8>) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(vec4<f32>(n[0]), vec4<f32>(n[1]), vec4<f32>(n[2]), vec4<f32>(n[3]),
                               vec4<f32>(n[4]), vec4<f32>(n[5]), vec4<f32>(n[6]), vec4<f32>(n[7]));
}

// The block's values (the tile kernels, which reuse them for eight tokens).
fn values8(b: Blk) -> array<vec4<f32>, 8> {
    let d = b.dm.x;
    let m = b.dm.y;
    return array<vec4<f32>, 8>(b.q[0] * d + m, b.q[1] * d + m, b.q[2] * d + m, b.q[3] * d + m,
                               b.q[4] * d + m, b.q[5] * d + m, b.q[6] * d + m, b.q[7] * d + m);
}

// (q − 8)·d (Q4_0), (q − 16)·d (Q5_0), q·d + m (Q4_1, Q5_1), q·d (Q8_0, IQ4_NL's table values).
fn block_q4_0(blk: u32, head: u32) -> Blk {
    let d = head_f16(head, blk);
    return Blk(f32x8(nib8(weights4[blk])), vec2<f32>(d, -8.0 * d));
}

fn block_q5_0(blk: u32, head: u32) -> Blk {
    let o = blk * 5u;
    let q = vec4<u32>(weights[o + 1u], weights[o + 2u], weights[o + 3u], weights[o + 4u]);
    let d = head_f16(head, blk);
    return Blk(f32x8(add_qh(nib8(q), weights[o])), vec2<f32>(d, -16.0 * d));
}

fn block_q4_1(blk: u32, head: u32) -> Blk {
    let o = blk * 5u;
    let q = vec4<u32>(weights[o + 1u], weights[o + 2u], weights[o + 3u], weights[o + 4u]);
    return Blk(f32x8(nib8(q)), unpack2x16float(weights[o]));
}

fn block_q5_1(blk: u32, head: u32) -> Blk {
    let o = blk * 6u;
    let q = vec4<u32>(weights[o + 2u], weights[o + 3u], weights[o + 4u], weights[o + 5u]);
    return Blk(f32x8(add_qh(nib8(q), weights[o + 1u])), unpack2x16float(weights[o]));
}

fn block_q8_0(blk: u32, head: u32) -> Blk {
    let a = weights4[2u * blk];
    let b = weights4[2u * blk + 1u];
    let q = array<vec4<f32>, 8>(sbytes4(a.x), sbytes4(a.y), sbytes4(a.z), sbytes4(a.w),
                                sbytes4(b.x), sbytes4(b.y), sbytes4(b.z), sbytes4(b.w));
    return Blk(q, vec2<f32>(head_f16(head, blk), 0.0));
}

fn iq4nl4(q: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(IQ4NL[q.x], IQ4NL[q.y], IQ4NL[q.z], IQ4NL[q.w]);
}

fn block_iq4_nl(blk: u32, head: u32) -> Blk {
    let n = nib8(weights4[blk]);
    let q = array<vec4<f32>, 8>(iq4nl4(n[0]), iq4nl4(n[1]), iq4nl4(n[2]), iq4nl4(n[3]),
                                iq4nl4(n[4]), iq4nl4(n[5]), iq4nl4(n[6]), iq4nl4(n[7]));
    return Blk(q, vec2<f32>(head_f16(head, blk), 0.0));
}

// For the types without a whole-block decoder (never called: the host picks other kernels).
fn block_none(blk: u32, head: u32) -> Blk {
    return Blk();
}

// Σ over a block's 8 groups of four rows' decoded blocks with x groups xs[o] .. xs[o + 7]
// (o a literal at every call).
fn dots8x(w0: array<vec4<f32>, 8>, w1: array<vec4<f32>, 8>, w2: array<vec4<f32>, 8>, w3: array<vec4<f32>, 8>,
          xs: array<vec4<f32>, 16>, o: u32) -> vec4<f32> {
    let a = (dots4(w0[0], w1[0], w2[0], w3[0], xs[o]) + dots4(w0[1], w1[1], w2[1], w3[1], xs[o + 1u]))
          + (dots4(w0[2], w1[2], w2[2], w3[2], xs[o + 2u]) + dots4(w0[3], w1[3], w2[3], w3[3], xs[o + 3u]));
    let b = (dots4(w0[4], w1[4], w2[4], w3[4], xs[o + 4u]) + dots4(w0[5], w1[5], w2[5], w3[5], xs[o + 5u]))
          + (dots4(w0[6], w1[6], w2[6], w3[6], xs[o + 6u]) + dots4(w0[7], w1[7], w2[7], w3[7], xs[o + 7u]));
    return a + b;
}

// Decode (matvec_rows4's DOT4_FN for the 32-element types): four rows' blocks rb, each
// block's map applied to its sums (x groups xb .. xb + 7 loaded once).
fn dot4_blk(rb: vec4<u32>, xb: u32, head: u32) -> vec4<f32> {
    let xs = array<vec4<f32>, 16>(x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u], x[xb + 4u], x[xb + 5u], x[xb + 6u], x[xb + 7u],
                                  vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
    return dot4x_blk(rb, head, xs, 0u);
}

// dot4_blk with the block's x groups xs[o] .. xs[o + 7] (o a literal at every call).
fn dot4x_blk(rb: vec4<u32>, head: u32, xs: array<vec4<f32>, 16>, o: u32) -> vec4<f32> {
    let w0 = BLOCK_FN(rb.x, head);
    let w1 = BLOCK_FN(rb.y, head);
    let w2 = BLOCK_FN(rb.z, head);
    let w3 = BLOCK_FN(rb.w, head);
    let x0 = xs[o]; let x1 = xs[o + 1u]; let x2 = xs[o + 2u]; let x3 = xs[o + 3u];
    let x4 = xs[o + 4u]; let x5 = xs[o + 5u]; let x6 = xs[o + 6u]; let x7 = xs[o + 7u];
    let a = (dots4(w0.q[0], w1.q[0], w2.q[0], w3.q[0], x0) + dots4(w0.q[1], w1.q[1], w2.q[1], w3.q[1], x1))
          + (dots4(w0.q[2], w1.q[2], w2.q[2], w3.q[2], x2) + dots4(w0.q[3], w1.q[3], w2.q[3], w3.q[3], x3));
    let b = (dots4(w0.q[4], w1.q[4], w2.q[4], w3.q[4], x4) + dots4(w0.q[5], w1.q[5], w2.q[5], w3.q[5], x5))
          + (dots4(w0.q[6], w1.q[6], w2.q[6], w3.q[6], x6) + dots4(w0.q[7], w1.q[7], w2.q[7], w3.q[7], x7));
    let sx = dot(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)), vec4<f32>(1.0));
    return vec4<f32>(w0.dm.x, w1.dm.x, w2.dm.x, w3.dm.x) * (a + b) + vec4<f32>(w0.dm.y, w1.dm.y, w2.dm.y, w3.dm.y) * sx;
}

// Q8_0 decode from x groups xs[o] .. xs[o + 7] (dot4_q8_0's arithmetic, o a literal).
fn dot4x_q8_0(rb: vec4<u32>, head: u32, xs: array<vec4<f32>, 16>, o: u32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    for (var h = 0u; h < 2u; h++) {
        let w0 = weights4[2u * rb.x + h];
        let w1 = weights4[2u * rb.y + h];
        let w2 = weights4[2u * rb.z + h];
        let w3 = weights4[2u * rb.w + h];
        for (var t = 0u; t < 4u; t++) {
            let xv = xs[o + 4u * h + t];
            acc += vec4<f32>(dot(sbytes4(w0[t]), xv), dot(sbytes4(w1[t]), xv), dot(sbytes4(w2[t]), xv), dot(sbytes4(w3[t]), xv));
        }
    }
    return acc * vec4<f32>(head_f16(head, rb.x), head_f16(head, rb.y), head_f16(head, rb.z), head_f16(head, rb.w));
}

// Decode for the 32-element types on CPU adapters that share x loads (`GpuContext::share_x`):
// eight rows per invocation, two blocks per x16 chunk.
@compute @workgroup_size(8)
fn matvec_rows8_blk(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    x_lane = lid.x;
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 8u * (gid.y * p.groups_x * 8u + gid.x);
    let bpr = p.k / 32u;
    let last = vec4<u32>(p.n_rows - 1u);
    let ra = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last) * bpr;
    let rc = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last) * bpr;
    let xo = p.x_offset / 4u;
    let q = vec4<u32>(0u, 1u, 2u, 3u);
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    for (var b = 0u; b < bpr; b += 2u) {
        // An odd last block pairs with itself (its second half unused).
        let b1 = min(b + 1u, bpr - 1u);
        let g0 = vec4<u32>(xo + 8u * b) + q;
        let g1 = vec4<u32>(xo + 8u * b1) + q;
        let xs = X16_FN(g0, g0 + vec4<u32>(4u), g1, g1 + vec4<u32>(4u));
        lo += DOT4X_FN(ra + vec4<u32>(b), p.head, xs, 0u);
        hi += DOT4X_FN(rc + vec4<u32>(b), p.head, xs, 0u);
        if (b + 1u < bpr) {
            lo += DOT4X_FN(ra + vec4<u32>(b1), p.head, xs, 8u);
            hi += DOT4X_FN(rc + vec4<u32>(b1), p.head, xs, 8u);
        }
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + i, r0 + i, lo[i]); }
        if (r0 + 4u + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + 4u + i, r0 + 4u + i, hi[i]); }
    }
    NORM_FLUSH(lid.x, 8u, gid.y * p.groups_x + gid.x / 8u, 64u);
}

// Prefill for the 32-element types: matmul_tile's 4-row × 8-token tile, each block of the
// four rows decoded once for the eight tokens.
@compute @workgroup_size(16)
fn matmul_tile_blk(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Two 8-lane subgroups per workgroup where x loads are shared.
    x_lane = lid.x & 7u;
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 4u * (gid.y * p.groups_x * 16u + gid.x);
    let t0 = gid.z * 8u;
    let nt = min(8u, p.n_tok - t0);
    let bpr = p.k / 32u;
    let rb = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n_rows - 1u)) * bpr;
    let ta = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(t0 + nt - 1u));
    let tb = min(vec4<u32>(t0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(t0 + nt - 1u));
    let oa = (vec4<u32>(p.x_offset) + ta * p.x_stride) / 4u;
    let ob = (vec4<u32>(p.x_offset) + tb * p.x_stride) / 4u;
    let q = vec4<u32>(0u, 1u, 2u, 3u);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    for (var b = 0u; b < bpr; b++) {
        let w0 = values8(BLOCK_FN(rb.x + b, p.head));
        let w1 = values8(BLOCK_FN(rb.y + b, p.head));
        let w2 = values8(BLOCK_FN(rb.z + b, p.head));
        let w3 = values8(BLOCK_FN(rb.w + b, p.head));
        let xo = 8u * b;
        // Each x16 chunk: the block's 8 groups of two tokens (all 8 tokens' loads outside
        // the token-count branch, tokens past the end clamped).
        let x01 = X16_FN(vec4<u32>(oa.x + xo) + q, vec4<u32>(oa.x + xo + 4u) + q, vec4<u32>(oa.y + xo) + q, vec4<u32>(oa.y + xo + 4u) + q);
        let x23 = X16_FN(vec4<u32>(oa.z + xo) + q, vec4<u32>(oa.z + xo + 4u) + q, vec4<u32>(oa.w + xo) + q, vec4<u32>(oa.w + xo + 4u) + q);
        let x45 = X16_FN(vec4<u32>(ob.x + xo) + q, vec4<u32>(ob.x + xo + 4u) + q, vec4<u32>(ob.y + xo) + q, vec4<u32>(ob.y + xo + 4u) + q);
        let x67 = X16_FN(vec4<u32>(ob.z + xo) + q, vec4<u32>(ob.z + xo + 4u) + q, vec4<u32>(ob.w + xo) + q, vec4<u32>(ob.w + xo + 4u) + q);
        a0 += dots8x(w0, w1, w2, w3, x01, 0u);
        a1 += dots8x(w0, w1, w2, w3, x01, 8u);
        a2 += dots8x(w0, w1, w2, w3, x23, 0u);
        a3 += dots8x(w0, w1, w2, w3, x23, 8u);
        if (nt > 4u) {
            a4 += dots8x(w0, w1, w2, w3, x45, 0u);
            a5 += dots8x(w0, w1, w2, w3, x45, 8u);
            a6 += dots8x(w0, w1, w2, w3, x67, 0u);
            a7 += dots8x(w0, w1, w2, w3, x67, 8u);
        }
    }
    store_tile(r0, t0, nt, a0, a1, a2, a3, a4, a5, a6, a7);
}

// 16 x groups (vec4s) at indices a.x .. d.w, as one array. X16_FN is this in the plain
// module and x16_sg (shaders/matvec_subgroup.wgsl: each lane of an 8-lane subgroup loads
// two of the 16 and reads the rest by broadcast) in the subgroup one, on CPU adapters whose
// storage loads are loops over the SIMD lanes (`GpuContext::share_x`). The callers keep
// control flow uniform up to their last call (no early return): subgroup operations need it.
var<private> x_lane: u32;
fn x16(a: vec4<u32>, b: vec4<u32>, c: vec4<u32>, d: vec4<u32>) -> array<vec4<f32>, 16> {
    return array<vec4<f32>, 16>(x[a.x], x[a.y], x[a.z], x[a.w], x[b.x], x[b.y], x[b.z], x[b.w],
                                x[c.x], x[c.y], x[c.z], x[c.w], x[d.x], x[d.y], x[d.z], x[d.w]);
}

// ---- Q4_K on CPU adapters, block by block: per 64-element chunk each row's 8 quant words
// (two vec4 loads) and scales stay in registers while x streams past them.
struct Q4kStep { s0: vec4<f32>, s1: vec4<f32>, sx: vec2<f32> }

// Four rows' quant word (a with x groups t and 8 + t, b with 4 + t and 12 + t) decoded to
// floats once (the 8 × 8 prefill tile uses them for each of its tokens).
struct Q4kDec {
    la0: vec4<f32>, la1: vec4<f32>, la2: vec4<f32>, la3: vec4<f32>,
    lb0: vec4<f32>, lb1: vec4<f32>, lb2: vec4<f32>, lb3: vec4<f32>,
    ha0: vec4<f32>, ha1: vec4<f32>, ha2: vec4<f32>, ha3: vec4<f32>,
    hb0: vec4<f32>, hb1: vec4<f32>, hb2: vec4<f32>, hb3: vec4<f32>,
}

fn q4_k_dec(a: vec4<u32>, b: vec4<u32>) -> Q4kDec {
    let m = vec4<u32>(0xfu);
    let four = vec4<u32>(4u);
    let a0 = bytes4(a.x); let b0 = bytes4(b.x);
    let a1 = bytes4(a.y); let b1 = bytes4(b.y);
    let a2 = bytes4(a.z); let b2 = bytes4(b.z);
    let a3 = bytes4(a.w); let b3 = bytes4(b.w);
    return Q4kDec(vec4<f32>(a0 & m), vec4<f32>(a1 & m), vec4<f32>(a2 & m), vec4<f32>(a3 & m),
                  vec4<f32>(b0 & m), vec4<f32>(b1 & m), vec4<f32>(b2 & m), vec4<f32>(b3 & m),
                  vec4<f32>(a0 >> four), vec4<f32>(a1 >> four), vec4<f32>(a2 >> four), vec4<f32>(a3 >> four),
                  vec4<f32>(b0 >> four), vec4<f32>(b1 >> four), vec4<f32>(b2 >> four), vec4<f32>(b3 >> four));
}

// The four rows' sums of one word step from decoded quants.
fn q4_k_apply(d: Q4kDec, xa: vec4<f32>, xb: vec4<f32>, xc: vec4<f32>, xd: vec4<f32>) -> Q4kStep {
    var r: Q4kStep;
    r.s0 = vec4<f32>(dot(d.la0, xa) + dot(d.lb0, xb), dot(d.la1, xa) + dot(d.lb1, xb),
                     dot(d.la2, xa) + dot(d.lb2, xb), dot(d.la3, xa) + dot(d.lb3, xb));
    r.s1 = vec4<f32>(dot(d.ha0, xc) + dot(d.hb0, xd), dot(d.ha1, xc) + dot(d.hb1, xd),
                     dot(d.ha2, xc) + dot(d.hb2, xd), dot(d.ha3, xc) + dot(d.hb3, xd));
    r.sx = vec2<f32>(dot(xa + xb, vec4<f32>(1.0)), dot(xc + xd, vec4<f32>(1.0)));
    return r;
}

// One quant word per row (low nibbles with xa/xb, high with xc/xd) for the four rows.
fn tile_q4_k_step(a: vec4<u32>, b: vec4<u32>, xa: vec4<f32>, xb: vec4<f32>, xc: vec4<f32>, xd: vec4<f32>) -> Q4kStep {
    return q4_k_apply(q4_k_dec(a, b), xa, xb, xc, xd);
}

// (d·sc, dmin·mn) of sub-blocks 2c and 2c + 1 of a Q4_K block whose first vec4 is h.
fn q4_k_coef(h: vec4<u32>, c: u32) -> vec4<f32> {
    let dm = unpack2x16float(h.x);
    let m0 = k_sm(h.yzw, 2u * c);
    let m1 = k_sm(h.yzw, 2u * c + 1u);
    return vec4<f32>(dm.x * m0.x, dm.y * m0.y, dm.x * m1.x, dm.y * m1.y);
}

// Four rows' chunk sums → Σ (d·sc·q − dmin·mn)·x with cf = q4_k_coef of each row.
fn q4_k_fold(st: Q4kStep, cf0: vec4<f32>, cf1: vec4<f32>, cf2: vec4<f32>, cf3: vec4<f32>) -> vec4<f32> {
    let s0 = st.s0;
    let s1 = st.s1;
    let sx = st.sx;
    return vec4<f32>(cf0.x * s0.x - cf0.y * sx.x + (cf0.z * s1.x - cf0.w * sx.y),
                     cf1.x * s0.y - cf1.y * sx.x + (cf1.z * s1.y - cf1.w * sx.y),
                     cf2.x * s0.z - cf2.y * sx.x + (cf2.z * s1.z - cf2.w * sx.y),
                     cf3.x * s0.w - cf3.y * sx.x + (cf3.z * s1.w - cf3.w * sx.y));
}

fn q4_k_add(a: Q4kStep, b: Q4kStep) -> Q4kStep {
    var r: Q4kStep;
    r.s0 = a.s0 + b.s0;
    r.s1 = a.s1 + b.s1;
    r.sx = a.sx + b.sx;
    return r;
}

// Q4_K decode, eight rows per invocation: each x group loaded once for eight rows. (The same
// walk as the prefill tiles (matmul_tile8x8_q4_k) for one token; a tile run with one token measured
// 1.5× slower on lavapipe, so decode keeps its own.)
@compute @workgroup_size(8)
fn matvec_rows8_q4_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    x_lane = lid.x;
    // Invocations past the last row compute clamped rows and store nothing.
    let r0 = 8u * (gid.y * p.groups_x * 8u + gid.x);
    let bpr = p.k / 256u;
    let last = vec4<u32>(p.n_rows - 1u);
    let ra = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last) * bpr * 9u;
    let rc = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last) * bpr * 9u;
    let xo0 = p.x_offset / 4u;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    for (var b = 0u; b < bpr; b++) {
        let ba = ra + vec4<u32>(9u * b);
        let bc = rc + vec4<u32>(9u * b);
        let h0 = weights4[ba.x]; let h1 = weights4[ba.y]; let h2 = weights4[ba.z]; let h3 = weights4[ba.w];
        let h4 = weights4[bc.x]; let h5 = weights4[bc.y]; let h6 = weights4[bc.z]; let h7 = weights4[bc.w];
        for (var c = 0u; c < 4u; c++) {
            let qa = ba + vec4<u32>(1u + 2u * c);
            let qc = bc + vec4<u32>(1u + 2u * c);
            let qa0 = weights4[qa.x]; let qb0 = weights4[qa.x + 1u];
            let qa1 = weights4[qa.y]; let qb1 = weights4[qa.y + 1u];
            let qa2 = weights4[qa.z]; let qb2 = weights4[qa.z + 1u];
            let qa3 = weights4[qa.w]; let qb3 = weights4[qa.w + 1u];
            let qa4 = weights4[qc.x]; let qb4 = weights4[qc.x + 1u];
            let qa5 = weights4[qc.y]; let qb5 = weights4[qc.y + 1u];
            let qa6 = weights4[qc.z]; let qb6 = weights4[qc.z + 1u];
            let qa7 = weights4[qc.w]; let qb7 = weights4[qc.w + 1u];
            let xo = vec4<u32>(xo0 + 64u * b + 16u * c) + vec4<u32>(0u, 1u, 2u, 3u);
            let xs = X16_FN(xo, xo + vec4<u32>(4u), xo + vec4<u32>(8u), xo + vec4<u32>(12u));
            let st = q4_k_token8(qa0, qa1, qa2, qa3, qa4, qa5, qa6, qa7, qb0, qb1, qb2, qb3, qb4, qb5, qb6, qb7, xs);
            lo += q4_k_fold(st[0], q4_k_coef(h0, c), q4_k_coef(h1, c), q4_k_coef(h2, c), q4_k_coef(h3, c));
            hi += q4_k_fold(st[1], q4_k_coef(h4, c), q4_k_coef(h5, c), q4_k_coef(h6, c), q4_k_coef(h7, c));
        }
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + i, r0 + i, lo[i]); }
        if (r0 + 4u + i < p.n_rows) { store_row(p.y_offset + p.row0 + r0 + 4u + i, r0 + 4u + i, hi[i]); }
    }
    NORM_FLUSH(lid.x, 8u, gid.y * p.groups_x + gid.x / 8u, 64u);
}

// One token's chunk (x groups xo .. xo + 15) for eight rows: word t of w_i pairs with x
// groups t (low nibbles) and 8 + t (high), word t of v_i with 4 + t and 12 + t. Unrolled by
// hand: a vector component picked by a loop counter costs per-lane scratch on CPU adapters.
fn q4_k_token8(w0: vec4<u32>, w1: vec4<u32>, w2: vec4<u32>, w3: vec4<u32>, w4: vec4<u32>, w5: vec4<u32>, w6: vec4<u32>, w7: vec4<u32>,
               v0: vec4<u32>, v1: vec4<u32>, v2: vec4<u32>, v3: vec4<u32>, v4: vec4<u32>, v5: vec4<u32>, v6: vec4<u32>, v7: vec4<u32>,
               xs: array<vec4<f32>, 16>) -> array<Q4kStep, 2> {
    var r: array<Q4kStep, 2>;
    r[0] = tile_q4_k_step(vec4<u32>(w0.x, w1.x, w2.x, w3.x), vec4<u32>(v0.x, v1.x, v2.x, v3.x), xs[0], xs[4], xs[8], xs[12]);
    r[1] = tile_q4_k_step(vec4<u32>(w4.x, w5.x, w6.x, w7.x), vec4<u32>(v4.x, v5.x, v6.x, v7.x), xs[0], xs[4], xs[8], xs[12]);
    r[0] = q4_k_add(r[0], tile_q4_k_step(vec4<u32>(w0.y, w1.y, w2.y, w3.y), vec4<u32>(v0.y, v1.y, v2.y, v3.y), xs[1], xs[5], xs[9], xs[13]));
    r[1] = q4_k_add(r[1], tile_q4_k_step(vec4<u32>(w4.y, w5.y, w6.y, w7.y), vec4<u32>(v4.y, v5.y, v6.y, v7.y), xs[1], xs[5], xs[9], xs[13]));
    r[0] = q4_k_add(r[0], tile_q4_k_step(vec4<u32>(w0.z, w1.z, w2.z, w3.z), vec4<u32>(v0.z, v1.z, v2.z, v3.z), xs[2], xs[6], xs[10], xs[14]));
    r[1] = q4_k_add(r[1], tile_q4_k_step(vec4<u32>(w4.z, w5.z, w6.z, w7.z), vec4<u32>(v4.z, v5.z, v6.z, v7.z), xs[2], xs[6], xs[10], xs[14]));
    r[0] = q4_k_add(r[0], tile_q4_k_step(vec4<u32>(w0.w, w1.w, w2.w, w3.w), vec4<u32>(v0.w, v1.w, v2.w, v3.w), xs[3], xs[7], xs[11], xs[15]));
    r[1] = q4_k_add(r[1], tile_q4_k_step(vec4<u32>(w4.w, w5.w, w6.w, w7.w), vec4<u32>(v4.w, v5.w, v6.w, v7.w), xs[3], xs[7], xs[11], xs[15]));
    return r;
}

// Word t of four rows' quant vec4s, as one vec4 (t a literal at every call).
fn q4_k_col(a: vec4<u32>, b: vec4<u32>, c: vec4<u32>, d: vec4<u32>, t: u32) -> vec4<u32> {
    return vec4<u32>(a[t], b[t], c[t], d[t]);
}

// One token's word step (x groups xa, xb, xc, xd) for two row quads, added to the token's
// chunk sums s (started at the first word).
fn q4_k_tok8(d0: Q4kDec, d1: Q4kDec, xa: vec4<f32>, xb: vec4<f32>, xc: vec4<f32>, xd: vec4<f32>,
             first: bool, s: array<Q4kStep, 2>) -> array<Q4kStep, 2> {
    var r = array<Q4kStep, 2>(q4_k_apply(d0, xa, xb, xc, xd), q4_k_apply(d1, xa, xb, xc, xd));
    if (!first) {
        r[0] = q4_k_add(s[0], r[0]);
        r[1] = q4_k_add(s[1], r[1]);
    }
    return r;
}

// Word t of a chunk for 8 rows (w[i], v[i]: row i's two quant vec4s) and up to 8 tokens (x
// groups of token j at oa[j] (j < 4) or ob[j − 4], + t + 4m): the quants decoded once for
// every token, each x group loaded once for 8 rows.
fn q4_k_word8x8(w: array<vec4<u32>, 8>, v: array<vec4<u32>, 8>, t: u32, oa: vec4<u32>, ob: vec4<u32>, nt: u32,
                s: array<array<Q4kStep, 2>, 8>) -> array<array<Q4kStep, 2>, 8> {
    let m = vec4<u32>(0u, 4u, 8u, 12u) + vec4<u32>(t);
    let xa = X16_FN(vec4<u32>(oa.x) + m, vec4<u32>(oa.y) + m, vec4<u32>(oa.z) + m, vec4<u32>(oa.w) + m);
    let xb = X16_FN(vec4<u32>(ob.x) + m, vec4<u32>(ob.y) + m, vec4<u32>(ob.z) + m, vec4<u32>(ob.w) + m);
    let d0 = q4_k_dec(q4_k_col(w[0], w[1], w[2], w[3], t), q4_k_col(v[0], v[1], v[2], v[3], t));
    let d1 = q4_k_dec(q4_k_col(w[4], w[5], w[6], w[7], t), q4_k_col(v[4], v[5], v[6], v[7], t));
    let first = t == 0u;
    var r = s;
    r[0] = q4_k_tok8(d0, d1, xa[0], xa[1], xa[2], xa[3], first, s[0]);
    if (nt > 1u) { r[1] = q4_k_tok8(d0, d1, xa[4], xa[5], xa[6], xa[7], first, s[1]); }
    if (nt > 2u) { r[2] = q4_k_tok8(d0, d1, xa[8], xa[9], xa[10], xa[11], first, s[2]); }
    if (nt > 3u) { r[3] = q4_k_tok8(d0, d1, xa[12], xa[13], xa[14], xa[15], first, s[3]); }
    if (nt > 4u) { r[4] = q4_k_tok8(d0, d1, xb[0], xb[1], xb[2], xb[3], first, s[4]); }
    if (nt > 5u) { r[5] = q4_k_tok8(d0, d1, xb[4], xb[5], xb[6], xb[7], first, s[5]); }
    if (nt > 6u) { r[6] = q4_k_tok8(d0, d1, xb[8], xb[9], xb[10], xb[11], first, s[6]); }
    if (nt > 7u) { r[7] = q4_k_tok8(d0, d1, xb[12], xb[13], xb[14], xb[15], first, s[7]); }
    return r;
}

// A token's two row quads' chunk sums folded with the chunk's coefficients (cf[i]: row i's).
fn q4_k_fold8(a: array<vec4<f32>, 2>, s: array<Q4kStep, 2>, cf: array<vec4<f32>, 8>) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(a[0] + q4_k_fold(s[0], cf[0], cf[1], cf[2], cf[3]), a[1] + q4_k_fold(s[1], cf[4], cf[5], cf[6], cf[7]));
}

// Q4_K prefill, 8 rows × 8 tokens per invocation (64 rows per workgroup): each quant word is
// decoded once for 8 tokens, each x group loaded once for 8 rows (shared among the lanes
// where X16_FN is x16_sg). On lavapipe every load is a loop over the SIMD lanes: with 8 rows
// × 4 tokens the x loads were half the kernel's time (measured by replacing them with
// arithmetic); 16 rows × 4 tokens then took 15% less, and 8 × 8 another 7-20% less
// (granite-350m, 2026-12-02). On SwiftShader (x loaded by each lane) 8 × 8 took 8-16% less
// than 8 × 4, where a 16-row tile did not finish a 4-token prompt in 4 minutes. The same
// operations in the same order per row and token as matvec_rows8_q4_k.
@compute @workgroup_size(8)
fn matmul_tile8x8_q4_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    x_lane = lid.x;
    let r0 = 8u * (gid.y * p.groups_x * 8u + gid.x);
    let t0 = gid.z * 8u;
    let nt = min(8u, p.n_tok - t0);
    let bpr = p.k / 256u;
    let step = bpr * 9u;
    let last = vec4<u32>(p.n_rows - 1u);
    let q = vec4<u32>(0u, 1u, 2u, 3u);
    let ra = min(vec4<u32>(r0) + q, last) * step;
    let rc = min(vec4<u32>(r0 + 4u) + q, last) * step;
    let ta = min(vec4<u32>(t0) + q, vec4<u32>(t0 + nt - 1u));
    let tb = min(vec4<u32>(t0 + 4u) + q, vec4<u32>(t0 + nt - 1u));
    let oa = (vec4<u32>(p.x_offset) + ta * p.x_stride) / 4u;
    let ob = (vec4<u32>(p.x_offset) + tb * p.x_stride) / 4u;
    var acc: array<array<vec4<f32>, 2>, 8>;
    var s: array<array<Q4kStep, 2>, 8>;
    for (var b = 0u; b < bpr; b++) {
        let o = 9u * b;
        let e = array<vec4<u32>, 8>(weights4[ra.x + o], weights4[ra.y + o], weights4[ra.z + o], weights4[ra.w + o],
                                    weights4[rc.x + o], weights4[rc.y + o], weights4[rc.z + o], weights4[rc.w + o]);
        for (var c = 0u; c < 4u; c++) {
            let oc = o + 1u + 2u * c;
            let w = array<vec4<u32>, 8>(weights4[ra.x + oc], weights4[ra.y + oc], weights4[ra.z + oc], weights4[ra.w + oc],
                                        weights4[rc.x + oc], weights4[rc.y + oc], weights4[rc.z + oc], weights4[rc.w + oc]);
            let v = array<vec4<u32>, 8>(weights4[ra.x + oc + 1u], weights4[ra.y + oc + 1u], weights4[ra.z + oc + 1u], weights4[ra.w + oc + 1u],
                                        weights4[rc.x + oc + 1u], weights4[rc.y + oc + 1u], weights4[rc.z + oc + 1u], weights4[rc.w + oc + 1u]);
            let xo = 64u * b + 16u * c;
            let xa = oa + vec4<u32>(xo);
            let xb = ob + vec4<u32>(xo);
            s = q4_k_word8x8(w, v, 0u, xa, xb, nt, s);
            s = q4_k_word8x8(w, v, 1u, xa, xb, nt, s);
            s = q4_k_word8x8(w, v, 2u, xa, xb, nt, s);
            s = q4_k_word8x8(w, v, 3u, xa, xb, nt, s);
            let cf = array<vec4<f32>, 8>(q4_k_coef(e[0], c), q4_k_coef(e[1], c), q4_k_coef(e[2], c), q4_k_coef(e[3], c),
                                         q4_k_coef(e[4], c), q4_k_coef(e[5], c), q4_k_coef(e[6], c), q4_k_coef(e[7], c));
            acc[0] = q4_k_fold8(acc[0], s[0], cf);
            if (nt > 1u) { acc[1] = q4_k_fold8(acc[1], s[1], cf); }
            if (nt > 2u) { acc[2] = q4_k_fold8(acc[2], s[2], cf); }
            if (nt > 3u) { acc[3] = q4_k_fold8(acc[3], s[3], cf); }
            if (nt > 4u) { acc[4] = q4_k_fold8(acc[4], s[4], cf); }
            if (nt > 5u) { acc[5] = q4_k_fold8(acc[5], s[5], cf); }
            if (nt > 6u) { acc[6] = q4_k_fold8(acc[6], s[6], cf); }
            if (nt > 7u) { acc[7] = q4_k_fold8(acc[7], s[7], cf); }
        }
    }
    for (var t = 0u; t < nt; t++) {
        let row = p.y_offset + (t0 + t) * p.y_stride + p.row0;
        for (var i = 0u; i < 8u; i++) {
            if (r0 + i < p.n_rows) { store_row(row + r0 + i, r0 + i, acc[t][i / 4u][i % 4u]); }
        }
    }
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

// One token's embedding row (a decode step; a table in one part) through the products' store:
// in the Norm form (store_norm) the same dispatch leaves the first layer's pre-norm input —
// x · w_norm in h_out and one Σ x² per 256 values at h_out[out_base + workgroup] — as a
// residual product does (NormOut), saving the first rms_norm dispatch. Value i is "row" i.
@compute @workgroup_size(64)
fn embed_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let groups = p.k / 4u;
    let j = gid.y * p.groups_x * 64u + gid.x;
    let tok = tokens[0];
    if (j < groups && tok < p.n_rows) {
        let w = p.alpha * LOAD_FN(tok * (p.k / BS) + j / GPB, j % GPB, p.head);
        let o = p.y_offset + 4u * j;
        STORE_FN(o, 4u * j, w.x);
        STORE_FN(o + 1u, 4u * j + 1u, w.y);
        STORE_FN(o + 2u, 4u * j + 2u, w.z);
        STORE_FN(o + 3u, 4u * j + 3u, w.w);
    }
    NORM_FLUSH(lid.x, 64u, gid.y * p.groups_x + gid.x / 64u, 256u);
}

// ---- mixture of experts (llama.cpp's mul_mat_id): y[pair, r] = W_e[r, :] · x[in(pair)] for the
// pairs (token, slot) routed to expert e, grouped by expert into tiles (moe.wgsl `moe_group`)
// so each expert row is read once per tile, and only the chosen experts' rows are read. The
// grid comes from the GPU (indirect dispatch): tiles × rows. Global weight row g = e ·
// expert_rows + r; a part only computes the rows it holds. A scaled input (a fused pre-norm's
// x · w, norm_count != 0) gets its token's scale as store_row applies it.

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
        let pair = pairs[tile.y + t];
        if (p.norm_count != 0u) { v *= rms_scale(id_x_row(pair)); }
        y[p.y_offset + pair * p.y_stride + r] = p.alpha * v;
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
        let pair = pairs[tile.y + lid.x];
        var v = red[0][lid.x];
        if (p.norm_count != 0u) { v *= rms_scale(id_x_row(pair)); }
        y[p.y_offset + pair * p.y_stride + r] = p.alpha * v;
    }
}
