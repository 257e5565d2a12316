// Small elementwise kernels.

struct Params {
    n: u32,
    a_offset: u32,
    b_offset: u32,
    groups_x: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 { return gid.y * p.groups_x * 64u + gid.x; }

// a = silu(a) · b  (SwiGLU: a = gate, b = up)
@compute @workgroup_size(64)
fn silu_mul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    let g = a[p.a_offset + i];
    a[p.a_offset + i] = g / (1.0 + exp(-g)) * b[p.b_offset + i];
}

// a += alpha · b  (residuals)
@compute @workgroup_size(64)
fn add_scaled(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    a[p.a_offset + i] += p.alpha * b[p.b_offset + i];
}

// a = relu(a)²  (Nemotron-H's MLP, llama.cpp's LLM_FFN_RELU_SQR)
@compute @workgroup_size(64)
fn relu_sqr(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    let v = max(a[p.a_offset + i], 0.0);
    a[p.a_offset + i] = v * v;
}

// a = silu(a)  (an ungated SiLU FFN)
@compute @workgroup_size(64)
fn silu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    let v = a[p.a_offset + i];
    a[p.a_offset + i] = v / (1.0 + exp(-v));
}

// a = a · silu(b)  (gated RMSNorm's gate: DeltaNet's SiLU(z))
@compute @workgroup_size(64)
fn mul_silu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    let g = b[p.b_offset + i];
    a[p.a_offset + i] *= g / (1.0 + exp(-g));
}

// a = a · sigmoid(b)  (Qwen3.5 / Qwen3-Next attention output gate)
@compute @workgroup_size(64)
fn mul_sigmoid(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    a[p.a_offset + i] *= 1.0 / (1.0 + exp(-b[p.b_offset + i]));
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

// a = gelu(a) · b (GeGLU: a = gate, b = up) exactly as ggml's CPU computes it: GELU (tanh
// form) of the input rounded to f16, rounded to f16 (its `ggml_table_gelu_f16`), 0 below
// −10, identity above 10.
@compute @workgroup_size(64)
fn gelu_mul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    let x = a[p.a_offset + i];
    var y = x;
    if (x <= -10.0) {
        y = 0.0;
    } else if (x < 10.0) {
        let h = round_f16(x);
        y = round_f16(0.5 * h * (1.0 + tanh_f32(0.7978845608028654 * h * (1.0 + 0.044715 * h * h))));
    }
    a[p.a_offset + i] = y * b[p.b_offset + i];
}

// a = alpha · tanh(a / alpha)  (final logit soft-capping, alpha = the cap)
@compute @workgroup_size(64)
fn softcap(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    a[p.a_offset + i] = p.alpha * tanh_f32(a[p.a_offset + i] * (1.0 / p.alpha));
}
