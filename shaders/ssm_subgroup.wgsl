// The Mamba2 scan with B and C shared by an 8-lane subgroup. Appended to ssm.wgsl (the host
// prepends `enable subgroups;`) on CPU adapters whose storage loads are loops over the SIMD
// lanes and whose subgroups are 8 consecutive invocations (`GpuContext::share_x`, lavapipe).
// Every row of a group reads the same B and C, so lane l loads vec4 l of an 8-vec4 chunk and
// reads the other seven by broadcast: 2 loads per chunk and token instead of 16. The same
// operations in the same order per row as ssm_scan4 / ssm_step4.
//
// Host conditions: d_state % 32 == 0 (whole chunks), head_dim % 8 == 0 (a subgroup's rows lie
// in one head, hence one group), d_inner % 8 == 0 (a subgroup is all below d_inner or all
// past it). Rows past d_inner compute a clamped row and store nothing; control flow stays
// uniform (the broadcasts need it).

fn share8(v: vec4<f32>) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
                               subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

fn load8(o: u32) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(state4[o], state4[o + 1u], state4[o + 2u], state4[o + 3u],
                               state4[o + 4u], state4[o + 5u], state4[o + 6u], state4[o + 7u]);
}

fn store8(o: u32, s: array<vec4<f32>, 8>) {
    state4[o] = s[0]; state4[o + 1u] = s[1]; state4[o + 2u] = s[2]; state4[o + 3u] = s[3];
    state4[o + 4u] = s[4]; state4[o + 5u] = s[5]; state4[o + 6u] = s[6]; state4[o + 7u] = s[7];
}

struct Chunk8 { s: array<vec4<f32>, 8>, acc: vec4<f32> }

// One token over 8 vec4s of a state row: s ← s·exp(ΔA) + B·xΔ, acc += s·C, with this lane's
// vec4 of the chunk's B (bl) and C (cl). Unrolled by hand (an array index that is a loop
// counter costs per-lane scratch memory on CPU adapters).
fn chunk8(s0: array<vec4<f32>, 8>, da: f32, xdt: f32, bl: vec4<f32>, cl: vec4<f32>, acc: vec4<f32>) -> Chunk8 {
    let bb = share8(bl);
    let cc = share8(cl);
    var r: Chunk8;
    var a = acc;
    r.s[0] = s0[0] * da + bb[0] * xdt; a += r.s[0] * cc[0];
    r.s[1] = s0[1] * da + bb[1] * xdt; a += r.s[1] * cc[1];
    r.s[2] = s0[2] * da + bb[2] * xdt; a += r.s[2] * cc[2];
    r.s[3] = s0[3] * da + bb[3] * xdt; a += r.s[3] * cc[3];
    r.s[4] = s0[4] * da + bb[4] * xdt; a += r.s[4] * cc[4];
    r.s[5] = s0[5] * da + bb[5] * xdt; a += r.s[5] * cc[5];
    r.s[6] = s0[6] * da + bb[6] * xdt; a += r.s[6] * cc[6];
    r.s[7] = s0[7] * da + bb[7] * xdt; a += r.s[7] * cc[7];
    r.acc = a;
    return r;
}

// A token's step over a chunk at vec4 i of the state row, from its inputs k.
fn chunk8_tok(s: array<vec4<f32>, 8>, k: Tok4, i: u32, lane: u32, acc: vec4<f32>) -> Chunk8 {
    return chunk8(s, k.da, k.xdt, xbc4[k.bo + i + lane], xbc4[k.co + i + lane], acc);
}

// ssm_scan4 with shared B and C, up to 8 tokens per pass over the state row (one load and
// one store of each state vec4 per 8 tokens).
@compute @workgroup_size(64)
fn ssm_scan4_sg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
                @builtin(subgroup_invocation_id) lane: u32) {
    let live = gid.x < p.d_inner;
    let idx = min(gid.x, p.d_inner - 1u);
    let h = idx / (p.d_inner / p.n_head);
    let g = h / (p.n_head / p.n_group);
    let n4 = p.d_state / 4u;
    let sq = seqs[wg.y];
    let so = (sq.z * p.d_inner + idx) * n4;
    let end = sq.x + sq.y;
    for (var t = sq.x; t < end; t += 8u) {
        let nt = min(8u, end - t);
        // Tokens past the pass's last read the last one's inputs and are not stepped.
        let k0 = tok4(t, idx, h, g);
        let k1 = tok4(min(t + 1u, end - 1u), idx, h, g);
        let k2 = tok4(min(t + 2u, end - 1u), idx, h, g);
        let k3 = tok4(min(t + 3u, end - 1u), idx, h, g);
        let k4 = tok4(min(t + 4u, end - 1u), idx, h, g);
        let k5 = tok4(min(t + 5u, end - 1u), idx, h, g);
        let k6 = tok4(min(t + 6u, end - 1u), idx, h, g);
        let k7 = tok4(min(t + 7u, end - 1u), idx, h, g);
        var a = array<vec4<f32>, 8>();
        for (var i = 0u; i < n4; i += 8u) {
            var r = chunk8_tok(load8(so + i), k0, i, lane, a[0]);
            a[0] = r.acc;
            if (nt > 1u) { r = chunk8_tok(r.s, k1, i, lane, a[1]); a[1] = r.acc; }
            if (nt > 2u) { r = chunk8_tok(r.s, k2, i, lane, a[2]); a[2] = r.acc; }
            if (nt > 3u) { r = chunk8_tok(r.s, k3, i, lane, a[3]); a[3] = r.acc; }
            if (nt > 4u) { r = chunk8_tok(r.s, k4, i, lane, a[4]); a[4] = r.acc; }
            if (nt > 5u) { r = chunk8_tok(r.s, k5, i, lane, a[5]); a[5] = r.acc; }
            if (nt > 6u) { r = chunk8_tok(r.s, k6, i, lane, a[6]); a[6] = r.acc; }
            if (nt > 7u) { r = chunk8_tok(r.s, k7, i, lane, a[7]); a[7] = r.acc; }
            if (live) { store8(so + i, r.s); }
        }
        if (live) {
            out4(t, idx, h, k0, a[0]);
            if (nt > 1u) { out4(t + 1u, idx, h, k1, a[1]); }
            if (nt > 2u) { out4(t + 2u, idx, h, k2, a[2]); }
            if (nt > 3u) { out4(t + 3u, idx, h, k3, a[3]); }
            if (nt > 4u) { out4(t + 4u, idx, h, k4, a[4]); }
            if (nt > 5u) { out4(t + 5u, idx, h, k5, a[5]); }
            if (nt > 6u) { out4(t + 6u, idx, h, k6, a[6]); }
            if (nt > 7u) { out4(t + 7u, idx, h, k7, a[7]); }
        }
    }
}

// ssm_step4 with shared B and C.
@compute @workgroup_size(64)
fn ssm_step4_sg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(subgroup_invocation_id) lane: u32) {
    let r = step_row(gid.x, wg.y);
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < p.d_state / 4u; i += 8u) {
        let c = chunk8(load8(r.so + i), r.k.da, r.k.xdt, zx4[r.k.bo + i + lane], zx4[r.k.co + i + lane], acc);
        acc = c.acc;
        if (r.live) { store8(r.so + i, c.s); }
    }
    step_out(r.live, r.t, r.idx, r.k, acc, lid.x, wg.x, nwg.x);
}
