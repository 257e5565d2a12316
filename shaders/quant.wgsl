// Block decoders for every weight type, shared by the dequantize and matrix kernels.
//
// The including shader declares
//     var<storage, read> weights: array<u32>;
// holding one tensor part in the GPU layout of src/gpu/tensor.rs: for planar types a body
// plane of whole words per block followed by a head plane (f16 scales packed two per word,
// MXFP4 exponents four per word) starting at word `head`; other types as in the file.
//
// load_<type>(blk, g, head) returns elements 4g .. 4g+3 of block `blk`.
// load_<float type>(e) returns element e of a flat F32/F16/BF16 part.

var<private> IQ4NL: array<f32, 16> = array<f32, 16>(
    -127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
var<private> FP4: array<f32, 16> = array<f32, 16>(
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 0.0, -1.0, -2.0, -3.0, -4.0, -6.0, -8.0, -12.0);

// The 4 bytes of a word as unsigned values.
fn bytes4(w: u32) -> vec4<u32> {
    return vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u);
}

// The 4 bytes of a word as signed values.
fn sbytes4(w: u32) -> vec4<f32> {
    let v = bitcast<vec4<i32>>(vec4<u32>(w << 24u, w << 16u, w << 8u, w)) >> vec4<u32>(24u);
    return vec4<f32>(v);
}

// f16 number `i` of the head plane.
fn head_f16(head: u32, i: u32) -> f32 {
    return unpack2x16float(weights[head + i / 2u])[i % 2u];
}

// 4-bit quants of a 16-byte body (4 words at `base`) for elements 4g..4g+3 of a 32-block:
// the first 16 elements are the low nibbles, the last 16 the high nibbles.
fn nibbles32(base: u32, g: u32) -> vec4<u32> {
    let w = weights[base + (g % 4u)];
    return (bytes4(w) >> vec4<u32>(4u * (g / 4u))) & vec4<u32>(0xfu);
}

fn load_q4_0(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return (vec4<f32>(nibbles32(blk * 4u, g)) - 8.0) * head_f16(head, blk);
}

fn load_iq4_nl(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let q = nibbles32(blk * 4u, g);
    return vec4<f32>(IQ4NL[q.x], IQ4NL[q.y], IQ4NL[q.z], IQ4NL[q.w]) * head_f16(head, blk);
}

fn load_mxfp4(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let q = nibbles32(blk * 4u, g);
    let e = (weights[head + blk / 4u] >> (8u * (blk % 4u))) & 0xffu;
    // 2^(e-128), subnormal for e < 2 (as ggml computes it).
    var bits = (e - 1u) << 23u;
    if (e < 2u) { bits = 0x00200000u << e; }
    return vec4<f32>(FP4[q.x], FP4[q.y], FP4[q.z], FP4[q.w]) * bitcast<f32>(bits);
}

fn load_q4_1(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let dm = unpack2x16float(weights[blk * 5u]);
    return vec4<f32>(nibbles32(blk * 5u + 1u, g)) * dm.x + dm.y;
}

// 5-bit quants: nibbles plus bit e of the qh word.
fn q5(blk_qh: u32, g: u32) -> vec4<u32> {
    let qh = weights[blk_qh];
    let e = vec4<u32>(4u * g) + vec4<u32>(0u, 1u, 2u, 3u);
    return nibbles32(blk_qh + 1u, g) | (((vec4<u32>(qh) >> e) & vec4<u32>(1u)) << vec4<u32>(4u));
}

fn load_q5_0(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return (vec4<f32>(q5(blk * 5u, g)) - 16.0) * head_f16(head, blk);
}

fn load_q5_1(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let dm = unpack2x16float(weights[blk * 6u]);
    return vec4<f32>(q5(blk * 6u + 1u, g)) * dm.x + dm.y;
}

fn load_q8_0(blk: u32, g: u32, head: u32) -> vec4<f32> {
    return sbytes4(weights[blk * 8u + g]) * head_f16(head, blk);
}

// Byte i of the words starting at `s`.
fn byte_at(s: u32, i: u32) -> u32 {
    return (weights[s + i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// 6-bit (scale, min) of sub-block j of a Q4_K/Q5_K block whose 12 scale bytes start at word `s`.
fn k_scale_min(s: u32, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(byte_at(s, j) & 63u), f32(byte_at(s, j + 4u) & 63u));
    }
    let hi = byte_at(s, j + 4u);
    return vec2<f32>(f32((hi & 0xfu) | ((byte_at(s, j - 4u) >> 6u) << 4u)),
                     f32((hi >> 4u) | ((byte_at(s, j) >> 6u) << 4u)));
}

// Q4_K (36 words: d|dmin, 3 words of scales, 32 words of quants) and Q5_K (44 words: the
// same with 8 words of high bits before the quants). Element e = 4g: chunk c = e / 64 uses
// quant bytes 32c .. 32c+32; the first 32 elements are low nibbles (sub-block 2c), the next
// 32 high nibbles (sub-block 2c+1).
fn load_k(blk: u32, g: u32, words: u32, has_qh: bool) -> vec4<f32> {
    let base = blk * words;
    let dm = unpack2x16float(weights[base]);
    let e = 4u * g;
    let c = e / 64u;
    let hi = (e % 64u) / 32u;
    let l = e % 32u;
    let j = 2u * c + hi;
    let smn = k_scale_min(base + 1u, j);
    var qs_base = base + 4u;
    if (has_qh) { qs_base = base + 12u; }
    var q = (bytes4(weights[qs_base + (32u * c + l) / 4u]) >> vec4<u32>(4u * hi)) & vec4<u32>(0xfu);
    if (has_qh) {
        q = q | (((bytes4(weights[base + 4u + l / 4u]) >> vec4<u32>(j)) & vec4<u32>(1u)) << vec4<u32>(4u));
    }
    return dm.x * smn.x * vec4<f32>(q) - dm.y * smn.y;
}

fn load_q4_k(blk: u32, g: u32, head: u32) -> vec4<f32> { return load_k(blk, g, 36u, false); }
fn load_q5_k(blk: u32, g: u32, head: u32) -> vec4<f32> { return load_k(blk, g, 44u, true); }

// Q6_K body (52 words): ql[128] words 0..31, qh[64] words 32..47, scales i8[16] words 48..51;
// d in the head plane. Element e: half n = e/128, quarter qq = (e%128)/32, l = e%32.
fn load_q6_k(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let base = blk * 52u;
    let e = 4u * g;
    let n = e / 128u;
    let qq = (e % 128u) / 32u;
    let l = e % 32u;
    let ql = (bytes4(weights[base + (64u * n + l + 32u * (qq & 1u)) / 4u]) >> vec4<u32>(4u * (qq >> 1u))) & vec4<u32>(0xfu);
    let qh = (bytes4(weights[base + 32u + (32u * n + l) / 4u]) >> vec4<u32>(2u * qq)) & vec4<u32>(3u);
    let si = 8u * n + l / 16u + 2u * qq;
    let sc = sbytes4(weights[base + 48u + si / 4u])[si % 4u];
    return (vec4<f32>(ql | (qh << vec4<u32>(4u))) - 32.0) * (sc * head_f16(head, blk));
}

// Q2_K (21 words, as in the file): scales[16] in words 0..3 (per 16 elements: low nibble
// scale, high nibble min), qs[64] in words 4..19 (2 bits), d|dmin in word 20. Element e:
// half n = e/128, shift 2j with j = (e%128)/32, l = e%32: bits 2j of qs byte 32n + l, scale
// byte 8n + 2j + l/16.
fn load_q2_k(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let base = blk * 21u;
    let e = 4u * g;
    let n = e / 128u;
    let j = (e % 128u) / 32u;
    let l = e % 32u;
    let dm = unpack2x16float(weights[base + 20u]);
    let sc = byte_at(base, 8u * n + 2u * j + l / 16u);
    let q = (bytes4(weights[base + 4u + (32u * n + l) / 4u]) >> vec4<u32>(2u * j)) & vec4<u32>(3u);
    return (dm.x * f32(sc & 0xfu)) * vec4<f32>(q) - dm.y * f32(sc >> 4u);
}

// Signed 6-bit scale i (0..16) of a Q3_K block whose 12 scale bytes start at word `s`: low
// nibble from byte i%8 (its high nibble for i >= 8), two high bits from byte 8 + i%4.
fn q3_k_scale(s: u32, i: u32) -> f32 {
    let lo = (byte_at(s, i % 8u) >> (4u * (i / 8u))) & 0xfu;
    let hi = (byte_at(s, 8u + i % 4u) >> (2u * (i / 4u))) & 3u;
    return f32(i32(lo | (hi << 4u)) - 32);
}

// Q3_K body (27 words): hmask[32] words 0..7 (bit e/32 of byte e%32 set: no -4 offset),
// qs[64] words 8..23 (2 bits, as Q2_K), scales[12] words 24..26; d in the head plane.
fn load_q3_k(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let base = blk * 27u;
    let e = 4u * g;
    let n = e / 128u;
    let j = (e % 128u) / 32u;
    let l = e % 32u;
    let dl = head_f16(head, blk) * q3_k_scale(base + 24u, 8u * n + 2u * j + l / 16u);
    let ql = (bytes4(weights[base + 8u + (32u * n + l) / 4u]) >> vec4<u32>(2u * j)) & vec4<u32>(3u);
    let hb = (bytes4(weights[base + l / 4u]) >> vec4<u32>(4u * n + j)) & vec4<u32>(1u);
    return dl * (vec4<f32>(ql) - 4.0 + 4.0 * vec4<f32>(hb));
}

// IQ4_XS (34 words, as in the file): d | scales_h << 16 in word 0, scales_l in word 1, then 8
// sub-blocks of 32 elements laid out as IQ4_NL's quants (4 words each). Sub-block ib's scale
// is nibble ib of word 1 with bits 2ib of scales_h on top, minus 32.
fn iq4_xs_scale(base: u32, ib: u32) -> f32 {
    let w0 = weights[base];
    let ls = ((weights[base + 1u] >> (4u * ib)) & 0xfu) | (((w0 >> (16u + 2u * ib)) & 3u) << 4u);
    return unpack2x16float(w0).x * f32(i32(ls) - 32);
}

fn load_iq4_xs(blk: u32, g: u32, head: u32) -> vec4<f32> {
    let base = blk * 34u;
    let ib = g / 8u;
    let q = nibbles32(base + 2u + 4u * ib, g % 8u);
    return iq4_xs_scale(base, ib) * vec4<f32>(IQ4NL[q.x], IQ4NL[q.y], IQ4NL[q.z], IQ4NL[q.w]);
}

fn load_f32(e: u32) -> f32 { return bitcast<f32>(weights[e]); }
fn load_f16(e: u32) -> f32 { return unpack2x16float(weights[e / 2u])[e % 2u]; }
fn load_bf16(e: u32) -> f32 {
    let w = weights[e / 2u];
    if (e % 2u == 0u) { return bitcast<f32>(w << 16u); }
    return bitcast<f32>(w & 0xffff0000u);
}
