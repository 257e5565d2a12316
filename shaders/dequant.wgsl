// Dequantize one tensor part to f32 (tests and debugging; the matrix kernels decode in
// registers instead). One invocation per group of 4 elements of a block, or per element of
// a float type. Dispatched as a 2-D grid: index = y * (groups_x * 64) + x.

struct Params {
    n_blocks: u32,   // blocks to decode (elements for float types)
    head: u32,       // head plane start, in words
    groups_x: u32,   // workgroups along x
    blk0: u32,       // first block (element for float types) to decode
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;   // one part, GPU layout
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // [n_blocks * block_size]
@group(0) @binding(2) var<uniform> p: Params;

fn index(gid: vec3<u32>) -> u32 {
    return gid.y * p.groups_x * 64u + gid.x;
}

// Store elements 4g..4g+3 of block blk (counted from blk0), for blocks of `bs` elements.
fn store4(blk: u32, g: u32, bs: u32, v: vec4<f32>) {
    let o = (blk - p.blk0) * bs + 4u * g;
    out[o] = v.x; out[o + 1u] = v.y; out[o + 2u] = v.z; out[o + 3u] = v.w;
}

@compute @workgroup_size(64)
fn dequant_q4_0(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_q4_0(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q4_1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_q4_1(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q5_0(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_q5_0(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q5_1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_q5_1(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q8_0(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_q8_0(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_iq4_nl(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_iq4_nl(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_mxfp4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 8u) { return; }
    store4(p.blk0 + i / 8u, i % 8u, 32u, load_mxfp4(p.blk0 + i / 8u, i % 8u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q4_k(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 64u) { return; }
    store4(p.blk0 + i / 64u, i % 64u, 256u, load_q4_k(p.blk0 + i / 64u, i % 64u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q5_k(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 64u) { return; }
    store4(p.blk0 + i / 64u, i % 64u, 256u, load_q5_k(p.blk0 + i / 64u, i % 64u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q6_k(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 64u) { return; }
    store4(p.blk0 + i / 64u, i % 64u, 256u, load_q6_k(p.blk0 + i / 64u, i % 64u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q2_k(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 64u) { return; }
    store4(p.blk0 + i / 64u, i % 64u, 256u, load_q2_k(p.blk0 + i / 64u, i % 64u, p.head));
}
@compute @workgroup_size(64)
fn dequant_q3_k(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 64u) { return; }
    store4(p.blk0 + i / 64u, i % 64u, 256u, load_q3_k(p.blk0 + i / 64u, i % 64u, p.head));
}
@compute @workgroup_size(64)
fn dequant_iq4_xs(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks * 64u) { return; }
    store4(p.blk0 + i / 64u, i % 64u, 256u, load_iq4_xs(p.blk0 + i / 64u, i % 64u, p.head));
}
@compute @workgroup_size(64)
fn dequant_f32(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks) { return; }
    out[i] = load_f32(p.blk0 + i);
}
@compute @workgroup_size(64)
fn dequant_f16(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks) { return; }
    out[i] = load_f16(p.blk0 + i);
}
@compute @workgroup_size(64)
fn dequant_bf16(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid); if (i >= p.n_blocks) { return; }
    out[i] = load_bf16(p.blk0 + i);
}
