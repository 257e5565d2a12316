// Causal GQA attention over the paged KV pool, decode and prefill alike: one workgroup per
// (query head, token), keys in tiles of 64 with an online softmax — no tokens × tokens
// matrix. Token t (of any session) is at position tmeta[t].x and sees that session's
// positions 0 ..= tmeta[t].x (or, with a sliding window W, the last W of them, as llama.cpp's
// LLAMA_SWA_TYPE_STANDARD mask), found through its block table: key j lives in pool row
// tables[tmeta[t].y + j / BLOCK] · BLOCK + j % BLOCK.
//
// kv_store writes the new tokens' K and V rows into their pool rows the same way.

struct Params {
    n_tok: u32,
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    block: u32,      // tokens per KV block
    q_stride: u32,   // floats between query tokens
    kv_dim: u32,     // n_kv · head_dim
    out_stride: u32,
    scale: f32,
    window: u32,     // sliding window in positions (0: none)
    q_head: u32,     // floats between a query token's heads (hd; 2·hd when gated)
    gated: u32,      // 1: out ·= sigmoid(gate), the gate stored after each query head (Qwen3.5)
}

@group(0) @binding(0) var<storage, read> q: array<f32>;          // [n_tok, n_head, hd]
@group(0) @binding(1) var<storage, read> kc: array<f32>;         // pool [rows, n_kv, hd]
@group(0) @binding(2) var<storage, read> vc: array<f32>;         // pool [rows, n_kv, hd]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // [n_tok, n_head, hd]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> tmeta: array<vec4<u32>>; // [n_tok] (pos, table offset, …)
@group(0) @binding(6) var<storage, read> tables: array<u32>;     // block ids of each session
@group(0) @binding(7) var<storage, read> knew: array<f32>;       // [n_tok, kv_dim] (kv_store)
@group(0) @binding(8) var<storage, read> vnew: array<f32>;
@group(0) @binding(9) var<storage, read_write> kpool: array<f32>;
@group(0) @binding(10) var<storage, read_write> vpool: array<f32>;

const TILE: u32 = 64u;
var<workgroup> qs: array<f32, 512>;
var<workgroup> sc: array<f32, 64>;

fn pool_row(table: u32, j: u32) -> u32 {
    return tables[table + j / p.block] * p.block + j % p.block;
}

@compute @workgroup_size(64)
fn kv_store(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = gid.y * nw.x * 64u + gid.x;
    if (i >= p.n_tok * p.kv_dim) { return; }
    let t = i / p.kv_dim;
    let d = i % p.kv_dim;
    let row = pool_row(tmeta[t].y, tmeta[t].x);
    kpool[row * p.kv_dim + d] = knew[i];
    vpool[row * p.kv_dim + d] = vnew[i];
}

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wg.x;
    let t = wg.y;
    let hd = p.head_dim;
    let kvh = h / (p.n_head / p.n_kv);
    let table = tmeta[t].y;
    for (var d = lid.x; d < hd; d += TILE) { qs[d] = q[t * p.q_stride + h * p.q_head + d]; }
    workgroupBarrier();
    let n_keys = tmeta[t].x + 1u;
    var first = 0u;
    if (p.window > 0u && n_keys > p.window) { first = n_keys - p.window; }
    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 8>;   // dims lid, lid + 64, ... (head_dim ≤ 512)
    for (var start = first; start < n_keys; start += TILE) {
        let j = start + lid.x;
        var s = -3.0e38;
        if (j < n_keys) {
            let ko = pool_row(table, j) * p.kv_dim + kvh * hd;
            var dotv = 0.0;
            for (var d = 0u; d < hd; d++) { dotv += qs[d] * kc[ko + d]; }
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
            for (var i = 0u; i < nk; i++) { a += sc[i] * vc[pool_row(table, start + i) * p.kv_dim + kvh * hd + d]; }
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
