//! The exact-F32 twin of a GGUF: every tensor dequantized to F32, everything else equal.
//! llama.cpp run on the twin is the tight reference for Braid's quantized kernels (its CPU
//! path quantizes activations on the quantized file itself).

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::parser::read_index;
use super::quant::dequantize;
use super::types::GgmlType;
use super::value::Value;
use super::writer::GgufWriter;

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Read a GGUF from `r` (of `len` bytes) and write its F32 twin to `w`, one tensor at a time.
pub fn write_f32_twin<R: Read + Seek, W: Write>(r: &mut R, len: u64, w: &mut W) -> io::Result<u64> {
    r.seek(SeekFrom::Start(0))?;
    let index = read_index(&mut *r, Some(len)).map_err(invalid)?;
    let mut g = GgufWriter::new();
    g.version = index.version;
    for (k, v) in &index.metadata {
        let v = if k == "general.file_type" { Value::U32(0) } else { v.clone() };
        g.kv(k, v);
    }
    for t in &index.tensors {
        g.tensor(&t.name, GgmlType::F32, &t.dims);
    }
    g.write(w, |i, _, dst| {
        let t = &index.tensors[i];
        let mut raw = vec![0u8; t.n_bytes as usize];
        r.seek(SeekFrom::Start(index.data_start + t.offset))?;
        r.read_exact(&mut raw)?;
        let mut vals = vec![];
        dequantize(t.ty, &raw, &mut vals).map_err(invalid)?;
        dst.write_all(bytemuck::cast_slice(&vals))
    })
}
