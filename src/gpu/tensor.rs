//! Weights on the GPU: the repacked block layout, the split into parts that each fit one
//! binding, and the uploader that fills them while the GGUF bytes stream past.
//!
//! ## Layout (why planes)
//! Q4_0, Q5_0, Q8_0, IQ4_NL (18/22/34/18-byte blocks), MXFP4 (17), Q3_K (110) and Q6_K (210)
//! are not u32-aligned, so in the file layout a block's quants start at a different byte of a word
//! in every block and a kernel would shift and splice bytes across words for each load. At
//! upload we move each block's scale (its f16 `d`, or MXFP4's exponent byte) into a separate
//! *head plane* and keep the rest as a *body plane* of whole u32 words per block (4 words for
//! Q4_0/IQ4_NL/MXFP4, 5 for Q5_0, 8 for Q8_0, 27 for Q3_K, 52 for Q6_K; Q3_K's and Q6_K's `d`
//! is at the block's end). Then neighbouring invocations read
//! neighbouring aligned words (coalesced, vec4-able), the quants of a block are whole words,
//! and the scale of block b is half b%2 of head word b/2 (`unpack2x16float`). This costs no
//! extra bytes (the head plane is packed tight), unlike padding blocks to 4 bytes (+11% for
//! Q4_0). Formats whose blocks are already whole words (F32, Q4_1 20 B, Q5_1 24 B, Q2_K 84 B,
//! Q4_K 144 B, Q5_K 176 B, IQ4_XS 136 B) and the 2-byte F16/BF16 are uploaded as they are.
//!
//! ## Parts
//! A tensor is split by rows into parts of at most the device's binding limit, each in its own
//! buffer (lavapipe binds at most 128 MiB; a 300 MiB F32 embedding table becomes 3 parts).
//! Kernels run once per part, on whole rows.

use super::context::GpuContext;
use super::error::GpuError;
use crate::gguf::{GgmlType, TensorInfo};

/// How one tensor type is laid out on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLayout {
    /// The file's bytes as they are (zero-padded to a multiple of 4 at the end of a part).
    Raw,
    /// `head_bytes` of each block (at its start, or at its end if `head_last`) go to the head
    /// plane; the remaining `body_words` words go to the body plane.
    Planar { head_bytes: u32, head_last: bool, body_words: u32 },
}

impl BlockLayout {
    pub fn for_type(ty: GgmlType) -> BlockLayout {
        use GgmlType::*;
        let p = |head_bytes, head_last, body_words| BlockLayout::Planar { head_bytes, head_last, body_words };
        match ty {
            Q4_0 | IQ4_NL => p(2, false, 4),
            Q5_0 => p(2, false, 5),
            Q8_0 => p(2, false, 8),
            Q6_K => p(2, true, 52),
            Q3_K => p(2, true, 27),
            MXFP4 => p(1, false, 4),
            _ => BlockLayout::Raw,
        }
    }
}

fn round4(x: u64) -> u64 {
    (x + 3) & !3
}

/// One part of a tensor: whole rows `row0 .. row0 + n_rows` in their own buffer.
#[derive(Debug)]
pub struct TensorPart {
    pub buffer: wgpu::Buffer,
    pub row0: u64,
    pub n_rows: u64,
    pub n_blocks: u64,
    /// Offset of the head plane in u32 words (0 for raw layouts).
    pub head_word: u64,
    pub size: u64,
}

/// A weight tensor resident on the GPU.
#[derive(Debug)]
pub struct GpuTensor {
    pub info: TensorInfo,
    pub layout: BlockLayout,
    pub parts: Vec<TensorPart>,
}

impl GpuTensor {
    pub fn blocks_per_row(&self) -> u64 {
        self.info.ne0() / self.info.ty.block_size()
    }
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
}

/// Bytes a part of `n_blocks` blocks of `ty` takes on the GPU.
pub fn part_bytes(ty: GgmlType, n_blocks: u64) -> u64 {
    match BlockLayout::for_type(ty) {
        BlockLayout::Raw => round4(n_blocks * ty.type_size()),
        BlockLayout::Planar { head_bytes, body_words, .. } => {
            n_blocks * body_words as u64 * 4 + round4(n_blocks * head_bytes as u64)
        }
    }
}

/// Rows per part so that a part fits `max_bytes`; `None` if not even one row fits.
pub fn rows_per_part(info: &TensorInfo, max_bytes: u64) -> Option<u64> {
    let bpr = info.ne0() / info.ty.block_size();
    let one = part_bytes(info.ty, bpr);
    if one > max_bytes {
        return None;
    }
    // part_bytes is linear in rows up to at most 6 bytes of rounding.
    let mut rows = (max_bytes.saturating_sub(6) / one).max(1).min(info.n_rows());
    while rows > 1 && part_bytes(info.ty, rows * bpr) > max_bytes {
        rows -= 1;
    }
    // A 3-D tensor (a mixture of experts' [k, rows, n_expert]) splits at expert boundaries
    // when at least one expert fits a part, so a part holds whole experts.
    if let [_, per_expert, n_expert] = info.dims[..] {
        if n_expert > 1 && rows < info.n_rows() && rows >= per_expert {
            rows -= rows % per_expert;
        }
    }
    Some(rows)
}

/// Accumulates bytes for one plane of one part and writes them in 4-byte-aligned pieces.
struct PlaneWriter {
    base: u64,
    written: u64,
    pending: Vec<u8>,
}

const FLUSH_BYTES: usize = 1 << 20;

impl PlaneWriter {
    fn new(base: u64) -> Self {
        PlaneWriter { base, written: 0, pending: Vec::new() }
    }
    fn push(&mut self, queue: &wgpu::Queue, buf: &wgpu::Buffer, data: &[u8]) {
        if self.pending.is_empty() && data.len() >= 4 {
            let n = data.len() & !3;
            queue.write_buffer(buf, self.base + self.written, &data[..n]);
            self.written += n as u64;
            self.pending.extend_from_slice(&data[n..]);
            return;
        }
        self.pending.extend_from_slice(data);
        if self.pending.len() >= 4 {
            self.flush(queue, buf, false);
        }
    }
    fn flush(&mut self, queue: &wgpu::Queue, buf: &wgpu::Buffer, last: bool) {
        if last {
            while self.pending.len() % 4 != 0 {
                self.pending.push(0);
            }
        }
        let n = self.pending.len() & !3;
        if n > 0 {
            queue.write_buffer(buf, self.base + self.written, &self.pending[..n]);
            self.written += n as u64;
            self.pending.drain(..n);
        }
    }
}

/// Receives one tensor's bytes in order, in pieces of any size, and writes them into its
/// parts in the GPU layout. Holds at most one partial block between pieces.
pub struct TensorUploader {
    tensor: GpuTensor,
    block_bytes: usize,
    carry: Vec<u8>,
    /// Blocks delivered so far.
    block: u64,
    part: usize,
    body: PlaneWriter,
    head: PlaneWriter,
    scratch: Vec<u8>,
    received: u64,
}

impl TensorUploader {
    /// Create the tensor's buffers (uninitialised) ready to be filled.
    pub fn new(ctx: &GpuContext, info: &TensorInfo) -> Result<TensorUploader, GpuError> {
        if !info.ty.is_supported() {
            return Err(GpuError::UnsupportedType { tensor: info.name.clone(), ty: info.ty.name().to_string() });
        }
        let max = ctx.max_binding();
        let rows = rows_per_part(info, max).ok_or_else(|| {
            GpuError::DeviceLimits(format!(
                "one row of tensor {:?} takes {} bytes, above maxStorageBufferBindingSize {}",
                info.name,
                part_bytes(info.ty, info.ne0() / info.ty.block_size()),
                max
            ))
        })?;
        let layout = BlockLayout::for_type(info.ty);
        let bpr = info.ne0() / info.ty.block_size();
        let mut parts = vec![];
        let mut row0 = 0;
        while row0 < info.n_rows() {
            let n_rows = rows.min(info.n_rows() - row0);
            let n_blocks = n_rows * bpr;
            let size = part_bytes(info.ty, n_blocks).max(4);
            let head_word = match layout {
                BlockLayout::Raw => 0,
                BlockLayout::Planar { body_words, .. } => n_blocks * body_words as u64,
            };
            let buffer = weight_buffer(ctx, &info.name, size);
            parts.push(TensorPart { buffer, row0, n_rows, n_blocks, head_word, size });
            row0 += n_rows;
        }
        let head_base = parts.first().map_or(0, |p| p.head_word * 4);
        Ok(TensorUploader {
            tensor: GpuTensor { info: info.clone(), layout, parts },
            block_bytes: info.ty.type_size() as usize,
            carry: Vec::new(),
            block: 0,
            part: 0,
            body: PlaneWriter::new(0),
            head: PlaneWriter::new(head_base),
            scratch: Vec::new(),
            received: 0,
        })
    }

    /// The next `data.len()` bytes of the tensor.
    pub fn push(&mut self, queue: &wgpu::Queue, mut data: &[u8]) {
        self.received += data.len() as u64;
        // Complete a block split by the previous piece.
        if !self.carry.is_empty() {
            let need = (self.block_bytes - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..need]);
            data = &data[need..];
            if self.carry.len() < self.block_bytes {
                return;
            }
            let blk = std::mem::take(&mut self.carry);
            self.blocks(queue, &blk);
        }
        let whole = data.len() / self.block_bytes * self.block_bytes;
        self.blocks(queue, &data[..whole]);
        self.carry.extend_from_slice(&data[whole..]);
    }

    /// Whole blocks, possibly spanning parts.
    fn blocks(&mut self, queue: &wgpu::Queue, mut data: &[u8]) {
        while !data.is_empty() {
            let part = &self.tensor.parts[self.part];
            let part_end = part.n_blocks + self.tensor.parts[..self.part].iter().map(|p| p.n_blocks).sum::<u64>();
            let n = ((part_end - self.block) as usize).min(data.len() / self.block_bytes);
            let (now, rest) = data.split_at(n * self.block_bytes);
            match self.tensor.layout {
                BlockLayout::Raw => self.body.push(queue, &part.buffer, now),
                BlockLayout::Planar { head_bytes, head_last, .. } => {
                    let hb = head_bytes as usize;
                    self.scratch.clear();
                    for blk in now.chunks_exact(self.block_bytes) {
                        let (h, b) = if head_last { (&blk[blk.len() - hb..], &blk[..blk.len() - hb]) } else { (&blk[..hb], &blk[hb..]) };
                        self.scratch.extend_from_slice(b);
                        self.head.pending.extend_from_slice(h);
                    }
                    self.body.push(queue, &part.buffer, &self.scratch);
                    if self.head.pending.len() >= FLUSH_BYTES {
                        self.head.flush(queue, &part.buffer, false);
                    }
                }
            }
            self.block += n as u64;
            data = rest;
            if self.block == part_end {
                // Part complete: flush both planes and move to the next part's buffer.
                self.body.flush(queue, &part.buffer, true);
                self.head.flush(queue, &part.buffer, true);
                self.part += 1;
                if let Some(next) = self.tensor.parts.get(self.part) {
                    self.body = PlaneWriter::new(0);
                    self.head = PlaneWriter::new(next.head_word * 4);
                }
            }
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// All bytes have arrived: the tensor, or an error if some are missing.
    pub fn finish(self) -> Result<GpuTensor, GpuError> {
        if self.received != self.tensor.info.n_bytes || !self.carry.is_empty() {
            return Err(GpuError::Validation(format!(
                "tensor {:?}: received {} of {} bytes",
                self.tensor.info.name, self.received, self.tensor.info.n_bytes
            )));
        }
        Ok(self.tensor)
    }
}

/// A weight buffer of `size` bytes (storage, filled by writes or copies, readable back).
fn weight_buffer(ctx: &GpuContext, name: &str, size: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(name),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

/// One tensor holding the rows of `members` stacked in order (`[ne0, Σ rows]`, named `name`),
/// made on the GPU by buffer copies, so a product of all of them is one dispatch (llama.cpp's
/// fused `attn_qkv` layout). The members keep their buffers; the caller drops them. `None`
/// (nothing copied) unless every member is a 2-D matrix of one type and row length in one
/// part, the result fits one binding, and each member's planes start on a 4-byte boundary of
/// the result's (copies move whole words: with 2-byte block heads, every member but the last
/// needs an even block count).
pub fn concat_rows(ctx: &GpuContext, name: &str, members: &[&GpuTensor]) -> Option<GpuTensor> {
    let first = members.first()?;
    let (ty, ne0) = (first.info.ty, first.info.ne0());
    if members.iter().any(|m| m.info.ty != ty || m.info.ne0() != ne0 || m.info.dims.len() != 2 || m.parts.len() != 1) {
        return None;
    }
    let n_blocks: u64 = members.iter().map(|m| m.parts[0].n_blocks).sum();
    let size = part_bytes(ty, n_blocks).max(4);
    if size > ctx.max_binding() {
        return None;
    }
    let layout = first.layout;
    let mut before = 0;
    for m in members {
        let n = m.parts[0].n_blocks;
        let aligned = match layout {
            BlockLayout::Raw => (n * ty.type_size()) % 4 == 0,
            BlockLayout::Planar { head_bytes, .. } => (before * head_bytes as u64) % 4 == 0,
        };
        if !aligned {
            return None;
        }
        before += n;
    }
    let head_word = match layout {
        BlockLayout::Raw => 0,
        BlockLayout::Planar { body_words, .. } => n_blocks * body_words as u64,
    };
    let buffer = weight_buffer(ctx, name, size);
    let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("concat_rows") });
    let (mut body_at, mut head_at) = (0, head_word * 4);
    for m in members {
        let p = &m.parts[0];
        match layout {
            BlockLayout::Raw => {
                let bytes = p.n_blocks * ty.type_size();
                enc.copy_buffer_to_buffer(&p.buffer, 0, &buffer, body_at, bytes);
                body_at += bytes;
            }
            BlockLayout::Planar { head_bytes, body_words, .. } => {
                let body = p.n_blocks * body_words as u64 * 4;
                enc.copy_buffer_to_buffer(&p.buffer, 0, &buffer, body_at, body);
                body_at += body;
                let head = p.n_blocks * head_bytes as u64;
                enc.copy_buffer_to_buffer(&p.buffer, p.head_word * 4, &buffer, head_at, round4(head));
                head_at += head;
            }
        }
    }
    ctx.queue.submit([enc.finish()]);
    let n_rows: u64 = members.iter().map(|m| m.info.n_rows()).sum();
    let info = TensorInfo {
        name: name.to_string(),
        ty,
        dims: vec![ne0, n_rows],
        offset: 0,
        n_bytes: members.iter().map(|m| m.info.n_bytes).sum(),
        n_elements: members.iter().map(|m| m.info.n_elements).sum(),
    };
    Some(GpuTensor { info, layout, parts: vec![TensorPart { buffer, row0: 0, n_rows, n_blocks, head_word, size }] })
}

/// An F32 vector of `Σ len` floats: each `(Some(v), len)` member's values (an F32 tensor of
/// `len` floats in one part) at its place, zeros for `(None, len)` (the biases of stacked
/// products where only some have one). Made on the GPU by buffer copies.
pub fn concat_vectors(ctx: &GpuContext, name: &str, members: &[(Option<&GpuTensor>, u64)]) -> GpuTensor {
    let n: u64 = members.iter().map(|m| m.1).sum();
    let size = (n * 4).max(4);
    // New buffers are zero-initialized (WebGPU and wgpu guarantee it).
    let buffer = weight_buffer(ctx, name, size);
    let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("concat_vectors") });
    let mut at = 0;
    for &(v, len) in members {
        if let Some(v) = v {
            debug_assert!(v.info.ty == GgmlType::F32 && v.info.n_elements == len && v.parts.len() == 1, "{}: not an F32 vector of {len}", v.info.name);
            enc.copy_buffer_to_buffer(&v.parts[0].buffer, 0, &buffer, at * 4, len * 4);
        }
        at += len;
    }
    ctx.queue.submit([enc.finish()]);
    let info = TensorInfo { name: name.to_string(), ty: GgmlType::F32, dims: vec![n], offset: 0, n_bytes: n * 4, n_elements: n };
    GpuTensor { info, layout: BlockLayout::Raw, parts: vec![TensorPart { buffer, row0: 0, n_rows: 1, n_blocks: n, head_word: 0, size }] }
}
