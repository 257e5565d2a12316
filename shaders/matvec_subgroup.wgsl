// Matrix–vector product (decode) with subgroup reductions: each subgroup owns a row at a
// time, its lanes read neighbouring words of that row (coalesced) and one subgroupAdd
// replaces the workgroup reduction — no barriers. Appended to matmul.wgsl when the device
// has subgroups (the host prepends `enable subgroups;`).

@compute @workgroup_size(64)
fn matvec_subgroup(@builtin(workgroup_id) wg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32,
                   @builtin(subgroup_invocation_id) lane: u32,
                   @builtin(subgroup_size) sg: u32) {
    let n_sg = 64u / sg;
    let sub = li / sg;
    let groups = p.k / 4u;
    let bpr = p.k / BS;
    let xo = p.x_offset / 4u;
    // ROWS_PER_WG rows per workgroup, shared out among its subgroups.
    let first = (wg.y * p.groups_x + wg.x) * 8u;
    for (var rr = sub; rr < 8u; rr += n_sg) {
        let r = first + rr;
        if (r >= p.n_rows) { break; }
        var acc = 0.0;
        for (var j = lane; j < groups; j += sg) {
            acc += dot(LOAD_FN(r * bpr + j / GPB, j % GPB, p.head), x[xo + j]);
        }
        let total = subgroupAdd(acc);
        if (lane == 0u) { store_row(p.y_offset + p.row0 + r, r, total); }
    }
}
