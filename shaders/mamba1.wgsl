// Mamba-1 selective scan (llama.cpp `build_mamba_layer` → `ggml_ssm_scan` with head_dim 1),
// after the conv (conv.wgsl) and the dt / B / C projections: per channel c of token t, with
// Δ = softplus(dt[t, c]) (dt already through dt_proj + bias) and A[c] a d_state vector:
//     s[i] ← s[i]·exp(Δ·A[c, i]) + B_t[i]·x[t, c]·Δ;   y = Σ_i s[i]·C_t[i] + D[c]·x[t, c]
// then y · SiLU(z[t, c]). One invocation per channel walks its session's tokens in order;
// seqs[s] = (first token, count, state slot) and the grid's y dimension is the session.

struct Params {
    n_tok: u32,
    d_inner: u32,
    d_state: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> xc: array<f32>;            // [n_tok, d_inner] conv output
@group(0) @binding(1) var<storage, read> dbc: array<f32>;           // [n_tok, d_inner + 2·d_state] dt | B | C
@group(0) @binding(2) var<storage, read> xz: array<f32>;            // [n_tok, 2·d_inner] in_proj x | z
@group(0) @binding(3) var<storage, read> a: array<f32>;             // [d_inner, d_state]
@group(0) @binding(4) var<storage, read> dsk: array<f32>;           // [d_inner]
@group(0) @binding(5) var<storage, read_write> state: array<f32>;   // [slots, d_inner, d_state]
@group(0) @binding(6) var<storage, read_write> y: array<f32>;       // [n_tok, d_inner]
@group(0) @binding(7) var<uniform> p: Params;
@group(0) @binding(8) var<storage, read> seqs: array<vec4<u32>>;    // (first token, count, slot, _)

@compute @workgroup_size(64)
fn mamba1_scan(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let di = p.d_inner;
    if (c >= di) { return; }
    let n = p.d_state;
    let sq = seqs[gid.y];
    let so = sq.z * di * n + c * n;
    let w = di + 2u * n;
    var s: array<f32, 256>;
    for (var i = 0u; i < n; i++) { s[i] = state[so + i]; }
    for (var t = sq.x; t < sq.x + sq.y; t++) {
        var dt = dbc[t * w + c];
        if (dt <= 20.0) { dt = log(1.0 + exp(dt)); }
        let x = xc[t * di + c];
        let bo = t * w + di;
        var acc = 0.0;
        for (var i = 0u; i < n; i++) {
            s[i] = s[i] * exp(dt * a[c * n + i]) + dbc[bo + i] * x * dt;
            acc += s[i] * dbc[bo + n + i];
        }
        let z = xz[t * 2u * di + di + c];
        y[t * di + c] = (acc + x * dsk[c]) * (z / (1.0 + exp(-z)));
    }
    for (var i = 0u; i < n; i++) { state[so + i] = s[i]; }
}
