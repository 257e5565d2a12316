// Chunked (SSD) form of the Mamba2 selective scan for prefill — mathematically the
// sequential scan of ssm.wgsl (spec §2.1), but parallel over tokens inside a chunk:
// with a_t = Δ_t·A_h and L_t = Σ_{τ≤t} a_τ within a chunk of Q tokens,
//   y_t  = exp(L_t)·(C_t·S_in) + Σ_{s≤t} exp(L_t − L_s)·(C_t·B_s)·Δ_s·x_s
//   S_out = exp(L_Q)·S_in + Σ_s exp(L_Q − L_s)·Δ_s·x_s ⊗ B_s
// Three passes: ssd_chunk (intra-chunk outputs and each chunk's own state contribution, all
// chunks in parallel), ssd_state (carry the state across chunks, in order), ssd_out (add the
// carried-state term, D skip and SiLU(z) gate).

struct Params {
    n_tok: u32,
    d_inner: u32,
    d_state: u32,
    n_head: u32,
    n_group: u32,
    d_in_proj: u32,
    n_chunks: u32,
    state_off: u32,  // floats: the session's slot in the state pool
}

@group(0) @binding(0) var<storage, read> zx: array<f32>;            // [n_tok, d_in_proj] z|xBC|dt
@group(0) @binding(1) var<storage, read> xbc: array<f32>;           // [n_tok, conv_dim] conv output
@group(0) @binding(2) var<storage, read> dtb: array<f32>;           // [nh]
@group(0) @binding(3) var<storage, read> a: array<f32>;             // [nh] (negative)
@group(0) @binding(4) var<storage, read> dsk: array<f32>;           // [nh] D
@group(0) @binding(5) var<storage, read_write> ds: array<f32>;      // [n_chunks, nh, P, N]
@group(0) @binding(6) var<storage, read_write> decay: array<f32>;   // [n_chunks, nh] exp(L_Q)
@group(0) @binding(7) var<storage, read_write> y: array<f32>;       // [n_tok, d_inner]
@group(0) @binding(8) var<storage, read_write> state: array<f32>;   // [nh, P, N]
@group(0) @binding(9) var<uniform> p: Params;

const Q: u32 = 32u;
var<workgroup> sdt: array<f32, 32>;
var<workgroup> sl: array<f32, 32>;
var<workgroup> gm: array<f32, 1024>;

fn softplus(v: f32) -> f32 { if (v > 20.0) { return v; } return log(1.0 + exp(v)); }
fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

// Δ_t and the prefix sums L_t of chunk c for head h into shared memory; returns the length.
fn chunk_decays(h: u32, c: u32, li: u32) -> u32 {
    let t0 = c * Q;
    let qc = min(Q, p.n_tok - t0);
    if (li < qc) {
        let dt = softplus(zx[(t0 + li) * p.d_in_proj + 2u * p.d_inner + 2u * p.n_group * p.d_state + h] + dtb[h]);
        sdt[li] = dt;
        sl[li] = dt * a[h];
    }
    workgroupBarrier();
    if (li == 0u) {
        var acc = 0.0;
        for (var t = 0u; t < qc; t++) { acc += sl[t]; sl[t] = acc; }
    }
    workgroupBarrier();
    return qc;
}

@compute @workgroup_size(64)
fn ssd_chunk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wg.x;
    let c = wg.y;
    let t0 = c * Q;
    let qc = chunk_decays(h, c, li);
    let n = p.d_state;
    let hp = p.d_inner / p.n_head;
    let g = h / (p.n_head / p.n_group);
    let conv_dim = p.d_inner + 2u * p.n_group * n;
    let b_off = p.d_inner + g * n;
    let c_off = p.d_inner + p.n_group * n + g * n;
    if (li == 0u) { decay[c * p.n_head + h] = exp(sl[qc - 1u]); }
    // gm[t][s] = (C_t · B_s) · exp(L_t − L_s) · Δ_s for s ≤ t
    for (var i = li; i < qc * qc; i += 64u) {
        let t = i / qc;
        let s = i % qc;
        var v = 0.0;
        if (s <= t) {
            let bo = (t0 + s) * conv_dim + b_off;
            let co = (t0 + t) * conv_dim + c_off;
            var d = 0.0;
            for (var k = 0u; k < n; k++) { d += xbc[co + k] * xbc[bo + k]; }
            v = d * exp(sl[t] - sl[s]) * sdt[s];
        }
        gm[t * Q + s] = v;
    }
    workgroupBarrier();
    for (var i = li; i < qc * hp; i += 64u) {
        let t = i / hp;
        let pp = i % hp;
        var acc = 0.0;
        for (var s = 0u; s <= t; s++) { acc += gm[t * Q + s] * xbc[(t0 + s) * conv_dim + h * hp + pp]; }
        y[(t0 + t) * p.d_inner + h * hp + pp] = acc;
    }
    let lq = sl[qc - 1u];
    for (var i = li; i < hp * n; i += 64u) {
        let pp = i / n;
        let k = i % n;
        var acc = 0.0;
        for (var s = 0u; s < qc; s++) {
            let xo = (t0 + s) * conv_dim;
            acc += exp(lq - sl[s]) * sdt[s] * xbc[xo + h * hp + pp] * xbc[xo + b_off + k];
        }
        ds[((c * p.n_head + h) * hp + pp) * n + k] = acc;
    }
}

// One invocation per state element: walk the chunks in order, leaving in ds[c] the state
// that enters chunk c, and write the final state back.
@compute @workgroup_size(64)
fn ssd_state(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let total = p.d_inner * p.d_state;
    if (i >= total) { return; }
    let h = i / ((p.d_inner / p.n_head) * p.d_state);
    var s = state[p.state_off + i];
    for (var c = 0u; c < p.n_chunks; c++) {
        let own = ds[c * total + i];
        ds[c * total + i] = s;
        s = decay[c * p.n_head + h] * s + own;
    }
    state[p.state_off + i] = s;
}

@compute @workgroup_size(64)
fn ssd_out(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wg.x;
    let c = wg.y;
    let t0 = c * Q;
    let qc = chunk_decays(h, c, li);
    let n = p.d_state;
    let hp = p.d_inner / p.n_head;
    let g = h / (p.n_head / p.n_group);
    let conv_dim = p.d_inner + 2u * p.n_group * n;
    let c_off = p.d_inner + p.n_group * n + g * n;
    let s_in = (c * p.n_head + h) * hp * n;
    for (var i = li; i < qc * hp; i += 64u) {
        let t = i / hp;
        let pp = i % hp;
        let co = (t0 + t) * conv_dim + c_off;
        var inter = 0.0;
        for (var k = 0u; k < n; k++) { inter += xbc[co + k] * ds[s_in + pp * n + k]; }
        let idx = h * hp + pp;
        let xv = xbc[(t0 + t) * conv_dim + idx];
        let z = zx[(t0 + t) * p.d_in_proj + idx];
        let o = (t0 + t) * p.d_inner + idx;
        y[o] = (y[o] + exp(sl[t]) * inter + xv * dsk[h]) * silu(z);
    }
}
