// A plain vec4 copy: the bandwidth yardstick `braid bench` reports decode against.

struct Params {
    groups_x: u32,
    _a: u32,
    _b: u32,
    _c: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.groups_x * 64u + gid.x;
    if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}
