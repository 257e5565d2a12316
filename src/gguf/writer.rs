//! A GGUF writer (v3): used by `braid synth`, the fixture scripts and the tests.
//! Tensor data is produced by a callback per tensor, so files of any size stream to disk.

use std::io::{self, Write};

use super::types::GgmlType;
use super::value::{Array, Value};

#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub ty: GgmlType,
    pub dims: Vec<u64>,
    pub offset: u64,
    pub n_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct GgufWriter {
    pub version: u32,
    pub alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorSpec>,
    data_len: u64,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn pad(x: u64, a: u64) -> u64 {
    (a - x % a) % a
}

impl GgufWriter {
    pub fn new() -> Self {
        GgufWriter { version: 3, alignment: 32, metadata: vec![], tensors: vec![], data_len: 0 }
    }

    /// Add a metadata entry (a `general.alignment` u32 also sets the data alignment).
    pub fn kv(&mut self, key: &str, value: Value) -> &mut Self {
        if let ("general.alignment", Value::U32(a)) = (key, &value) {
            assert!(self.tensors.is_empty(), "set the alignment before adding tensors");
            self.alignment = *a as u64;
        }
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Declare a tensor; its bytes come later from the callback of [`GgufWriter::write`].
    pub fn tensor(&mut self, name: &str, ty: GgmlType, dims: &[u64]) -> &mut Self {
        let n: u64 = dims.iter().product();
        let n_bytes = ty.row_bytes(dims[0]).expect("ne0 is a whole number of blocks") * (n / dims[0]);
        let offset = self.data_len;
        self.data_len += n_bytes + pad(n_bytes, self.alignment);
        self.tensors.push(TensorSpec { name: name.to_string(), ty, dims: dims.to_vec(), offset, n_bytes });
        self
    }

    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// Header, metadata, tensor infos and the padding before the data section.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"GGUF");
        h.extend_from_slice(&self.version.to_le_bytes());
        h.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut h, k);
            h.extend_from_slice(&(v.value_type() as u32).to_le_bytes());
            put_value(&mut h, v);
        }
        for t in &self.tensors {
            put_str(&mut h, &t.name);
            h.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&t.ty.id().to_le_bytes());
            h.extend_from_slice(&t.offset.to_le_bytes());
        }
        let p = pad(h.len() as u64, self.alignment);
        h.resize(h.len() + p as usize, 0);
        h
    }

    /// Total file size.
    pub fn file_size(&self) -> u64 {
        self.header_bytes().len() as u64 + self.data_len
    }

    /// Write the file. `data(i, spec, w)` must write exactly `spec.n_bytes` bytes of tensor i.
    pub fn write<W: Write>(
        &self,
        w: &mut W,
        mut data: impl FnMut(usize, &TensorSpec, &mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64> {
        let header = self.header_bytes();
        w.write_all(&header)?;
        let mut written = header.len() as u64;
        for (i, t) in self.tensors.iter().enumerate() {
            let mut counter = CountingWriter { inner: &mut *w, n: 0 };
            data(i, t, &mut counter)?;
            if counter.n != t.n_bytes {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tensor {}: wrote {} bytes, expected {}", t.name, counter.n, t.n_bytes),
                ));
            }
            let p = pad(t.n_bytes, self.alignment) as usize;
            w.write_all(&vec![0u8; p])?;
            written += t.n_bytes + p as u64;
        }
        Ok(written)
    }

    /// The whole file in memory, tensor bytes given in order.
    pub fn to_bytes(&self, data: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out, |i, _, w| w.write_all(&data[i])).expect("tensor sizes match");
        out
    }
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::Array(a) => put_array(out, a),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

pub fn put_array(out: &mut Vec<u8>, a: &Array) {
    out.extend_from_slice(&(a.elem_type() as u32).to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    for i in 0..a.len() {
        if let Array::Array(v) = a {
            put_array(out, &v[i]);
        } else if let Some(v) = a.get(i) {
            put_value(out, &v);
        }
    }
}
