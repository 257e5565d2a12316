// Matrix–vector product (decode) with subgroup reductions: each subgroup owns a row at a
// time, its lanes read neighbouring words of that row (coalesced) and one subgroupAdd
// replaces the workgroup reduction — no barriers. Appended to matmul.wgsl when the device
// has subgroups (the host prepends `enable subgroups;`).

@compute @workgroup_size(64)
fn matvec_subgroup(@builtin(workgroup_id) wg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32,
                   @builtin(subgroup_invocation_id) lane: u32,
                   @builtin(subgroup_size) sg: u32) {
    let n_sg = max(64u / sg, 1u);
    let sub = li / sg;
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    let xo = p.x_offset / 4u;
    // 8 rows per workgroup, shared out among its subgroups. The loop's trip count is the
    // same for every invocation (uniform control flow for NORM_FLUSH's barrier); a subgroup's
    // lanes take the same branch.
    let first = (wg.y * p.groups_x + wg.x) * 8u;
    if (p.norm_count != 0u) {
        // The input's RMS scale (one token) from its partial sums, loaded by the subgroup's
        // lanes together (a fused pre-norm leaves one per 8 rows: rms_scale's lane-0 loop
        // would be as long as the product).
        var s = 0.0;
        for (var i = lane; i < p.norm_count; i += sg) { s += x[(p.norm_base + i) / 4u][(p.norm_base + i) % 4u]; }
        rs_v = 1.0 / sqrt(subgroupAdd(s) / f32(p.norm_width) + p.norm_eps);
        rs_t = 0u;
    }
    for (var b = 0u; b < 8u; b += n_sg) {
        let rr = b + sub;
        let r = first + rr;
        if (rr < 8u && r < p.n_rows) {
            var acc = 0.0;
            for (var j = lane; j < groups; j += sg) {
                acc += dot(LOAD_FN(r * bpr + j / GPB, j % GPB, p.head), x[xo + j]);
            }
            let total = subgroupAdd(acc);
            if (lane == 0u) { store_row(p.y_offset + p.row0 + r, r, total); }
        }
    }
    NORM_FLUSH(li, 64u, wg.y * p.groups_x + wg.x, 8u);
}

// x16 with the loads shared by an 8-lane subgroup (one workgroup of the CPU adapters' 8-wide
// kernels): lane l loads groups l and 8 + l of the 16, every lane reads all 16 by broadcast.
// On lavapipe each storage load is a loop over the SIMD lanes and a broadcast is one vector
// operation, so the chunk costs each lane 2 loads instead of 16.
fn x16_sg(a: vec4<u32>, b: vec4<u32>, c: vec4<u32>, d: vec4<u32>) -> array<vec4<f32>, 16> {
    let l = x_lane & 3u;
    let lo = x[select(b, a, x_lane < 4u)[l]];
    let hi = x[select(d, c, x_lane < 4u)[l]];
    return array<vec4<f32>, 16>(
        subgroupBroadcast(lo, 0u), subgroupBroadcast(lo, 1u), subgroupBroadcast(lo, 2u), subgroupBroadcast(lo, 3u),
        subgroupBroadcast(lo, 4u), subgroupBroadcast(lo, 5u), subgroupBroadcast(lo, 6u), subgroupBroadcast(lo, 7u),
        subgroupBroadcast(hi, 0u), subgroupBroadcast(hi, 1u), subgroupBroadcast(hi, 2u), subgroupBroadcast(hi, 3u),
        subgroupBroadcast(hi, 4u), subgroupBroadcast(hi, 5u), subgroupBroadcast(hi, 6u), subgroupBroadcast(hi, 7u));
}
