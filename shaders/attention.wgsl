// Causal GQA attention over the paged KV pool, decode and prefill alike: one workgroup per
// (query head, token), keys in tiles of 64 with an online softmax — no tokens × tokens
// matrix. Token t (of any session) is at position tmeta[t].x and sees that session's
// positions 0 ..= tmeta[t].x (or, with a sliding window W, the last W of them, as llama.cpp's
// LLAMA_SWA_TYPE_STANDARD mask), found through its block table: key j lives in pool row
// tables[tmeta[t].y + j / BLOCK] · BLOCK + j % BLOCK.
//
// The step's own keys and values (positions from the first of its session's tokens in this
// step) are read from their tokens' [q | k | v] rows in q (at k_offset / v_offset), not the
// pool: the workgroup of each KV head's first query
// head stores its token's K and V rows into the pool (no separate store dispatch), and no
// workgroup reads those pool rows in the same dispatch. tmeta[t].z is the batch index of the
// first token of t's session.
//
// KvT, the pool's element type, is f32, or f16 where the device has shader-f16
// (`ops::attention_source` declares it, and KV_MAX, its largest finite value): keys and
// values are rounded to it when stored and widened to f32 when read; every sum is f32. The
// step's own keys and values, read from q, are rounded the same way (kv_round), so a token's
// key is the same number whether a later step reads it from the pool or its own step reads it
// from q (as llama.cpp, which stores a batch's rows before it attends over them).
//
// Each tile's key locations (key_at: a block-table load and the row arithmetic) are found once,
// by the lane that scores the key, into koff; the V loop reads them from there.

struct Params {
    n_tok: u32,
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    block: u32,      // tokens per KV block
    q_stride: u32,   // floats between tokens' [q | k | v] rows
    k_offset: u32,   // where a token's K row starts in its row
    v_offset: u32,   // where its V row starts
    kv_dim: u32,     // n_kv · head_dim
    out_stride: u32,
    scale: f32,
    window: u32,     // sliding window in positions (0: none)
    q_head: u32,     // floats between a query token's heads (hd; 2·hd when gated)
    gated: u32,      // 1: out ·= sigmoid(gate), the gate stored after each query head (Qwen3.5)
    // 1: a decode step (every session one token): the query head and the token's new key are
    // normed and rotated here (rotary.wgsl's norm_rope), not by a qk_norm_rope dispatch before.
    rope_here: u32,
    n_rot: u32,      // the rest as rope.wgsl's Params
    neox: u32,
    theta_scale: f32,
    imrope: u32,
    sect0: u32,
    sect1: u32,
    sect2: u32,
    sect_dims: u32,
    has_ff: u32,
    freq_scale: f32,
    norm_n: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;          // [n_tok, q_stride]: q (n_head · q_head), k, v (kv_dim each)
@group(0) @binding(1) var<storage, read_write> kc: array<KvT>;   // pool [rows, n_kv, hd]
@group(0) @binding(2) var<storage, read_write> vc: array<KvT>;   // pool [rows, n_kv, hd]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // [n_tok, n_head, hd]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> tmeta: array<vec4<u32>>; // [n_tok] (pos, table offset, session's first token, _)
@group(0) @binding(6) var<storage, read> tables: array<u32>;     // block ids of each session
@group(0) @binding(7) var<storage, read> ff: array<f32>;         // [n_rot / 2] (has_ff)
@group(0) @binding(8) var<storage, read> qkn: array<f32>;        // [2 · norm_n] q_norm, k_norm weights

const TILE: u32 = 64u;
var<workgroup> hv: array<f32, 1024>;   // the query head at 0, with rope_here the new key at 512
var<workgroup> sc: array<f32, 64>;
var<workgroup> red: array<f32, 64>;
var<workgroup> koff: array<vec2<u32>, 64>;  // key_at of the tile's keys (the V loop reads them)

fn norm_weight(is_k: bool, i: u32) -> f32 {
    if (is_k) { return qkn[p.norm_n + i]; }
    return qkn[i];
}

// x as the pool stores it: clamped to KvT's finite range (KV_MAX: 65504 for f16), so that an
// outsized key becomes a large finite one, not an infinity (WGSL leaves out-of-range f16
// conversions undefined; ggml's would give inf and NaN logits).
fn to_kv(x: f32) -> KvT {
    return KvT(clamp(x, -KV_MAX, KV_MAX));
}

fn kv_round(x: f32) -> f32 {
    return f32(to_kv(x));
}

fn pool_row(table: u32, j: u32) -> u32 {
    return tables[table + j / p.block] * p.block + j % p.block;
}

// Where key j is for a token whose session's first token in this step is token `first`, at
// position `pos0`: its pool row's float offset, or (a position of this step) the offset of its
// token's [q | k | v] row in q plus the head's (add k_offset / v_offset); .y = 1 for the latter.
fn key_at(table: u32, first: u32, pos0: u32, j: u32, kvh: u32) -> vec2<u32> {
    if (j >= pos0) { return vec2<u32>((first + j - pos0) * p.q_stride + kvh * p.head_dim, 1u); }
    return vec2<u32>(pool_row(table, j) * p.kv_dim + kvh * p.head_dim, 0u);
}

// What both attention kernels do first, for query heads h0 .. h0 + heads − 1 of token t (one
// KV head's): the heads into hv at g·head_dim (and, in a decode step, the token's new key at
// kb, all normed and rotated), and the token's K and V rows into the pool by the workgroup of
// each KV head's first query head. `attention` takes one head (kb 512), `attention_sg` G.
// Called in uniform control flow (barriers).
fn attention_begin(h0: u32, heads: u32, kb: u32, t: u32, lane: u32) {
    let hd = p.head_dim;
    let kvh = h0 / (p.n_head / p.n_kv);
    let tm = tmeta[t];
    let here = p.rope_here != 0u;
    let src = t * p.q_stride + kvh * hd;
    for (var d = lane; d < heads * hd; d += TILE) {
        hv[d] = q[t * p.q_stride + (h0 + d / hd) * p.q_head + d % hd];
    }
    if (here) {
        for (var d = lane; d < hd; d += TILE) { hv[kb + d] = q[src + p.k_offset + d]; }
    }
    workgroupBarrier();
    if (here) {
        for (var g = 0u; g < heads; g++) { norm_rope(g * hd, false, tm.x, lane); }
        norm_rope(kb, true, tm.x, lane);
    }
    if (h0 % (p.n_head / p.n_kv) == 0u) {
        let row = pool_row(tm.y, tm.x) * p.kv_dim + kvh * hd;
        for (var d = lane; d < hd; d += TILE) {
            if (here) { kc[row + d] = to_kv(hv[kb + d]); } else { kc[row + d] = to_kv(q[src + p.k_offset + d]); }
            vc[row + d] = to_kv(q[src + p.v_offset + d]);
        }
    }
}

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wg.x;
    let t = wg.y;
    let hd = p.head_dim;
    let kvh = h / (p.n_head / p.n_kv);
    let tm = tmeta[t];
    let table = tm.y;
    let first_tok = tm.z;
    let pos0 = tm.x - (t - tm.z);   // position of the session's first token in this step
    let here = p.rope_here != 0u;
    attention_begin(h, 1u, 512u, t, lid.x);
    let n_keys = tm.x + 1u;
    var first = 0u;
    if (p.window > 0u && n_keys > p.window) { first = n_keys - p.window; }
    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 8>;   // dims lid, lid + 64, ... (head_dim ≤ 512)
    for (var start = first; start < n_keys; start += TILE) {
        let j = start + lid.x;
        var s = -3.0e38;
        if (j < n_keys) {
            let ko = key_at(table, first_tok, pos0, j, kvh);
            koff[lid.x] = ko;
            var dotv = 0.0;
            if (ko.y != 0u && here) {
                // The one new key of a decode step, rotated above.
                for (var d = 0u; d < hd; d++) { dotv += hv[d] * kv_round(hv[512u + d]); }
            } else if (ko.y != 0u) {
                let kx = ko.x + p.k_offset;
                for (var d = 0u; d < hd; d++) { dotv += hv[d] * kv_round(q[kx + d]); }
            } else {
                for (var d = 0u; d < hd; d++) { dotv += hv[d] * f32(kc[ko.x + d]); }
            }
            s = dotv * p.scale;
        }
        sc[lid.x] = s;
        workgroupBarrier();
        var tmax = m;
        for (var i = 0u; i < TILE; i++) { tmax = max(tmax, sc[i]); }
        let corr = exp(m - tmax);
        workgroupBarrier();
        var pj = 0.0;
        if (j < n_keys) { pj = exp(s - tmax); }
        sc[lid.x] = pj;
        workgroupBarrier();
        var tsum = 0.0;
        let nk = min(TILE, n_keys - start);
        for (var i = 0u; i < nk; i++) { tsum += sc[i]; }
        l = l * corr + tsum;
        for (var c = 0u; c * TILE + lid.x < hd; c++) {
            let d = c * TILE + lid.x;
            var a = acc[c] * corr;
            for (var i = 0u; i < nk; i++) {
                let vo = koff[i];
                if (vo.y != 0u) { a += sc[i] * kv_round(q[vo.x + p.v_offset + d]); } else { a += sc[i] * f32(vc[vo.x + d]); }
            }
            acc[c] = a;
        }
        m = tmax;
        workgroupBarrier();
    }
    for (var c = 0u; c * TILE + lid.x < hd; c++) {
        var gate = 1.0;
        if (p.gated != 0u) { gate = 1.0 / (1.0 + exp(-q[t * p.q_stride + h * p.q_head + hd + c * TILE + lid.x])); }
        out[t * p.out_stride + h * hd + c * TILE + lid.x] = acc[c] / l * gate;
    }
}
