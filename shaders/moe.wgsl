// Mixture-of-experts routing and combination (llama.cpp `build_moe_ffn`), everything on the GPU:
//   moe_route    per token: router logits → probabilities (softmax | sigmoid | softmax of the
//                chosen weights) → selection scores (+ exp_probs_b; group-limited routing keeps
//                the best `group_used` groups by the sum of their two best scores) → top k →
//                weights (normalised to sum 1 when asked, clamped at 6.1e-5, times w_scale).
//   moe_group    one workgroup: the (token, slot) pairs grouped by expert, in tiles of at most
//                `tile` pairs, and the indirect dispatch arguments of the expert matmuls.
//   moe_combine  per token and output value: Σ_slot weight · expert output (in slot order), plus
//                the shared expert (optionally × sigmoid of its gate), scaled and added.

struct Params {
    n_tok: u32,
    n_expert: u32,
    k: u32,            // experts per token
    gating: u32,       // 1 softmax, 2 sigmoid, 3 softmax over the chosen weights
    has_bias: u32,     // exp_probs_b added for selection only
    norm_w: u32,
    w_scale: f32,      // 0 or 1: none
    n_groups: u32,     // expert groups (≤ 1: none)
    group_used: u32,
    tile: u32,         // pairs per tile (moe_group)
    y_a: u32,          // indirect y of the first matmul family (moe_group)
    y_b: u32,          // … and of the second
    width: u32,        // values per output row (moe_combine)
    alpha: f32,        // (moe_combine)
    accumulate: u32,   // (moe_combine)
    shared_mode: u32,       // 0 none, 1 add the shared expert, 2 add it × sigmoid(gate[t]) (moe_combine)
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;         // [n_tok, n_expert]
@group(0) @binding(1) var<storage, read> bias: array<f32>;           // [n_expert]
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;      // [n_tok, k]
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;  // [n_tok, k]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> pairs: array<u32>;    // [n_tok · k] grouped by expert
@group(0) @binding(6) var<storage, read_write> tiles: array<vec4<u32>>; // (expert, first, count, _)
@group(0) @binding(7) var<storage, read_write> args: array<u32>;     // 2 × (x, y, z) indirect
@group(0) @binding(8) var<storage, read> down: array<f32>;           // [n_tok · k, width]
@group(0) @binding(9) var<storage, read> shexp: array<f32>;          // [n_tok, width]
@group(0) @binding(10) var<storage, read> sgate: array<f32>;         // [n_tok]
@group(0) @binding(11) var<storage, read_write> out: array<f32>;     // [n_tok, width]

const NEG: f32 = -3.4e38;
var<workgroup> prob: array<f32, 1024>;
var<workgroup> score: array<f32, 1024>;
var<workgroup> red_v: array<f32, 64>;
var<workgroup> red_i: array<u32, 64>;
var<workgroup> picked: array<u32, 64>;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

// The best (largest; the lowest index on ties) of score[0..n] among 64 lanes.
fn argmax_lanes(lid: u32, n: u32) -> u32 {
    var bv = NEG;
    var bi = 0xffffffffu;
    for (var e = lid; e < n; e += 64u) {
        let v = score[e];
        if (bi == 0xffffffffu || v > bv) { bv = v; bi = e; }
    }
    red_v[lid] = bv;
    red_i[lid] = bi;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let v = red_v[lid + s];
            let i = red_i[lid + s];
            if (i != 0xffffffffu && (red_i[lid] == 0xffffffffu || v > red_v[lid] || (v == red_v[lid] && i < red_i[lid]))) {
                red_v[lid] = v;
                red_i[lid] = i;
            }
        }
        workgroupBarrier();
    }
    let r = red_i[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn moe_route(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let t = wg.x;
    let lid = l.x;
    let n = p.n_expert;
    // probabilities
    if (p.gating == 1u) {
        var m = NEG;
        for (var e = lid; e < n; e += 64u) { m = max(m, logits[t * n + e]); }
        red_v[lid] = m;
        workgroupBarrier();
        if (lid == 0u) { var mm = NEG; for (var i = 0u; i < 64u; i++) { mm = max(mm, red_v[i]); } red_v[0] = mm; }
        workgroupBarrier();
        let mx = red_v[0];
        workgroupBarrier();
        for (var e = lid; e < n; e += 64u) { prob[e] = exp(logits[t * n + e] - mx); }
        workgroupBarrier();
        if (lid == 0u) { var s = 0.0; for (var e = 0u; e < n; e++) { s += prob[e]; } red_v[0] = s; }
        workgroupBarrier();
        let sum = red_v[0];
        workgroupBarrier();
        for (var e = lid; e < n; e += 64u) { prob[e] = prob[e] / sum; }
    } else if (p.gating == 2u) {
        for (var e = lid; e < n; e += 64u) { prob[e] = sigmoid(logits[t * n + e]); }
    } else {
        for (var e = lid; e < n; e += 64u) { prob[e] = logits[t * n + e]; }
    }
    workgroupBarrier();
    // selection scores
    for (var e = lid; e < n; e += 64u) {
        var v = prob[e];
        if (p.has_bias != 0u) { v += bias[e]; }
        score[e] = v;
    }
    workgroupBarrier();
    // group-limited routing: keep the `group_used` groups whose two best scores sum highest
    if (p.n_groups > 1u && lid == 0u) {
        let per = n / p.n_groups;
        var gs: array<f32, 64>;
        for (var g = 0u; g < p.n_groups; g++) {
            var b1 = NEG;
            var b2 = NEG;
            for (var i = 0u; i < per; i++) {
                let v = score[g * per + i];
                if (v > b1) { b2 = b1; b1 = v; } else if (v > b2) { b2 = v; }
            }
            gs[g] = b1 + b2;
        }
        var keep: array<u32, 64>;
        for (var j = 0u; j < p.group_used; j++) {
            var best = 0u;
            var bv = NEG;
            for (var g = 0u; g < p.n_groups; g++) {
                if (keep[g] == 0u && (gs[g] > bv || bv == NEG)) { bv = gs[g]; best = g; }
            }
            keep[best] = 1u;
        }
        for (var g = 0u; g < p.n_groups; g++) {
            if (keep[g] == 0u) { for (var i = 0u; i < per; i++) { score[g * per + i] = NEG; } }
        }
    }
    workgroupBarrier();
    // top k, best first
    for (var j = 0u; j < p.k; j++) {
        let e = argmax_lanes(lid, n);
        if (lid == 0u) { picked[j] = e; score[e] = NEG; }
        workgroupBarrier();
    }
    if (lid == 0u) {
        var w: array<f32, 64>;
        for (var j = 0u; j < p.k; j++) { w[j] = prob[picked[j]]; }
        if (p.gating == 3u) {
            var m = NEG;
            for (var j = 0u; j < p.k; j++) { m = max(m, w[j]); }
            var s = 0.0;
            for (var j = 0u; j < p.k; j++) { w[j] = exp(w[j] - m); s += w[j]; }
            for (var j = 0u; j < p.k; j++) { w[j] = w[j] / s; }
        }
        if (p.norm_w != 0u) {
            var s = 0.0;
            for (var j = 0u; j < p.k; j++) { s += w[j]; }
            s = max(s, 6.103515625e-5);
            for (var j = 0u; j < p.k; j++) { w[j] = w[j] / s; }
        }
        if (p.w_scale != 0.0 && p.w_scale != 1.0) {
            for (var j = 0u; j < p.k; j++) { w[j] = w[j] * p.w_scale; }
        }
        for (var j = 0u; j < p.k; j++) {
            ids[t * p.k + j] = picked[j];
            weights[t * p.k + j] = w[j];
        }
    }
}

// Counting sort of the pairs by expert, then tiles of at most `tile` pairs. (The order of
// the pairs within an expert does not matter: each pair's product is computed on its own.)
var<workgroup> counts: array<atomic<u32>, 1024>;
var<workgroup> starts: array<u32, 1024>;

@compute @workgroup_size(64)
fn moe_group(@builtin(local_invocation_id) l: vec3<u32>) {
    let lid = l.x;
    let n_pairs = p.n_tok * p.k;
    for (var e = lid; e < p.n_expert; e += 64u) { atomicStore(&counts[e], 0u); }
    workgroupBarrier();
    for (var i = lid; i < n_pairs; i += 64u) { atomicAdd(&counts[ids[i]], 1u); }
    workgroupBarrier();
    if (lid == 0u) {
        var at = 0u;
        var n_tiles = 0u;
        for (var e = 0u; e < p.n_expert; e++) {
            let c = atomicLoad(&counts[e]);
            starts[e] = at;
            var s = 0u;
            while (s < c) {
                tiles[n_tiles] = vec4<u32>(e, at + s, min(p.tile, c - s), 0u);
                n_tiles++;
                s += p.tile;
            }
            at += c;
            atomicStore(&counts[e], 0u);
        }
        args[0] = n_tiles; args[1] = p.y_a; args[2] = 1u;
        args[3] = n_tiles; args[4] = p.y_b; args[5] = 1u;
    }
    workgroupBarrier();
    for (var i = lid; i < n_pairs; i += 64u) {
        let e = ids[i];
        pairs[starts[e] + atomicAdd(&counts[e], 1u)] = i;
    }
}

@compute @workgroup_size(64)
fn moe_combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = gid.y * nw.x * 64u + gid.x;
    if (i >= p.n_tok * p.width) { return; }
    let t = i / p.width;
    let c = i % p.width;
    var v = down[(t * p.k) * p.width + c] * weights[t * p.k];
    for (var j = 1u; j < p.k; j++) { v += down[(t * p.k + j) * p.width + c] * weights[t * p.k + j]; }
    if (p.shared_mode == 1u) { v += shexp[i]; }
    if (p.shared_mode == 2u) { v += shexp[i] * sigmoid(sgate[t]); }
    v *= p.alpha;
    if (p.accumulate != 0u) { v += out[i]; }
    out[i] = v;
}
