// Gated DeltaNet (Qwen3.5 / Qwen3-Next linear attention; llama.cpp `delta-net-base.cpp` and
// ggml's `gated_delta_net`). Per token and value head h (key head kh = h % n_k for Qwen3.5,
// h / (n_v / n_k) for Qwen3-Next), with q, k L2-normalised, β = sigmoid(b) and
// g = softplus(a + dt_bias) · A (A = −exp(A_log), so g ≤ 0):
//     S ← exp(g) · S;   δ = β · (v − Sᵀk);   S ← S + k δᵀ;   o = Sᵀq / √d_k
// with S the head's [d_k, d_v] state matrix, stored column by column: state[h][j][i] is
// S[i][j] (key index fastest, as llama.cpp keeps it).
//
// Decode and small batches run the recurrence token by token (`dn_scan`). Prefill runs the
// chunked form (WY / UT representation, chunks of C = 64 tokens): within a chunk with
// cumulative decay G_t = Σ_{s≤t} g_s, the pseudo-values u = U − W·S0 come from one unit
// lower-triangular solve T = (I + L)⁻¹ with L[t][s] = β_t·e^{G_t−G_s}·(k_t·k_s) (s < t),
// U = T·diag(β)·V and W = T·diag(β·e^G)·K (`dn_chunk_prep`, all chunks in parallel); then
// chunk after chunk (`dn_chunk_scan`): o_t = e^{G_t}·S0ᵀq_t + Σ_{s≤t} e^{G_t−G_s}(q_t·k_s)·u_s
// and S ← e^{G_C}·S0 + Σ_s e^{G_C−G_s}·k_s u_sᵀ — n/64 sequential steps instead of n.

struct Params {
    n_tok: u32,
    /// Key heads (`ssm.group_count`) and value heads (`ssm.time_step_rank`).
    n_k: u32,
    n_v: u32,
    /// Key and value head dims (`ssm.state_size`).
    s_k: u32,
    s_v: u32,
    /// 0: value head h reads key head h % n_k (Qwen3.5); 1: h / (n_v / n_k) (Qwen3-Next).
    head_map: u32,
    /// 0: ba rows are [b (n_v) | a (n_v)]; 1: per key head [b (n_v/n_k) | a (n_v/n_k)].
    ba_interleaved: u32,
    n_chunks: u32,
    /// Floats: the session's slot in the state pool (chunked path, one session).
    state_off: u32,
    /// L2 norm floor (the RMS eps, as llama.cpp passes it).
    eps: f32,
    /// 1 / √d_k.
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> xc: array<f32>;   // [n_tok, 2·n_k·s_k + n_v·s_v] conv output q | k | v
@group(0) @binding(1) var<storage, read> ba: array<f32>;         // [n_tok, 2·n_v] β and α projections
@group(0) @binding(2) var<storage, read> dt_b: array<f32>;       // [n_v]
@group(0) @binding(3) var<storage, read> a: array<f32>;          // [n_v] A = −exp(A_log)
@group(0) @binding(4) var<storage, read_write> bg: array<f32>;   // [n_tok, n_v, 4] (β, g, G in chunk, _)
@group(0) @binding(5) var<storage, read_write> state: array<f32>; // [slots, n_v, s_v, s_k]
@group(0) @binding(6) var<storage, read_write> out: array<f32>;  // [n_tok, n_v, s_v]
@group(0) @binding(7) var<uniform> p: Params;
@group(0) @binding(8) var<storage, read> seqs: array<vec4<u32>>; // (first token, count, slot, _)
@group(0) @binding(9) var<storage, read_write> lm: array<f32>;   // [n_chunks, n_v, 64, 64] L
@group(0) @binding(10) var<storage, read_write> mm: array<f32>;  // [n_chunks, n_v, 64, 64] e^{G_t−G_s}(q_t·k_s)
@group(0) @binding(11) var<storage, read_write> tm: array<f32>;  // [n_chunks, n_v, 64, 64] T = (I + L)⁻¹
@group(0) @binding(12) var<storage, read_write> uw: array<f32>;  // [n_tok, n_v, s_v + s_k] U | W

const C: u32 = 64u;

fn conv_dim() -> u32 { return 2u * p.n_k * p.s_k + p.n_v * p.s_v; }
fn khead(h: u32) -> u32 {
    if (p.head_map == 0u) { return h % p.n_k; }
    return h / (p.n_v / p.n_k);
}
fn q_at(t: u32, kh: u32) -> u32 { return t * conv_dim() + kh * p.s_k; }
fn k_at(t: u32, kh: u32) -> u32 { return t * conv_dim() + (p.n_k + kh) * p.s_k; }
fn v_at(t: u32, h: u32) -> u32 { return t * conv_dim() + 2u * p.n_k * p.s_k + h * p.s_v; }

// Per token: L2-normalise each q and k head in place (x / max(‖x‖, eps), ggml_l2_norm), and
// compute β and g of each value head. One invocation per (token, job); jobs are the 2·n_k
// q/k heads, then the n_v value heads.
@compute @workgroup_size(64)
fn dn_prep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let jobs = 2u * p.n_k + p.n_v;
    let idx = gid.x;
    let t = idx / jobs;
    let j = idx % jobs;
    if (t >= p.n_tok) { return; }
    if (j < 2u * p.n_k) {
        let o = t * conv_dim() + j * p.s_k;
        var ss = 0.0;
        for (var i = 0u; i < p.s_k; i++) { ss += xc[o + i] * xc[o + i]; }
        let sc = 1.0 / max(sqrt(ss), p.eps);
        for (var i = 0u; i < p.s_k; i++) { xc[o + i] *= sc; }
        return;
    }
    let h = j - 2u * p.n_k;
    var bi = h;
    var ai = p.n_v + h;
    if (p.ba_interleaved != 0u) {
        let rf = p.n_v / p.n_k;
        let g = h / rf;
        bi = g * 2u * rf + h % rf;
        ai = bi + rf;
    }
    let row = t * 2u * p.n_v;
    let beta = 1.0 / (1.0 + exp(-ba[row + bi]));
    var sp = ba[row + ai] + dt_b[h];
    if (sp <= 20.0) { sp = log(1.0 + exp(sp)); }
    let o = (t * p.n_v + h) * 4u;
    bg[o] = beta;
    bg[o + 1u] = sp * a[h];
}

var<workgroup> kq: array<f32, 512>;   // k (≤ 256) | q (≤ 256) of the current token

// The recurrence token by token. Workgroup (value head, block of 64 state columns) ×
// session; each invocation keeps one column S[:, j] in registers.
@compute @workgroup_size(64)
fn dn_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let nb = (p.s_v + 63u) / 64u;
    let h = wid.x / nb;
    let j = (wid.x % nb) * 64u + lid.x;
    let live = j < p.s_v;
    let sq = seqs[wid.y];
    let kh = khead(h);
    let so = sq.z * p.n_v * p.s_v * p.s_k + (h * p.s_v + j) * p.s_k;
    var s: array<f32, 256>;
    if (live) { for (var i = 0u; i < p.s_k; i++) { s[i] = state[so + i]; } }
    for (var t = sq.x; t < sq.x + sq.y; t++) {
        workgroupBarrier();
        for (var i = lid.x; i < p.s_k; i += 64u) {
            kq[i] = xc[k_at(t, kh) + i];
            kq[256u + i] = xc[q_at(t, kh) + i];
        }
        workgroupBarrier();
        if (live) {
            let o = (t * p.n_v + h) * 4u;
            let beta = bg[o];
            let eg = exp(bg[o + 1u]);
            var kv = 0.0;
            for (var i = 0u; i < p.s_k; i++) {
                s[i] *= eg;
                kv += s[i] * kq[i];
            }
            let d = (xc[v_at(t, h) + j] - kv) * beta;
            var acc = 0.0;
            for (var i = 0u; i < p.s_k; i++) {
                s[i] += kq[i] * d;
                acc += s[i] * kq[256u + i];
            }
            out[(t * p.n_v + h) * p.s_v + j] = acc * p.scale;
        }
    }
    if (live) { for (var i = 0u; i < p.s_k; i++) { state[so + i] = s[i]; } }
}

var<workgroup> gcs: array<f32, 64>;

// Per (chunk, value head), invocation t = row t of the chunk: cumulative decay G, the rows of
// L and M, column t of T = (I + L)⁻¹ by forward substitution, then rows of U and W.
@compute @workgroup_size(64)
fn dn_chunk_prep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    let h = wid.y;
    let t = lid.x;
    let t0 = c * C;
    let nc = min(C, p.n_tok - t0);
    let kh = khead(h);
    let live = t < nc;
    let tt = t0 + t;
    if (live) { gcs[t] = bg[(tt * p.n_v + h) * 4u + 1u]; }
    workgroupBarrier();
    var gt = 0.0;
    if (live) {
        for (var s = 0u; s <= t; s++) { gt += gcs[s]; }
    }
    workgroupBarrier();
    if (live) {
        gcs[t] = gt;
        bg[(tt * p.n_v + h) * 4u + 2u] = gt;
    }
    workgroupBarrier();
    let base = (c * p.n_v + h) * C * C;
    if (live) {
        var kt: array<f32, 128>;
        var qt: array<f32, 128>;
        for (var i = 0u; i < p.s_k; i++) {
            kt[i] = xc[k_at(tt, kh) + i];
            qt[i] = xc[q_at(tt, kh) + i];
        }
        let beta_t = bg[(tt * p.n_v + h) * 4u];
        for (var s = 0u; s < C; s++) {
            var l = 0.0;
            var m = 0.0;
            if (s <= t) {
                let ko = k_at(t0 + s, kh);
                var kk = 0.0;
                var qk = 0.0;
                for (var i = 0u; i < p.s_k; i++) {
                    kk += kt[i] * xc[ko + i];
                    qk += qt[i] * xc[ko + i];
                }
                let dec = exp(gt - gcs[s]);
                m = dec * qk;
                if (s < t) { l = beta_t * dec * kk; }
            }
            lm[base + t * C + s] = l;
            mm[base + t * C + s] = m;
        }
    }
    storageBarrier();
    // column t of T: T[t][t] = 1, T[r][t] = −Σ_{t≤s<r} L[r][s]·T[s][t]
    var col: array<f32, 64>;
    for (var r = 0u; r < C; r++) { col[r] = 0.0; }
    if (live) {
        col[t] = 1.0;
        for (var r = t + 1u; r < nc; r++) {
            var acc = 0.0;
            for (var s = t; s < r; s++) { acc += lm[base + r * C + s] * col[s]; }
            col[r] = -acc;
        }
        for (var r = 0u; r < C; r++) { tm[base + r * C + t] = col[r]; }
    }
    storageBarrier();
    if (live) {
        // row t of T scaled by β_s (for U) and β_s·e^{G_s} (for W)
        var tb: array<f32, 64>;
        var tg: array<f32, 64>;
        for (var s = 0u; s <= t; s++) {
            let o = ((t0 + s) * p.n_v + h) * 4u;
            tb[s] = tm[base + t * C + s] * bg[o];
            tg[s] = tb[s] * exp(gcs[s]);
        }
        let uo = (tt * p.n_v + h) * (p.s_v + p.s_k);
        for (var j = 0u; j < p.s_v; j++) {
            var acc = 0.0;
            for (var s = 0u; s <= t; s++) { acc += tb[s] * xc[v_at(t0 + s, h) + j]; }
            uw[uo + j] = acc;
        }
        for (var i = 0u; i < p.s_k; i++) {
            var acc = 0.0;
            for (var s = 0u; s <= t; s++) { acc += tg[s] * xc[k_at(t0 + s, kh) + i]; }
            uw[uo + p.s_v + i] = acc;
        }
    }
}

const VT: u32 = 16u;
var<workgroup> ssh: array<f32, 2048>;   // S0 tile [s_k ≤ 128][VT]
var<workgroup> ush: array<f32, 1024>;   // u tile [C][VT]

// Chunk after chunk for one session: workgroup (value head, tile of VT state columns);
// invocation t handles row t of the chunk (u, o), then state rows t, t + 64.
@compute @workgroup_size(64)
fn dn_chunk_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let nt = (p.s_v + VT - 1u) / VT;
    let h = wid.x / nt;
    let j0 = (wid.x % nt) * VT;
    let kh = khead(h);
    let so = p.state_off + h * p.s_v * p.s_k;
    let t = lid.x;
    for (var e = t; e < p.s_k * VT; e += 64u) {
        let i = e / VT;
        let jj = e % VT;
        var v = 0.0;
        if (j0 + jj < p.s_v) { v = state[so + (j0 + jj) * p.s_k + i]; }
        ssh[e] = v;
    }
    workgroupBarrier();
    for (var c = 0u; c < p.n_chunks; c++) {
        let t0 = c * C;
        let nc = min(C, p.n_tok - t0);
        let tt = t0 + t;
        let live = t < nc;
        var acc: array<f32, 16>;
        if (live) {
            // u_t = U_t − W_t·S0
            let uo = (tt * p.n_v + h) * (p.s_v + p.s_k);
            for (var jj = 0u; jj < VT; jj++) {
                var v = 0.0;
                if (j0 + jj < p.s_v) { v = uw[uo + j0 + jj]; }
                acc[jj] = v;
            }
            for (var i = 0u; i < p.s_k; i++) {
                let wv = uw[uo + p.s_v + i];
                for (var jj = 0u; jj < VT; jj++) { acc[jj] -= wv * ssh[i * VT + jj]; }
            }
            for (var jj = 0u; jj < VT; jj++) { ush[t * VT + jj] = acc[jj]; }
        }
        workgroupBarrier();
        if (live) {
            // o_t = e^{G_t}·S0ᵀq_t + Σ_{s≤t} M[t][s]·u_s
            for (var jj = 0u; jj < VT; jj++) { acc[jj] = 0.0; }
            let qo = q_at(tt, kh);
            for (var i = 0u; i < p.s_k; i++) {
                let qv = xc[qo + i];
                for (var jj = 0u; jj < VT; jj++) { acc[jj] += qv * ssh[i * VT + jj]; }
            }
            let eg = exp(bg[(tt * p.n_v + h) * 4u + 2u]);
            for (var jj = 0u; jj < VT; jj++) { acc[jj] *= eg; }
            let base = (c * p.n_v + h) * C * C + t * C;
            for (var s = 0u; s <= t; s++) {
                let m = mm[base + s];
                for (var jj = 0u; jj < VT; jj++) { acc[jj] += m * ush[s * VT + jj]; }
            }
            let oo = (tt * p.n_v + h) * p.s_v + j0;
            for (var jj = 0u; jj < VT; jj++) {
                if (j0 + jj < p.s_v) { out[oo + jj] = acc[jj] * p.scale; }
            }
        }
        workgroupBarrier();
        // S ← e^{G_last}·S0 + Σ_s e^{G_last − G_s}·k_s u_sᵀ
        let gl = bg[((t0 + nc - 1u) * p.n_v + h) * 4u + 2u];
        let egl = exp(gl);
        for (var i = t; i < p.s_k; i += 64u) {
            for (var jj = 0u; jj < VT; jj++) { acc[jj] = ssh[i * VT + jj] * egl; }
            for (var s = 0u; s < nc; s++) {
                let ts = t0 + s;
                let kv = xc[k_at(ts, kh) + i] * exp(gl - bg[(ts * p.n_v + h) * 4u + 2u]);
                for (var jj = 0u; jj < VT; jj++) { acc[jj] += kv * ush[s * VT + jj]; }
            }
            for (var jj = 0u; jj < VT; jj++) { ssh[i * VT + jj] = acc[jj]; }
        }
        workgroupBarrier();
    }
    for (var e = t; e < p.s_k * VT; e += 64u) {
        let i = e / VT;
        let jj = e % VT;
        if (j0 + jj < p.s_v) { state[so + (j0 + jj) * p.s_k + i] = ssh[e]; }
    }
}
