//! One sequence's memory: its KV block table (blocks of the model's shared pools, possibly
//! shared copy-on-write with forks), its window layers' ring of blocks, and its
//! recurrent-state slot. It knows nothing of tokens or models; positions are the caller's.
//! Dropping it returns its blocks and slot.
//!
//! The ring: position p's rows in a window layer live in ring slot (p / KV_BLOCK) mod
//! `ring_blocks`. Writing a block overwrites the rows of the block `ring_blocks` before it,
//! which every window has left behind (the ring holds the window plus a step). `ring_lo`
//! tracks the lowest position whose rows are still intact, so a rewind knows whether the
//! window it returns to is still there or must come from a checkpoint.

use std::cell::RefCell;
use std::rc::Rc;

use super::checkpoint::{RingHold, Snapshot};
use super::pool::{f32_buf, Pools, Space, KV_BLOCK};
use crate::gpu::GpuError;

pub struct SequenceMemory {
    pub(crate) blocks: Vec<u32>,
    pub(crate) slot: Option<u32>,
    pub(crate) pools: Rc<RefCell<Pools>>,
    /// Window layers' ring blocks (slot j holds position blocks i ≡ j mod ring length).
    pub(crate) ring: Vec<u32>,
    /// Rows of positions from `ring_lo` up to the sequence's length are intact in the ring.
    pub(crate) ring_lo: u32,
}

/// Bytes a sequence holds on the GPU (checkpoints are counted by their owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequenceBytes {
    /// KV blocks held (whole blocks, shared ones too).
    pub kv: u64,
    /// KV rows in use at the given length.
    pub kv_used: u64,
    /// The recurrent-state slot.
    pub recurrent: u64,
    /// Window layers' ring blocks held (at most the window plus one step of rows per layer).
    pub window: u64,
}

impl SequenceMemory {
    /// An empty sequence: no blocks, a zeroed state slot when the layout has states.
    pub fn new(pools: &Rc<RefCell<Pools>>) -> SequenceMemory {
        let slot = pools.borrow_mut().alloc_slot();
        SequenceMemory { blocks: vec![], slot, pools: pools.clone(), ring: vec![], ring_lo: 0 }
    }

    /// Whether rewinding needs a checkpoint in general: the sequence has recurrent state or
    /// sliding-window rings (neither can simply be cut back).
    pub fn needs_snapshot(&self) -> bool {
        self.slot.is_some() || self.pools.borrow().has_window()
    }

    /// Whether the window layers still hold what a sequence cut back to `n` tokens needs (the
    /// rows of its last W − 1 positions); always true without window layers.
    pub fn window_intact(&self, n: u32) -> bool {
        let w = self.pools.borrow().layout.max_window();
        w == 0 || (n + 1).saturating_sub(w) >= self.ring_lo
    }

    /// The window layers' table for position blocks `0..n_blocks` (see [`Self::ring_block`]).
    pub fn ring_table(&self, n_blocks: u32) -> Vec<u32> {
        let nr = self.pools.borrow().ring_blocks().max(1);
        (0..n_blocks).map(|i| self.ring.get((i % nr) as usize).copied().unwrap_or(0)).collect()
    }

    /// The KV pool blocks this sequence reads, in position order.
    pub fn blocks(&self) -> &[u32] {
        &self.blocks
    }

    pub fn slot(&self) -> Option<u32> {
        self.slot
    }

    pub fn pools(&self) -> &Rc<RefCell<Pools>> {
        &self.pools
    }

    /// Blocks for positions `pos .. pos + n`: copy-on-write the partly filled last block if a
    /// fork shares it, then take fresh blocks.
    pub fn reserve(&mut self, pos: u32, n: u32) {
        let pools_rc = self.pools.clone();
        let mut pools = pools_rc.borrow_mut();
        pools.drain_deferred();
        if pools.has_window() && n > 0 {
            self.reserve_ring(&mut pools, pos, n);
        }
        if !pools.has_attention() {
            return;
        }
        if pos % KV_BLOCK != 0 {
            let i = (pos / KV_BLOCK) as usize;
            if let Some(&old) = self.blocks.get(i) {
                if pools.is_shared(old) {
                    let new = pools.alloc_block();
                    let ctx = pools.ctx.clone();
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    pools.copy_block(&mut enc, old, new);
                    ctx.queue.submit([enc.finish()]);
                    pools.release_block(old);
                    self.blocks[i] = new;
                }
            }
        }
        while (self.blocks.len() as u64) * (KV_BLOCK as u64) < pos as u64 + n as u64 {
            let b = pools.alloc_block();
            self.blocks.push(b);
        }
    }

    /// Ring slots for positions `pos .. pos + n`: a slot shared with a fork or a checkpoint
    /// gets a block of its own (copied when it is the partly written block being continued;
    /// otherwise its rows are out of every window), missing slots are allocated.
    fn reserve_ring(&mut self, pools: &mut Pools, pos: u32, n: u32) {
        let nr = pools.ring_blocks().max(1);
        let (first, last) = (pos / KV_BLOCK, (pos + n - 1) / KV_BLOCK);
        let mut enc: Option<wgpu::CommandEncoder> = None;
        for i in first..=last {
            let j = (i % nr) as usize;
            while self.ring.len() <= j {
                let b = pools.alloc(Space::Window);
                self.ring.push(b);
            }
            let old = self.ring[j];
            if pools.is_shared_in(Space::Window, old) {
                let new = pools.alloc(Space::Window);
                if i == first && pos % KV_BLOCK != 0 {
                    let e = enc.get_or_insert_with(|| pools.ctx.device.create_command_encoder(&Default::default()));
                    pools.copy_block_in(Space::Window, e, old, new);
                }
                pools.release(Space::Window, old);
                self.ring[j] = new;
            }
        }
        if let Some(e) = enc {
            pools.ctx.queue.submit([e.finish()]);
        }
        self.ring_lo = self.ring_lo.max((last + 1).saturating_sub(nr) * KV_BLOCK);
    }

    /// Forget positions from `n` on: KV blocks past it go back to the pool (the recurrent
    /// state cannot be cut back; the caller restores a snapshot).
    pub fn truncate(&mut self, n: u32) {
        let keep = n.div_ceil(KV_BLOCK) as usize;
        let mut pools = self.pools.borrow_mut();
        for b in self.blocks.drain(keep.min(self.blocks.len())..) {
            pools.release_block(b);
        }
    }

    /// A second sequence with the same contents: KV blocks shared copy-on-write, the state
    /// slot copied.
    pub fn fork(&self) -> SequenceMemory {
        let mut child = SequenceMemory::new(&self.pools);
        let mut pools = self.pools.borrow_mut();
        for &b in &self.blocks {
            pools.retain_block(b);
        }
        child.blocks = self.blocks.clone();
        for &b in &self.ring {
            pools.retain(Space::Window, b);
        }
        child.ring = self.ring.clone();
        child.ring_lo = self.ring_lo;
        if let (Some(a), Some(b)) = (self.slot, child.slot) {
            let ctx = pools.ctx.clone();
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            for ((buf, from, bytes), (_, to, _)) in pools.slot_regions(a).into_iter().zip(pools.slot_regions(b)) {
                // one buffer holds both slots: copy through a temporary
                let tmp = f32_buf(&ctx, "fork state", bytes / 4);
                enc.copy_buffer_to_buffer(buf, from, &tmp, 0, bytes);
                enc.copy_buffer_to_buffer(&tmp, 0, buf, to, bytes);
            }
            ctx.queue.submit([enc.finish()]);
        }
        drop(pools);
        child
    }

    /// Copies of every recurrent state now, and the window rings held as they are (None
    /// without either).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let mut pools = self.pools.borrow_mut();
        if self.slot.is_none() && !pools.has_window() {
            return None;
        }
        let ctx = pools.ctx.clone();
        let mut bufs = vec![];
        let mut bytes = 0;
        if let Some(slot) = self.slot {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            bytes += pools.slot_bytes();
            bufs = pools
                .slot_regions(slot)
                .into_iter()
                .map(|(b, off, bytes)| {
                    let c = f32_buf(&ctx, "checkpoint", bytes / 4);
                    enc.copy_buffer_to_buffer(b, off, &c, 0, bytes);
                    Rc::new(c)
                })
                .collect();
            ctx.queue.submit([enc.finish()]);
        }
        let ring = if pools.has_window() {
            for &b in &self.ring {
                pools.retain(Space::Window, b);
            }
            bytes += self.ring.len() as u64 * pools.ring_block_bytes();
            Some(Rc::new(RingHold { blocks: self.ring.clone(), lo: self.ring_lo, deferred: pools.deferred.clone() }))
        } else {
            None
        };
        Some(Snapshot { bufs, bytes, ring })
    }

    /// Put a snapshot's states and rings back (`None`: the all-zero state and empty rings of
    /// position 0).
    pub fn restore_state(&mut self, snap: Option<&Snapshot>) {
        {
            let mut pools = self.pools.borrow_mut();
            if pools.has_window() {
                for b in self.ring.drain(..) {
                    pools.release(Space::Window, b);
                }
                self.ring_lo = 0;
                if let Some(h) = snap.and_then(|s| s.ring.as_ref()) {
                    for &b in &h.blocks {
                        pools.retain(Space::Window, b);
                    }
                    self.ring = h.blocks.clone();
                    self.ring_lo = h.lo;
                }
            }
        }
        let Some(slot) = self.slot else { return };
        let pools = self.pools.borrow();
        let ctx = pools.ctx.clone();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        match snap {
            Some(s) => {
                for (src, (dst, off, bytes)) in s.bufs.iter().zip(pools.slot_regions(slot)) {
                    enc.copy_buffer_to_buffer(src, 0, dst, off, bytes);
                }
            }
            None => pools.clear_slot(&mut enc, slot),
        }
        ctx.queue.submit([enc.finish()]);
    }

    /// Bytes held at length `pos`.
    pub fn bytes(&self, pos: u32) -> SequenceBytes {
        let pools = self.pools.borrow();
        SequenceBytes {
            kv: self.blocks.len() as u64 * pools.block_bytes(),
            kv_used: pos as u64 * pools.layout.kv_bytes_per_token(),
            recurrent: if self.slot.is_some() { pools.slot_bytes() } else { 0 },
            window: self.ring.len() as u64 * pools.ring_block_bytes(),
        }
    }

    /// Bytes of [`SequenceMemory::read`] at length `pos`.
    pub fn serialized_len(&self, pos: u32) -> u64 {
        self.pools.borrow().layout.serialized_len(pos)
    }

    /// Every row of memory at length `pos`, read back: per attention layer its K rows then V
    /// rows — all `pos` of a global layer, the last min(pos, W) of a window layer (W the
    /// largest window) — then every recurrent state in layout order (the session blob's body).
    pub async fn read(&self, pos: u32) -> Result<Vec<u8>, GpuError> {
        let (ctx, staging, plan) = {
            let pools = self.pools.borrow();
            let ctx = pools.ctx.clone();
            let plan = self.regions(&pools, pos);
            let total: u64 = plan.iter().map(|r| r.bytes).sum();
            let staging = f32_buf(&ctx, "save staging", total / 4);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            let mut at = 0;
            for r in &plan {
                enc.copy_buffer_to_buffer(&r.buf, r.offset, &staging, at, r.bytes);
                at += r.bytes;
            }
            ctx.queue.submit([enc.finish()]);
            (ctx, staging, plan)
        };
        let total: u64 = plan.iter().map(|r| r.bytes).sum();
        if total == 0 {
            return Ok(vec![]);
        }
        let raw = ctx.read_bytes(&staging, 0, total).await?;
        if !plan.iter().any(|r| r.f16) {
            return Ok(raw);
        }
        // F16 rows widen to the blob's F32.
        let mut out = Vec::with_capacity(raw.len() * 2);
        let mut at = 0usize;
        for r in &plan {
            let bytes = &raw[at..at + r.bytes as usize];
            if r.f16 {
                for h in bytes.chunks_exact(2) {
                    out.extend_from_slice(&half::f16::from_le_bytes([h[0], h[1]]).to_f32().to_le_bytes());
                }
            } else {
                out.extend_from_slice(bytes);
            }
            at += r.bytes as usize;
        }
        Ok(out)
    }

    /// Write [`SequenceMemory::read`]'s bytes back (blocks for `pos` rows must be reserved).
    /// `data` must be exactly `serialized_len(pos)` bytes.
    pub fn write(&mut self, pos: u32, data: &[u8]) {
        let w = self.pools.borrow().layout.max_window();
        if w > 0 {
            self.ring_lo = self.ring_lo.max(pos.saturating_sub(w));
        }
        let pools = self.pools.borrow();
        let mut at = 0usize;
        for r in self.regions(&pools, pos) {
            // The blob's rows are F32; F16 rows narrow (round to nearest even, clamped to F16's
            // finite range as the attention kernel stores them) on the way in.
            let n = if r.f16 { 2 * r.bytes as usize } else { r.bytes as usize };
            if let Some(d) = data.get(at..at + n) {
                if r.f16 {
                    let h: Vec<u8> = d.chunks_exact(4).flat_map(|f| half::f16::from_f32(f32::from_le_bytes([f[0], f[1], f[2], f[3]]).clamp(-65504.0, 65504.0)).to_le_bytes()).collect();
                    pools.ctx.queue.write_buffer(&r.buf, r.offset, &h);
                } else {
                    pools.ctx.queue.write_buffer(&r.buf, r.offset, d);
                }
            }
            at += n;
        }
    }

    /// Every stored row at length `pos` as it lies on the GPU, in blob order.
    fn regions(&self, pools: &Pools, pos: u32) -> Vec<Region> {
        let mut plan = vec![];
        let (w, nr) = (pools.layout.max_window(), pools.ring_blocks().max(1));
        let blk = KV_BLOCK as u64;
        let f16 = pools.layout.kv_f16;
        let region = |buf: &wgpu::Buffer, offset: u64, bytes: u64| Region { buf: buf.clone(), offset, bytes, f16 };
        for (kv, l) in pools.kv.iter().zip(&pools.layout.layers) {
            if let (Some((k, v)), Some(rows)) = (kv, l.kv) {
                for (b, elems) in [(k, rows.k), (v, rows.v)] {
                    let row = elems as u64 * pools.layout.kv_elem_bytes();
                    if rows.window == 0 {
                        for (i, &id) in self.blocks.iter().enumerate() {
                            let n = (pos as u64).saturating_sub(i as u64 * blk).min(blk);
                            if n > 0 {
                                plan.push(region(b, id as u64 * blk * row, n * row));
                            }
                        }
                    } else {
                        // positions pos − min(pos, W) .. pos, block by block through the ring
                        let mut p = pos.saturating_sub(w);
                        while p < pos {
                            let i = p / KV_BLOCK;
                            let end = ((i + 1) * KV_BLOCK).min(pos);
                            let id = self.ring.get((i % nr) as usize).copied().unwrap_or(0) as u64;
                            plan.push(region(b, (id * blk + (p % KV_BLOCK) as u64) * row, (end - p) as u64 * row));
                            p = end;
                        }
                    }
                }
            }
        }
        if let Some(slot) = self.slot {
            for (b, offset, bytes) in pools.slot_regions(slot) {
                plan.push(Region { buf: b.clone(), offset, bytes, f16: false });
            }
        }
        plan
    }
}

/// Bytes of one buffer that a session blob carries: `f16` rows widen to F32 in the blob.
struct Region {
    buf: wgpu::Buffer,
    offset: u64,
    bytes: u64,
    f16: bool,
}

impl Drop for SequenceMemory {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pools.try_borrow_mut() {
            for &b in &self.blocks {
                p.release_block(b);
            }
            for &b in &self.ring {
                p.release(Space::Window, b);
            }
            if let Some(s) = self.slot {
                p.release_slot(s);
            }
        }
    }
}
