// Gated DeltaNet's token-by-token recurrence (`dn_scan`, delta_net.wgsl) on CPU adapters whose
// 8-lane subgroups are their SIMD vectors (lavapipe, `GpuContext::share_x`), for key heads of
// 32·NK dims (the host appends this file after `const NK: u32 = s_k / 32;`, one module per NK,
// so the block loops have constant trip counts and the column stays in registers).
//
// On lavapipe every storage or workgroup load is a loop over the SIMD lanes and a private
// array indexed by a loop counter is per-lane scratch: dn_scan kept its state column in such an
// array and read k and q from workgroup memory for every key index, three loads per
// multiply-add. Here each lane keeps its column S[:, j] as NK blocks of 8 vec4 (constant
// indices), and per 32-row block it loads one vec4 of k and of q (rows 32b + 4l ..) and reads
// the subgroup's other seven by broadcast. No workgroup memory, no barriers. Sums run in vec4
// groups (within f32 rounding of dn_scan's order). Native only, as attention_sg.

var<private> dn_col: array<array<vec4<f32>, 8>, NK>;   // S[32b + 4m .. 32b + 4m + 3, j] at [b][m]

fn xc4(o: u32) -> vec4<f32> {
    return vec4<f32>(xc[o], xc[o + 1u], xc[o + 2u], xc[o + 3u]);
}

fn state4(o: u32) -> vec4<f32> {
    return vec4<f32>(state[o], state[o + 1u], state[o + 2u], state[o + 3u]);
}

// Workgroup (value head, block of 64 state columns) × session, as dn_scan; lanes past the
// head's columns compute its last one and store nothing.
// (The index prologue repeats dn_scan's rather than sharing a function: a struct returned from
// a function of the lane index is non-uniform as a whole to browsers' WGSL uniformity analysis,
// which then refuses dn_scan's barriers inside its token loop.)
@compute @workgroup_size(64)
fn dn_scan_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let nb = (p.s_v + 63u) / 64u;
    let h = wid.x / nb;
    let j0 = (wid.x % nb) * 64u + lid.x;
    let live = j0 < p.s_v;
    let j = min(j0, p.s_v - 1u);
    let l = lid.x % 8u;
    let sq = seqs[wid.y];
    let kh = khead(h);
    let so = sq.z * p.n_v * p.s_v * p.s_k + (h * p.s_v + j) * p.s_k;
    for (var b = 0u; b < NK; b++) {
        let o = so + 32u * b;
        dn_col[b] = array<vec4<f32>, 8>(state4(o), state4(o + 4u), state4(o + 8u), state4(o + 12u),
                                        state4(o + 16u), state4(o + 20u), state4(o + 24u), state4(o + 28u));
    }
    for (var t = sq.x; t < sq.x + sq.y; t++) {
        let o = (t * p.n_v + h) * 4u;
        let beta = bg[o];
        let eg = exp(bg[o + 1u]);
        let ko = k_at(t, kh) + 4u * l;
        let qo = q_at(t, kh) + 4u * l;
        // S ← e^g·S, and Sᵀk
        var kv = 0.0;
        for (var b = 0u; b < NK; b++) {
            let kc = xc4(ko + 32u * b);
            var c = dn_col[b];
            c[0] *= eg; c[1] *= eg; c[2] *= eg; c[3] *= eg;
            c[4] *= eg; c[5] *= eg; c[6] *= eg; c[7] *= eg;
            kv += dot(c[0], subgroupBroadcast(kc, 0u)) + dot(c[1], subgroupBroadcast(kc, 1u))
                + dot(c[2], subgroupBroadcast(kc, 2u)) + dot(c[3], subgroupBroadcast(kc, 3u))
                + dot(c[4], subgroupBroadcast(kc, 4u)) + dot(c[5], subgroupBroadcast(kc, 5u))
                + dot(c[6], subgroupBroadcast(kc, 6u)) + dot(c[7], subgroupBroadcast(kc, 7u));
            dn_col[b] = c;
        }
        // δ = β·(v − Sᵀk); S ← S + k·δ; o = Sᵀq
        let d = (xc[v_at(t, h) + j] - kv) * beta;
        var acc = 0.0;
        for (var b = 0u; b < NK; b++) {
            let kc = xc4(ko + 32u * b);
            let qc = xc4(qo + 32u * b);
            var c = dn_col[b];
            c[0] += subgroupBroadcast(kc, 0u) * d; c[1] += subgroupBroadcast(kc, 1u) * d;
            c[2] += subgroupBroadcast(kc, 2u) * d; c[3] += subgroupBroadcast(kc, 3u) * d;
            c[4] += subgroupBroadcast(kc, 4u) * d; c[5] += subgroupBroadcast(kc, 5u) * d;
            c[6] += subgroupBroadcast(kc, 6u) * d; c[7] += subgroupBroadcast(kc, 7u) * d;
            acc += dot(c[0], subgroupBroadcast(qc, 0u)) + dot(c[1], subgroupBroadcast(qc, 1u))
                 + dot(c[2], subgroupBroadcast(qc, 2u)) + dot(c[3], subgroupBroadcast(qc, 3u))
                 + dot(c[4], subgroupBroadcast(qc, 4u)) + dot(c[5], subgroupBroadcast(qc, 5u))
                 + dot(c[6], subgroupBroadcast(qc, 6u)) + dot(c[7], subgroupBroadcast(qc, 7u));
            dn_col[b] = c;
        }
        if (live) { out[(t * p.n_v + h) * p.s_v + j] = acc * p.scale; }
    }
    if (live) {
        for (var b = 0u; b < NK; b++) {
            let c = dn_col[b];
            for (var m = 0u; m < 8u; m++) {
                let o = so + 32u * b + 4u * m;
                state[o] = c[m].x;
                state[o + 1u] = c[m].y;
                state[o + 2u] = c[m].z;
                state[o + 3u] = c[m].w;
            }
        }
    }
}
