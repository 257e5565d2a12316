//! One sequence's memory: its KV block table (blocks of the model's shared pools, possibly
//! shared copy-on-write with forks) and its recurrent-state slot. It knows nothing of tokens
//! or models; positions are the caller's. Dropping it returns its blocks and slot.

use std::cell::RefCell;
use std::rc::Rc;

use super::checkpoint::Snapshot;
use super::pool::{f32_buf, Pools, KV_BLOCK};
use crate::gpu::GpuError;

pub struct SequenceMemory {
    pub(crate) blocks: Vec<u32>,
    pub(crate) slot: Option<u32>,
    pub(crate) pools: Rc<RefCell<Pools>>,
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
}

impl SequenceMemory {
    /// An empty sequence: no blocks, a zeroed state slot when the layout has states.
    pub fn new(pools: &Rc<RefCell<Pools>>) -> SequenceMemory {
        let slot = pools.borrow_mut().alloc_slot();
        SequenceMemory { blocks: vec![], slot, pools: pools.clone() }
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
        let mut pools = self.pools.borrow_mut();
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

    /// Copies of every recurrent state now (None without states).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let slot = self.slot?;
        let pools = self.pools.borrow();
        let ctx = pools.ctx.clone();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let bytes = pools.slot_bytes();
        let bufs = pools
            .slot_regions(slot)
            .into_iter()
            .map(|(b, off, bytes)| {
                let c = f32_buf(&ctx, "checkpoint", bytes / 4);
                enc.copy_buffer_to_buffer(b, off, &c, 0, bytes);
                Rc::new(c)
            })
            .collect();
        ctx.queue.submit([enc.finish()]);
        Some(Snapshot { bufs, bytes })
    }

    /// Put a snapshot's states back (`None`: the all-zero state of position 0).
    pub fn restore_state(&self, snap: Option<&Snapshot>) {
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
        }
    }

    /// Bytes of [`SequenceMemory::read`] at length `pos`.
    pub fn serialized_len(&self, pos: u32) -> u64 {
        let pools = self.pools.borrow();
        pos as u64 * pools.layout.kv_bytes_per_token() + if self.slot.is_some() { pools.slot_bytes() } else { 0 }
    }

    /// Every row of memory at length `pos`, read back: per attention layer its `pos` K rows
    /// then V rows, then every recurrent state in layout order (the session blob's body).
    pub async fn read(&self, pos: u32) -> Result<Vec<u8>, GpuError> {
        let (ctx, staging, total) = {
            let pools = self.pools.borrow();
            let ctx = pools.ctx.clone();
            let plan = self.regions(&pools, pos);
            let total: u64 = plan.iter().map(|r| r.2).sum();
            let staging = f32_buf(&ctx, "save staging", total / 4);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            let mut at = 0;
            for (b, off, bytes) in &plan {
                enc.copy_buffer_to_buffer(b, *off, &staging, at, *bytes);
                at += bytes;
            }
            ctx.queue.submit([enc.finish()]);
            (ctx, staging, total)
        };
        if total == 0 {
            return Ok(vec![]);
        }
        ctx.read_bytes(&staging, 0, total).await
    }

    /// Write [`SequenceMemory::read`]'s bytes back (blocks for `pos` rows must be reserved).
    /// `data` must be exactly `serialized_len(pos)` bytes.
    pub fn write(&self, pos: u32, data: &[u8]) {
        let pools = self.pools.borrow();
        let mut at = 0usize;
        for (b, off, bytes) in self.regions(&pools, pos) {
            let n = bytes as usize;
            if let Some(d) = data.get(at..at + n) {
                pools.ctx.queue.write_buffer(&b, off, d);
            }
            at += n;
        }
    }

    /// (buffer, byte offset, bytes) of every stored row at length `pos`, in blob order.
    fn regions(&self, pools: &Pools, pos: u32) -> Vec<(wgpu::Buffer, u64, u64)> {
        let mut plan = vec![];
        for (kv, l) in pools.kv.iter().zip(&pools.layout.layers) {
            if let (Some((k, v)), Some(rows)) = (kv, l.kv) {
                for (b, floats) in [(k, rows.k), (v, rows.v)] {
                    let row = floats as u64 * 4;
                    for (i, &blk) in self.blocks.iter().enumerate() {
                        let n = (pos as u64).saturating_sub(i as u64 * KV_BLOCK as u64).min(KV_BLOCK as u64);
                        if n > 0 {
                            plan.push((b.clone(), blk as u64 * KV_BLOCK as u64 * row, n * row));
                        }
                    }
                }
            }
        }
        if let Some(slot) = self.slot {
            for (b, off, bytes) in pools.slot_regions(slot) {
                plan.push((b.clone(), off, bytes));
            }
        }
        plan
    }
}

impl Drop for SequenceMemory {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pools.try_borrow_mut() {
            for &b in &self.blocks {
                p.release_block(b);
            }
            if let Some(s) = self.slot {
                p.release_slot(s);
            }
        }
    }
}
