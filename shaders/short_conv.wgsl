// LFM2's short-convolution mixer core (spec §2.3, llama.cpp `build_shortconv_block`): with the
// in_proj output bcx = [B | C | x] per token, y_t = C_t ⊙ conv(B ⊙ x)_t, where conv is the
// causal depthwise convolution of l_cache taps over [carried state | new tokens] — no bias, no
// activation. One invocation per channel walks its session's tokens in order; the last
// l_cache − 1 inputs become the new state. Tokens of several sessions may share a dispatch:
// seqs[s] = (first token, token count, state slot) and the grid's y dimension is the session.

struct Params {
    n_tok: u32,
    n_embd: u32,
    l_cache: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> bcx: array<f32>;            // [n_tok, 3 · n_embd]
@group(0) @binding(1) var<storage, read> w: array<f32>;              // [n_embd, l_cache]
@group(0) @binding(2) var<storage, read_write> state: array<f32>;    // [slots, n_embd, l_cache − 1]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;        // [n_tok, n_embd]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> seqs: array<vec4<u32>>;     // (first token, count, slot, _)

@compute @workgroup_size(64)
fn short_conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let e = p.n_embd;
    if (c >= e) { return; }
    let sq = seqs[gid.y];
    let k = p.l_cache;
    let so = sq.z * e * (k - 1u) + c * (k - 1u);
    var win: array<f32, 16>;
    for (var i = 0u; i + 1u < k; i++) { win[i] = state[so + i]; }
    for (var t = sq.x; t < sq.x + sq.y; t++) {
        let row = t * 3u * e;
        win[k - 1u] = bcx[row + c] * bcx[row + 2u * e + c];
        var acc = 0.0;
        for (var i = 0u; i < k; i++) { acc += w[c * k + i] * win[i]; }
        y[t * e + c] = bcx[row + e + c] * acc;
        for (var i = 0u; i + 1u < k; i++) { win[i] = win[i + 1u]; }
    }
    for (var i = 0u; i + 1u < k; i++) { state[so + i] = win[i]; }
}
