//! CPU reference dequantizers for the ggml block formats Braid supports (layouts in
//! spec §5.3). They are the reference the GPU kernels are tested against, and are themselves
//! checked against gguf-py's dequantizer (`tests/fixtures/dequant.json`).

use half::{bf16, f16};

use super::types::GgmlType;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    #[error("tensor type {0} is not supported")]
    Unsupported(GgmlType),
    #[error("{ty}: {len} bytes is not a whole number of {block}-byte blocks")]
    PartialBlock { ty: GgmlType, len: usize, block: u64 },
}

pub const IQ4_NL_TABLE: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
/// E2M1 values, doubled (the scale is halved to compensate).
pub const MXFP4_TABLE: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

fn h(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// The 6-bit (scale, min) pair of sub-block `j` of a Q4_K / Q5_K super-block.
pub fn k_scale_min(scales: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

/// The signed 6-bit scale `i` (0..16) of a Q3_K super-block from its 12 scale bytes: the low
/// nibble from byte i % 8 (high nibble for i ≥ 8), the high two bits from byte 8 + i % 4
/// (bits 2·(i / 4)), minus 32.
pub fn q3_k_scale(scales: &[u8], i: usize) -> i32 {
    let lo = (scales[i % 8] >> (4 * (i / 8))) & 0xF;
    let hi = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// Dequantize whole blocks of `ty` from `src`, appending to `out`.
pub fn dequantize(ty: GgmlType, src: &[u8], out: &mut Vec<f32>) -> Result<(), QuantError> {
    let bs = ty.type_size() as usize;
    if src.len() % bs != 0 {
        return Err(QuantError::PartialBlock { ty, len: src.len(), block: ty.type_size() });
    }
    if !ty.is_supported() {
        return Err(QuantError::Unsupported(ty));
    }
    out.reserve(src.len() / bs * ty.block_size() as usize);
    for b in src.chunks_exact(bs) {
        dequantize_block(ty, b, out);
    }
    Ok(())
}

fn dequantize_block(ty: GgmlType, b: &[u8], out: &mut Vec<f32>) {
    use GgmlType::*;
    match ty {
        F32 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        F16 => out.push(h(b, 0)),
        BF16 => out.push(bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        Q4_0 | IQ4_NL | Q4_1 => {
            let d = h(b, 0);
            let (m, qs) = if ty == Q4_1 { (h(b, 2), &b[4..20]) } else { (0.0, &b[2..18]) };
            let val = |q: u8| match ty {
                Q4_0 => (q as i32 - 8) as f32 * d,
                IQ4_NL => IQ4_NL_TABLE[q as usize] as f32 * d,
                _ => q as f32 * d + m,
            };
            out.extend(qs.iter().map(|&q| val(q & 0xF)));
            out.extend(qs.iter().map(|&q| val(q >> 4)));
        }
        Q5_0 | Q5_1 => {
            let d = h(b, 0);
            let (m, rest) = if ty == Q5_1 { (h(b, 2), &b[4..]) } else { (0.0, &b[2..]) };
            let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let qs = &rest[4..20];
            let val = |q: u32| if ty == Q5_0 { (q as i32 - 16) as f32 * d } else { q as f32 * d + m };
            out.extend((0..16).map(|j| val((qs[j] & 0xF) as u32 | ((qh >> j) & 1) << 4)));
            out.extend((0..16).map(|j| val((qs[j] >> 4) as u32 | ((qh >> (j + 16)) & 1) << 4)));
        }
        Q8_0 => {
            let d = h(b, 0);
            out.extend(b[2..34].iter().map(|&q| q as i8 as f32 * d));
        }
        Q4_K | Q5_K => {
            let d = h(b, 0);
            let dmin = h(b, 2);
            let scales = &b[4..16];
            let (qh, qs) = if ty == Q5_K { (Some(&b[16..48]), &b[48..176]) } else { (None, &b[16..144]) };
            for c in 0..4 {
                for half in 0..2 {
                    let (sc, mn) = k_scale_min(scales, 2 * c + half);
                    let (dl, ml) = (d * sc as f32, dmin * mn as f32);
                    for l in 0..32 {
                        let byte = qs[32 * c + l];
                        let mut q = if half == 0 { byte & 0xF } else { byte >> 4 } as u32;
                        if let Some(qh) = qh {
                            q |= ((qh[l] as u32 >> (2 * c + half)) & 1) << 4;
                        }
                        out.push(dl * q as f32 - ml);
                    }
                }
            }
        }
        Q6_K => {
            let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
            let d = h(b, 208);
            for n in 0..2 {
                let (ql, qh, sc) = (&ql[64 * n..], &qh[32 * n..], &sc[8 * n..]);
                let mut vals = [0f32; 128];
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                    let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                    let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                    let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    vals[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                    vals[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                    vals[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                    vals[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                }
                out.extend_from_slice(&vals);
            }
        }
        Q2_K => {
            // scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin.
            let (scales, qs) = (&b[0..16], &b[16..80]);
            let (d, dmin) = (h(b, 80), h(b, 82));
            for e in 0..256 {
                let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
                let sc = scales[8 * n + 2 * j + l / 16];
                let (dl, ml) = (d * (sc & 0xF) as f32, dmin * (sc >> 4) as f32);
                let q = (qs[32 * n + l] >> (2 * j)) & 3;
                out.push(dl * q as f32 - ml);
            }
        }
        Q3_K => {
            // hmask[32] (third bit, set = no offset), qs[64] (2 bits), 12 bytes of 6-bit scales, d.
            let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
            let d = h(b, 108);
            for e in 0..256 {
                let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
                let sc = q3_k_scale(scales, 8 * n + 2 * j + l / 16);
                let dl = d * sc as f32;
                let q = ((qs[32 * n + l] >> (2 * j)) & 3) as i32 - if hmask[l] >> (4 * n + j) & 1 == 1 { 0 } else { 4 };
                out.push(dl * q as f32);
            }
        }
        IQ4_XS => {
            // d, scales_h (u16: 2 high bits per sub-block), scales_l[4] (nibbles), qs[128].
            let d = h(b, 0);
            let scales_h = u16::from_le_bytes([b[2], b[3]]);
            let (scales_l, qs) = (&b[4..8], &b[8..136]);
            for ib in 0..8 {
                let ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | ((((scales_h >> (2 * ib)) & 3) as u8) << 4);
                let dl = d * (ls as i32 - 32) as f32;
                let qs = &qs[16 * ib..16 * ib + 16];
                out.extend(qs.iter().map(|&q| dl * IQ4_NL_TABLE[(q & 0xF) as usize] as f32));
                out.extend(qs.iter().map(|&q| dl * IQ4_NL_TABLE[(q >> 4) as usize] as f32));
            }
        }
        MXFP4 => {
            let e = b[0];
            // 2^(e-128) as an f32 (subnormal for e < 2, as ggml computes it).
            let s = f32::from_bits(if e >= 2 { ((e as u32) - 1) << 23 } else { 0x0020_0000 << e });
            let qs = &b[1..17];
            out.extend(qs.iter().map(|&q| MXFP4_TABLE[(q & 0xF) as usize] as f32 * s));
            out.extend(qs.iter().map(|&q| MXFP4_TABLE[(q >> 4) as usize] as f32 * s));
        }
        _ => {}
    }
}

/// Quantize f32 values to Q8_0 (ggml's reference rounding), for the writer and tests.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    for blk in x.chunks(32) {
        let amax = blk.iter().fold(0f32, |a, &v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        for i in 0..32 {
            let v = blk.get(i).copied().unwrap_or(0.0);
            out.push((v * id).round() as i8 as u8);
        }
    }
}
