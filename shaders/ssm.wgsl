// The Mamba2 selective scan (spec §2.1; its causal conv is conv.wgsl). The in_proj output zxbcdt is [n_tok, d_in_proj] with
// rows ordered z | x | B | C | dt. Tokens of several sessions may share a dispatch: seqs[s]
// = (first token, token count, state slot) and the grid's y dimension is the sequence.

struct Params {
    n_tok: u32,
    d_inner: u32,
    d_state: u32,
    n_head: u32,
    n_group: u32,
    d_in_proj: u32,
    /// ssm_step4: 1 — a grouped RMSNorm with one group follows; store y·norm_w and each
    /// workgroup's Σ y² after the token rows (the out_proj epilogue scales by 1/sqrt(mean + eps)).
    fused_norm: u32,
}

@group(0) @binding(0) var<storage, read> zx: array<f32>;            // [n_tok, d_in_proj]
@group(0) @binding(1) var<storage, read> w: array<f32>;             // dt_bias [nh]
@group(0) @binding(2) var<storage, read> b: array<f32>;             // A [nh]
@group(0) @binding(3) var<storage, read> dsk: array<f32>;           // D [nh] (scan)
@group(0) @binding(4) var<storage, read_write> state: array<f32>;   // ssm [slots, nh, P, N]
@group(0) @binding(5) var<storage, read> xbc: array<f32>;           // [n_tok, conv_dim] (conv output)
@group(0) @binding(6) var<storage, read_write> y: array<f32>;       // [n_tok, d_inner] (scan output)
@group(0) @binding(7) var<uniform> p: Params;
@group(0) @binding(8) var<storage, read> seqs: array<vec4<u32>>;    // (first token, count, slot, _)
@group(0) @binding(9) var<storage, read_write> state4: array<vec4<f32>>; // the state as vec4 (ssm_scan4)
@group(0) @binding(10) var<storage, read> xbc4: array<vec4<f32>>;        // xbc as vec4 (ssm_scan4)
@group(0) @binding(11) var<storage, read> zx4: array<vec4<f32>>;         // zx as vec4, xBC rows convolved (ssm_step4)
@group(0) @binding(12) var<storage, read> norm_w: array<f32>;            // [d_inner] grouped-norm weight (ssm_step4, fused_norm)

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }
fn softplus(v: f32) -> f32 { if (v > 20.0) { return v; } return log(1.0 + exp(v)); }

// Selective scan, D skip and SiLU(z) gate. One invocation per (head, head-dim element) row
// of the state, walking the tokens in order. w = dt_bias, b = A (negative), dsk = D.
@compute @workgroup_size(64)
fn ssm_scan(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;   // h * P + pp
    if (idx >= p.d_inner) { return; }
    let hd = p.d_inner / p.n_head;
    let h = idx / hd;
    let g = h / (p.n_head / p.n_group);
    let n = p.d_state;
    let conv_dim = p.d_inner + 2u * n * p.n_group;
    let sq = seqs[gid.y];
    let so = sq.z * p.d_inner * n;
    var s: array<f32, 256>;
    for (var i = 0u; i < n; i++) { s[i] = state[so + idx * n + i]; }
    for (var t = sq.x; t < sq.x + sq.y; t++) {
        let dt = softplus(zx[t * p.d_in_proj + 2u * p.d_inner + 2u * p.n_group * n + h] + w[h]);
        let da = exp(dt * b[h]);
        let xo = t * conv_dim;
        let xv = xbc[xo + idx];
        let bo = xo + p.d_inner + g * n;
        let co = xo + p.d_inner + p.n_group * n + g * n;
        var acc = 0.0;
        for (var i = 0u; i < n; i++) {
            s[i] = s[i] * da + xbc[bo + i] * (xv * dt);
            acc += s[i] * xbc[co + i];
        }
        let z = zx[t * p.d_in_proj + idx];
        y[t * p.d_inner + idx] = (acc + xv * dsk[h]) * silu(z);
    }
    for (var i = 0u; i < n; i++) { state[so + idx * n + i] = s[i]; }
}

// One token's inputs to the vec4 scan of row idx (head h, group g): Δ, exp(Δ·A), x, x·Δ, and
// the vec4 offsets of its B and C.
struct Tok4 { dt: f32, da: f32, xv: f32, xdt: f32, bo: u32, co: u32 }

fn tok4(t: u32, idx: u32, h: u32, g: u32) -> Tok4 {
    let n4 = p.d_state / 4u;
    let xo = t * (p.d_inner + 2u * p.d_state * p.n_group);
    let dt = softplus(zx[t * p.d_in_proj + 2u * p.d_inner + 2u * p.n_group * p.d_state + h] + w[h]);
    let xv = xbc4[(xo + idx) / 4u][idx % 4u];
    return Tok4(dt, exp(dt * b[h]), xv, xv * dt, (xo + p.d_inner) / 4u + g * n4,
                (xo + p.d_inner + p.n_group * p.d_state) / 4u + g * n4);
}

// y of token t from its state·C sums (D skip, SiLU(z) gate).
fn out4(t: u32, idx: u32, h: u32, k: Tok4, acc: vec4<f32>) {
    let z = zx[t * p.d_in_proj + idx];
    y[t * p.d_inner + idx] = ((acc.x + acc.y) + (acc.z + acc.w) + k.xv * dsk[h]) * silu(z);
}

// The same scan when d_state, d_inner and the conv width are multiples of 4: the state row
// stays in the state buffer and is read and written as vec4 (no private array: on CPU
// adapters an indexed private array is per-lane scratch memory, on GPUs 256 floats of
// registers), B and C are read as vec4. Prompts step four tokens per pass over the state row
// (one load and one store of it per four tokens; the same operations in the same order as
// one token at a time).
@compute @workgroup_size(64)
fn ssm_scan4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;   // h * P + pp
    if (idx >= p.d_inner) { return; }
    let hd = p.d_inner / p.n_head;
    let h = idx / hd;
    let g = h / (p.n_head / p.n_group);
    let n4 = p.d_state / 4u;
    let sq = seqs[gid.y];
    let so = (sq.z * p.d_inner + idx) * n4;
    let end = sq.x + sq.y;
    var t = sq.x;
    for (; t + 4u <= end; t += 4u) {
        let k0 = tok4(t, idx, h, g);
        let k1 = tok4(t + 1u, idx, h, g);
        let k2 = tok4(t + 2u, idx, h, g);
        let k3 = tok4(t + 3u, idx, h, g);
        var a0 = vec4<f32>(0.0);
        var a1 = vec4<f32>(0.0);
        var a2 = vec4<f32>(0.0);
        var a3 = vec4<f32>(0.0);
        for (var i = 0u; i < n4; i++) {
            var s = state4[so + i] * k0.da + xbc4[k0.bo + i] * k0.xdt;
            a0 += s * xbc4[k0.co + i];
            s = s * k1.da + xbc4[k1.bo + i] * k1.xdt;
            a1 += s * xbc4[k1.co + i];
            s = s * k2.da + xbc4[k2.bo + i] * k2.xdt;
            a2 += s * xbc4[k2.co + i];
            s = s * k3.da + xbc4[k3.bo + i] * k3.xdt;
            a3 += s * xbc4[k3.co + i];
            state4[so + i] = s;
        }
        out4(t, idx, h, k0, a0);
        out4(t + 1u, idx, h, k1, a1);
        out4(t + 2u, idx, h, k2, a2);
        out4(t + 3u, idx, h, k3, a3);
    }
    for (; t < end; t++) {
        let k = tok4(t, idx, h, g);
        var acc = vec4<f32>(0.0);
        for (var i = 0u; i < n4; i++) {
            let s = state4[so + i] * k.da + xbc4[k.bo + i] * k.xdt;
            state4[so + i] = s;
            acc += s * xbc4[k.co + i];
        }
        out4(t, idx, h, k, acc);
    }
}

var<workgroup> sq_part: array<f32, 64>;

fn zx_at(i: u32) -> f32 { return zx4[i / 4u][i % 4u]; }

// A decode step's inputs for row idx of token t (ssm_step4): Δ, exp(Δ·A), x, x·Δ and the vec4
// offsets of B and C in the in_proj output.
fn step_in(t: u32, idx: u32) -> Tok4 {
    let h = idx / (p.d_inner / p.n_head);
    let g = h / (p.n_head / p.n_group);
    let n4 = p.d_state / 4u;
    let zo = t * p.d_in_proj;
    let dt = softplus(zx_at(zo + 2u * p.d_inner + 2u * p.n_group * p.d_state + h) + w[h]);
    let xv = zx_at(zo + p.d_inner + idx);
    let bo = (zo + 2u * p.d_inner) / 4u + g * n4;
    return Tok4(dt, exp(dt * b[h]), xv, xv * dt, bo, bo + p.n_group * n4);
}

// A decode step's row: gx (the global invocation's x) clamped to the last row (`live` below
// d_inner), its session's token t and state row offset so (in vec4s), and its inputs k.
struct StepRow { live: bool, idx: u32, t: u32, so: u32, k: Tok4 }

fn step_row(gx: u32, seq: u32) -> StepRow {
    let idx = min(gx, p.d_inner - 1u);
    let sq = seqs[seq];
    return StepRow(gx < p.d_inner, idx, sq.x, (sq.z * p.d_inner + idx) * (p.d_state / 4u), step_in(sq.x, idx));
}

// A decode step's output from its state·C sums (D skip, SiLU(z) gate), stored as ssm_step4
// describes; called by every invocation (uniform control flow for the norm's barrier), `live`
// for rows below d_inner.
fn step_out(live: bool, t: u32, idx: u32, k: Tok4, acc: vec4<f32>, li: u32, wg: u32, n_wg: u32) {
    let h = idx / (p.d_inner / p.n_head);
    let v = ((acc.x + acc.y) + (acc.z + acc.w) + k.xv * dsk[h]) * silu(zx_at(t * p.d_in_proj + idx));
    if (p.fused_norm == 0u) {
        if (live) { y[t * p.d_inner + idx] = v; }
        return;
    }
    if (live) { y[t * p.d_inner + idx] = v * norm_w[idx]; }
    sq_part[li] = select(0.0, v * v, live);
    workgroupBarrier();
    if (li == 0u) {
        var s = 0.0;
        for (var i = 0u; i < 64u; i++) { s += sq_part[i]; }
        y[p.n_tok * p.d_inner + t * n_wg + wg] = s;
    }
}

// One decode step of sessions with one token each, reading everything from the in_proj
// output, whose xBC rows the conv already replaced (it runs in in_proj's epilogue,
// `store_conv` in matmul.wgsl): one dispatch instead of conv + scan. The same operations in
// the same order as ssm_scan4's one-token step. With fused_norm (a grouped RMSNorm with one
// group): y·norm_w is stored and each workgroup's Σ y² goes after the token rows, at
// y[n_tok·d_inner + t·groups + wg], for the out_proj epilogue — one dispatch less again.
// Needs d_inner, d_state and d_in_proj multiples of 4.
@compute @workgroup_size(64)
fn ssm_step4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = step_row(gid.x, wg.y);
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < p.d_state / 4u; i++) {
        let s = state4[r.so + i] * r.k.da + zx4[r.k.bo + i] * r.k.xdt;
        if (r.live) { state4[r.so + i] = s; }
        acc += s * zx4[r.k.co + i];
    }
    step_out(r.live, r.t, r.idx, r.k, acc, lid.x, wg.x, nwg.x);
}
