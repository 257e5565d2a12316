// Attention on CPU adapters whose 8-lane subgroups are their SIMD vectors (lavapipe,
// `GpuContext::share_x`): the same function as `attention` (attention.wgsl), for heads of
// HD = 32·NC dimensions, G query heads of one KV head per workgroup (its prologue is
// attention.wgsl's `attention_begin`). The host prepends
// `const NC` and `const G` (one module per pair, `ops::attention_sg_source`), so every loop
// over chunks and heads has a constant trip count.
//
// On lavapipe every storage or workgroup load is a loop over the SIMD lanes (tens of
// instructions per lane and 32-bit word) and a subgroup broadcast is one vector operation, so
// the plain kernel's cost was its loads: every lane read the whole query head from workgroup
// memory per key, every (key, dimension) pair of the V sum reloaded the key's softmax weight
// and location, and each query head of a KV head reloaded its keys and values. Here:
// - one workgroup takes G query heads of a KV head, so each key and value is loaded once for
//   all G;
// - each subgroup of 8 lanes walks its own share of the keys (keys 8·sg .. 8·sg + 7 of every
//   64) with its own online softmax per head (max and sum by subgroup reductions; no barriers
//   in the key loop);
// - scores: lane l takes one key; per 32-dim chunk it loads its quarter-vector of each query
//   head (dims 32c + 4l ..) and reads the other seven by broadcast;
// - values: lane l owns dims 32c + 4l .. 32c + 4l + 3 of every chunk; the 8 keys' weights and
//   locations come by broadcast, the value vectors are its only loads.
// The subgroups' (max, sum, acc) are merged once at the end through workgroup memory. Sums
// are f32 in a different order from `attention`'s (within f32 rounding of it).
//
// Native only (wgpu on Vulkan): a subgroup's key loop runs as many tiles as it has keys, so
// trip counts differ between subgroups, which Vulkan allows and browsers' WGSL uniformity
// analysis would refuse (`ops::attention_sg_source`).
//
// The keys of one call of attend_keys are all of one kind (a literal at each call, so the
// source's branches fold away): lavapipe runs both sides of every branch under a mask.

const HD: u32 = 32u * NC;
const KB: u32 = G * HD;   // where hv holds the decode step's new key (after the G query heads)

var<workgroup> sg_m: array<f32, 8>;
var<workgroup> sg_l: array<f32, 8>;
var<workgroup> sg_acc: array<vec4<f32>, 512>;   // [subgroup, 8·NC] one head's partial outputs (NC ≤ 8)

var<private> run_m: array<f32, G>;              // per head: the subgroup's running max score
var<private> run_l: array<f32, G>;              // its running Σ exp(score − run_m)
var<private> run_acc: array<vec4<f32>, G * NC>; // [head, chunk]: this lane's dims 32c + 4l .. of Σ exp(·)·v

// Kinds of keys: in the pool, the step's own (from q, rounded as stored), the decode step's
// new key (rotated in hv at KB; its value from q).
const KEY_POOL: u32 = 0u;
const KEY_STEP: u32 = 1u;
const KEY_NEW: u32 = 2u;

fn hv4(i: u32) -> vec4<f32> {
    return vec4<f32>(hv[4u * i], hv[4u * i + 1u], hv[4u * i + 2u], hv[4u * i + 3u]);
}

fn kv4(buf_is_k: bool, o: u32) -> vec4<f32> {
    if (buf_is_k) { return vec4<f32>(f32(kc[o]), f32(kc[o + 1u]), f32(kc[o + 2u]), f32(kc[o + 3u])); }
    return vec4<f32>(f32(vc[o]), f32(vc[o + 1u]), f32(vc[o + 2u]), f32(vc[o + 3u]));
}

fn q4_round(o: u32) -> vec4<f32> {
    return vec4<f32>(kv_round(q[o]), kv_round(q[o + 1u]), kv_round(q[o + 2u]), kv_round(q[o + 3u]));
}

// Vector i (dims 4i .. 4i + 3) of the key at ko (key_at's offset) of this kind.
fn key4(kind: u32, ko: u32, i: u32) -> vec4<f32> {
    if (kind == KEY_POOL) { return kv4(true, ko + 4u * i); }
    if (kind == KEY_STEP) { return q4_round(ko + p.k_offset + 4u * i); }
    return vec4<f32>(kv_round(hv[KB + 4u * i]), kv_round(hv[KB + 4u * i + 1u]), kv_round(hv[KB + 4u * i + 2u]), kv_round(hv[KB + 4u * i + 3u]));
}

// Vector i of the value at vo.
fn val4(kind: u32, vo: u32, i: u32) -> vec4<f32> {
    if (kind == KEY_POOL) { return kv4(false, vo + 4u * i); }
    return q4_round(vo + p.v_offset + 4u * i);
}

// Keys a .. b − 1 (all of one kind) for subgroup sg, lane l of the token whose block table,
// first token and its position are table, first_tok, pos0; kvh its KV head.
fn attend_keys(kind: u32, a: u32, b: u32, sg: u32, l: u32, table: u32, first_tok: u32, pos0: u32, kvh: u32) {
    for (var j0 = a + 8u * sg; j0 < b; j0 += TILE) {
        let j = j0 + l;
        let valid = j < b;
        // Lanes past the range score the last key again and weigh it 0.
        let ko = key_at(table, first_tok, pos0, min(j, b - 1u), kvh).x;
        var dotv: array<f32, G>;
        for (var c = 0u; c < NC; c++) {
            let i = 8u * c;
            let k0 = key4(kind, ko, i); let k1 = key4(kind, ko, i + 1u);
            let k2 = key4(kind, ko, i + 2u); let k3 = key4(kind, ko, i + 3u);
            let k4 = key4(kind, ko, i + 4u); let k5 = key4(kind, ko, i + 5u);
            let k6 = key4(kind, ko, i + 6u); let k7 = key4(kind, ko, i + 7u);
            for (var g = 0u; g < G; g++) {
                let qs = hv4(g * (HD / 4u) + i + l);
                dotv[g] += dot(subgroupBroadcast(qs, 0u), k0) + dot(subgroupBroadcast(qs, 1u), k1)
                         + dot(subgroupBroadcast(qs, 2u), k2) + dot(subgroupBroadcast(qs, 3u), k3)
                         + dot(subgroupBroadcast(qs, 4u), k4) + dot(subgroupBroadcast(qs, 5u), k5)
                         + dot(subgroupBroadcast(qs, 6u), k6) + dot(subgroupBroadcast(qs, 7u), k7);
            }
        }
        var pj: array<f32, G>;
        var corr: array<f32, G>;
        for (var g = 0u; g < G; g++) {
            let s = select(-3.0e38, dotv[g] * p.scale, valid);
            let mt = max(run_m[g], subgroupMax(s));
            corr[g] = exp(run_m[g] - mt);
            pj[g] = select(0.0, exp(s - mt), valid);
            run_l[g] = run_l[g] * corr[g] + subgroupAdd(pj[g]);
            run_m[g] = mt;
        }
        let o0 = subgroupBroadcast(ko, 0u); let o1 = subgroupBroadcast(ko, 1u);
        let o2 = subgroupBroadcast(ko, 2u); let o3 = subgroupBroadcast(ko, 3u);
        let o4 = subgroupBroadcast(ko, 4u); let o5 = subgroupBroadcast(ko, 5u);
        let o6 = subgroupBroadcast(ko, 6u); let o7 = subgroupBroadcast(ko, 7u);
        for (var c = 0u; c < NC; c++) {
            let i = 8u * c + l;
            let v0 = val4(kind, o0, i); let v1 = val4(kind, o1, i);
            let v2 = val4(kind, o2, i); let v3 = val4(kind, o3, i);
            let v4 = val4(kind, o4, i); let v5 = val4(kind, o5, i);
            let v6 = val4(kind, o6, i); let v7 = val4(kind, o7, i);
            for (var g = 0u; g < G; g++) {
                let pg = pj[g];
                run_acc[g * NC + c] = run_acc[g * NC + c] * corr[g]
                    + subgroupBroadcast(pg, 0u) * v0 + subgroupBroadcast(pg, 1u) * v1
                    + subgroupBroadcast(pg, 2u) * v2 + subgroupBroadcast(pg, 3u) * v3
                    + subgroupBroadcast(pg, 4u) * v4 + subgroupBroadcast(pg, 5u) * v5
                    + subgroupBroadcast(pg, 6u) * v6 + subgroupBroadcast(pg, 7u) * v7;
            }
        }
    }
}

// Grid (n_head / G, tokens): workgroup x takes query heads G·x .. G·x + G − 1.
@compute @workgroup_size(64)
fn attention_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h0 = wg.x * G;
    let t = wg.y;
    let kvh = h0 / (p.n_head / p.n_kv);
    let tm = tmeta[t];
    let pos0 = tm.x - (t - tm.z);   // position of the session's first token in this step
    attention_begin(h0, G, KB, t, lid.x);
    let sg = lid.x / 8u;
    let l = lid.x % 8u;
    let n_keys = tm.x + 1u;
    var first = 0u;
    if (p.window > 0u && n_keys > p.window) { first = n_keys - p.window; }
    for (var g = 0u; g < G; g++) {
        run_m[g] = -3.0e38;
        run_l[g] = 0.0;
    }
    for (var c = 0u; c < G * NC; c++) { run_acc[c] = vec4<f32>(0.0); }
    // The pool's keys, then the step's own (positions pos0 ..).
    let split = clamp(pos0, first, n_keys);
    attend_keys(KEY_POOL, first, split, sg, l, tm.y, tm.z, pos0, kvh);
    if (p.rope_here != 0u) {
        attend_keys(KEY_NEW, split, n_keys, sg, l, tm.y, tm.z, pos0, kvh);
    } else {
        attend_keys(KEY_STEP, split, n_keys, sg, l, tm.y, tm.z, pos0, kvh);
    }
    // Head by head: the subgroups' partial results through workgroup memory; lane v writes
    // dims 4v .. 4v + 3.
    let v = lid.x;
    for (var g = 0u; g < G; g++) {
        if (l == 0u) {
            sg_m[sg] = run_m[g];
            sg_l[sg] = run_l[g];
        }
        for (var c = 0u; c < NC; c++) { sg_acc[sg * 8u * NC + 8u * c + l] = run_acc[g * NC + c]; }
        workgroupBarrier();
        if (v < 8u * NC) {
            var mx = -3.0e38;
            for (var s = 0u; s < 8u; s++) { mx = max(mx, sg_m[s]); }
            var tot = 0.0;
            var o = vec4<f32>(0.0);
            for (var s = 0u; s < 8u; s++) {
                let e = exp(sg_m[s] - mx);
                tot += sg_l[s] * e;
                o += sg_acc[s * 8u * NC + v] * e;
            }
            let h = h0 + g;
            let d = 4u * v;
            var gate = vec4<f32>(1.0);
            if (p.gated != 0u) {
                let gi = t * p.q_stride + h * p.q_head + HD + d;
                gate = 1.0 / (1.0 + exp(-vec4<f32>(q[gi], q[gi + 1u], q[gi + 2u], q[gi + 3u])));
            }
            let r = o / tot * gate;
            let oo = t * p.out_stride + h * HD + d;
            out[oo] = r.x;
            out[oo + 1u] = r.y;
            out[oo + 2u] = r.z;
            out[oo + 3u] = r.w;
        }
        workgroupBarrier();
    }
}
