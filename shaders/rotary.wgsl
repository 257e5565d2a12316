// RoPE and the per-head RMSNorm before it, shared by rope.wgsl (its own dispatch) and
// attention.wgsl (decode steps rotate their one new key and their query head in the
// attention dispatch): the same arithmetic in both, so either gives the same bits. The module
// that appends this file declares: `p` with n_rot, neox, theta_scale, imrope, sect0..2,
// sect_dims, has_ff, freq_scale, norm_n and eps (as rope.wgsl's Params); `ff` (freq
// factors); the workgroup arrays `hv` (a head's values) and `red` (64 floats); and
// `norm_weight(is_k, i)`, weight i of the q_norm (or k_norm) RMSNorm.

// (cos x, sin x) to about one ulp for |x| < 2^16·π/2, on any adapter: WGSL specifies cos/sin
// only to 2^−11 on [−π, π] and software adapters (SwiftShader) are that coarse. Quadrant
// reduction with π/2 split in three (Cody–Waite: j·DP1 is exact), then Cephes' sinf/cosf
// polynomials on [−π/4, π/4].
fn cos_sin(x: f32) -> vec2<f32> {
    let j = round(x * 0.6366197723675814);
    let r = ((x - j * 1.5703125) - j * 4.837512969970703e-4) - j * 7.549789954891882e-8;
    let z = r * r;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    switch (u32(i32(j) & 3)) {
        case 0u: { return vec2<f32>(c, s); }
        case 1u: { return vec2<f32>(-s, c); }
        case 2u: { return vec2<f32>(-c, -s); }
        default: { return vec2<f32>(s, -c); }
    }
}

// Angle of pair i at position pos (ggml's theta, IMROPE sections, freq factors, scaling).
fn angle(pos: u32, i: u32) -> f32 {
    var theta = f32(pos);
    for (var k = 0u; k < i; k++) { theta *= p.theta_scale; }
    if (p.imrope != 0u) {
        let sector = i % p.sect_dims;
        let m = sector % 3u;
        let on = (m == 1u && sector < 3u * p.sect1) || (m == 2u && sector < 3u * p.sect2) || (m == 0u && sector < 3u * p.sect0);
        if (!on) { theta = 0.0; }
    }
    if (p.has_ff != 0u) { theta = theta / ff[i]; }
    return p.freq_scale * theta;
}

// hv[base ..] holds one head at position `pos`: RMSNorm it (norm_n != 0: llama.cpp
// `build_norm` of q_norm / k_norm), then rotate its first n_rot values (NORM: adjacent pairs
// (2i, 2i+1); NEOX: split halves (i, i + n_rot/2)). Called by all 64 lanes of the workgroup
// (`lane` = local index) in uniform control flow; ends with a barrier.
fn norm_rope(base: u32, is_k: bool, pos: u32, lane: u32) {
    if (p.norm_n != 0u) {
        var ss = 0.0;
        for (var i = lane; i < p.norm_n; i += 64u) { ss += hv[base + i] * hv[base + i]; }
        red[lane] = ss;
        workgroupBarrier();
        for (var s = 32u; s > 0u; s >>= 1u) {
            if (lane < s) { red[lane] += red[lane + s]; }
            workgroupBarrier();
        }
        let scale = 1.0 / sqrt(red[0] / f32(p.norm_n) + p.eps);
        for (var i = lane; i < p.norm_n; i += 64u) { hv[base + i] = hv[base + i] * scale * norm_weight(is_k, i); }
        workgroupBarrier();
    }
    let half = p.n_rot / 2u;
    for (var i = lane; i < half; i += 64u) {
        let cs = cos_sin(angle(pos, i));
        var a = 2u * i;
        var b = a + 1u;
        if (p.neox != 0u) { a = i; b = i + half; }
        let x0 = hv[base + a];
        let x1 = hv[base + b];
        hv[base + a] = x0 * cs.x - x1 * cs.y;
        hv[base + b] = x0 * cs.y + x1 * cs.x;
    }
    workgroupBarrier();
}
