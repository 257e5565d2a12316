// Index of the largest value of each row of logits [n_rows, n] (ties: the lowest index), so
// greedy decoding reads back 4 bytes per token instead of the vocabulary.

struct Params {
    n: u32,
    _a: u32,
    _b: u32,
    _c: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;

@compute @workgroup_size(256)
fn argmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.x;
    var best = -3.4e38;
    var idx = 0xffffffffu;
    for (var i = lid.x; i < p.n; i += 256u) {
        let v = logits[row * p.n + i];
        if (v > best || idx == 0xffffffffu) { best = v; idx = i; }
    }
    bv[lid.x] = best;
    bi[lid.x] = idx;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            let v = bv[lid.x + s];
            let j = bi[lid.x + s];
            if (j != 0xffffffffu && (v > bv[lid.x] || (v == bv[lid.x] && j < bi[lid.x]) || bi[lid.x] == 0xffffffffu)) {
                bv[lid.x] = v;
                bi[lid.x] = j;
            }
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) { out[row] = bi[0]; }
}
