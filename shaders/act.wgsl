// Activations shared by kernel families (prepended to elementwise.wgsl and matmul.wgsl by the
// host): SiLU, and GELU exactly as ggml's CPU computes it.

// x · σ(x), in the form every kernel uses (so fused and separate activations agree bit for bit).
fn silu_f32(x: f32) -> f32 {
    return x / (1.0 + exp(-x));
}

// x rounded to the nearest f16 value (ties to even), as an f32 — by bit arithmetic, so every
// adapter rounds alike (WGSL leaves the rounding of its own f32→f16 conversions open).
// |x| < 65504 here (GELU's inputs and outputs below 10).
fn round_f16(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    let sign = b & 0x80000000u;
    let a = b & 0x7fffffffu;
    if (a >= 0x38800000u) {
        // normal f16: keep 10 mantissa bits, round the 13 dropped ones to nearest even
        let r = a + 0xfffu + ((a >> 13u) & 1u);
        return bitcast<f32>(sign | (r & 0xffffe000u));
    }
    // subnormal f16: multiples of 2^-24 (scaling by 2^24 is exact; round() ties to even)
    let q = round(bitcast<f32>(a) * 16777216.0) / 16777216.0;
    return bitcast<f32>(sign | bitcast<u32>(q));
}

// tanh to f32 precision on any adapter (via exp of a non-positive argument: no overflow)
fn tanh_f32(x: f32) -> f32 {
    let t = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - t) / (1.0 + t);
}

// GELU (tanh form) as ggml's CPU computes it: of the input rounded to f16, rounded to f16 (its
// `ggml_table_gelu_f16`), 0 below −10, identity above 10.
fn gelu_ggml(x: f32) -> f32 {
    if (x <= -10.0) { return 0.0; }
    if (x >= 10.0) { return x; }
    let h = round_f16(x);
    return round_f16(0.5 * h * (1.0 + tanh_f32(0.7978845608028654 * h * (1.0 + 0.044715 * h * h))));
}
