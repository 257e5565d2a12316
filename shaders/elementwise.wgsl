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
    a[p.a_offset + i] = silu_f32(a[p.a_offset + i]) * b[p.b_offset + i];
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

// a = gelu(a) · b (GeGLU: a = gate, b = up), GELU as ggml's CPU computes it (`gelu_ggml`).
@compute @workgroup_size(64)
fn gelu_mul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    a[p.a_offset + i] = gelu_ggml(a[p.a_offset + i]) * b[p.b_offset + i];
}

// a = alpha · tanh(a / alpha)  (final logit soft-capping, alpha = the cap)
@compute @workgroup_size(64)
fn softcap(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= p.n) { return; }
    a[p.a_offset + i] = p.alpha * tanh_f32(a[p.a_offset + i] * (1.0 / p.alpha));
}
