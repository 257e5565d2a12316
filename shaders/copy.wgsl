// The bandwidth yardsticks `braid bench` reports decode against: a plain vec4 copy (read +
// write) and a read-only pass (each invocation reads `READS` vec4s a grid apart and writes
// nothing unless a value equals `never`, which the source never holds).

struct Params {
    groups_x: u32,
    /// `read_sweep`: the number of invocations in the grid (the distance between one invocation's reads).
    stride: u32,
    /// `read_sweep`: a value the source does not hold (keeps the loads alive).
    never: f32,
    _c: u32,
}

const READS: u32 = 8u;

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.groups_x * 64u + gid.x;
    if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}

@compute @workgroup_size(64)
fn read_sweep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.groups_x * 64u + gid.x;
    let n = arrayLength(&src);
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < READS; k++) {
        let j = i + k * p.stride;
        if (j < n) { acc += src[j]; }
    }
    if (acc.x == p.never) { dst[0] = acc; }
}
