// Causal GQA attention over a KV cache, decode and prefill alike: one workgroup per (query
// head, token), keys in tiles of 64 with an online softmax — no tokens × tokens matrix.
// Query token t (at position pos0 + t) sees cache positions 0 ..= pos0 + t.

struct Params {
    n_tok: u32,
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    pos0: u32,
    q_stride: u32,   // floats between query tokens
    kv_stride: u32,  // floats between cache positions (n_kv · head_dim)
    out_stride: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;         // [n_tok, n_head, hd]
@group(0) @binding(1) var<storage, read> kc: array<f32>;        // [n_ctx, n_kv, hd]
@group(0) @binding(2) var<storage, read> vc: array<f32>;        // [n_ctx, n_kv, hd]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n_tok, n_head, hd]
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
var<workgroup> qs: array<f32, 512>;
var<workgroup> sc: array<f32, 64>;

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wg.x;
    let t = wg.y;
    let hd = p.head_dim;
    let kvh = h / (p.n_head / p.n_kv);
    for (var d = lid.x; d < hd; d += TILE) { qs[d] = q[t * p.q_stride + h * hd + d]; }
    workgroupBarrier();
    let n_keys = p.pos0 + t + 1u;
    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 8>;   // dims lid, lid + 64, ... (head_dim ≤ 512)
    for (var start = 0u; start < n_keys; start += TILE) {
        let j = start + lid.x;
        var s = -3.0e38;
        if (j < n_keys) {
            let ko = j * p.kv_stride + kvh * hd;
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
            for (var i = 0u; i < nk; i++) { a += sc[i] * vc[(start + i) * p.kv_stride + kvh * hd + d]; }
            acc[c] = a;
        }
        m = tmax;
        workgroupBarrier();
    }
    for (var c = 0u; c * TILE + lid.x < hd; c++) {
        out[t * p.out_stride + h * hd + c * TILE + lid.x] = acc[c] / l;
    }
}
