// Causal depthwise convolution with a carried window (llama.cpp `ggml_ssm_conv` after the
// state concat), for the Mamba2, Mamba-1 and gated DeltaNet mixers: for channel c of token t,
// y[t, c] = act(bias[c] + Σ_i w[c, i] · win[i]) where win is the last d_conv inputs of the
// channel, oldest first ([carried state | new tokens]); act is SiLU. One invocation per
// channel walks its session's tokens in order; the last d_conv − 1 inputs become the new state.
// Tokens of several sessions may share a dispatch: seqs[s] = (first token, token count, state
// slot) and the grid's y dimension is the session.

struct Params {
    n_tok: u32,
    /// Channels convolved (the first `channels` values of each input row).
    channels: u32,
    d_conv: u32,
    /// Floats between input rows.
    x_stride: u32,
    has_bias: u32,
    /// Floats before the first convolved value of each row.
    x_offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;              // [n_tok, x_stride], channels from x_offset
@group(0) @binding(1) var<storage, read> w: array<f32>;              // [channels, d_conv]
@group(0) @binding(2) var<storage, read> bias: array<f32>;           // [channels] (has_bias)
@group(0) @binding(3) var<storage, read_write> state: array<f32>;    // [slots, channels, d_conv − 1]
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // [n_tok, channels]
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read> seqs: array<vec4<u32>>;     // (first token, count, slot, _)

@compute @workgroup_size(64)
fn causal_conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let ch = p.channels;
    if (c >= ch) { return; }
    let sq = seqs[gid.y];
    let k = p.d_conv;
    let so = sq.z * ch * (k - 1u) + c * (k - 1u);
    var win: array<f32, 16>;
    for (var i = 0u; i + 1u < k; i++) { win[i] = state[so + i]; }
    var b0 = 0.0;
    if (p.has_bias != 0u) { b0 = bias[c]; }
    for (var t = sq.x; t < sq.x + sq.y; t++) {
        win[k - 1u] = x[t * p.x_stride + p.x_offset + c];
        var acc = b0;
        for (var i = 0u; i < k; i++) { acc += w[c * k + i] * win[i]; }
        y[t * ch + c] = acc / (1.0 + exp(-acc));
        for (var i = 0u; i + 1u < k; i++) { win[i] = win[i + 1u]; }
    }
    for (var i = 0u; i + 1u < k; i++) { state[so + i] = win[i]; }
}
