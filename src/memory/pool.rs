//! GPU memory shared by all sessions of a model:
//! - a KV pool per attention layer, in blocks of [`KV_BLOCK`] token rows. A block id means
//!   the same rows in every layer's pool; sessions hold a block table and blocks are
//!   reference-counted so forks share them copy-on-write. Nothing is reserved per session
//!   up front; a session takes blocks as it grows. When the pool is full it doubles
//!   (one copy; block ids stay valid).
//! - a recurrent-state pool per recurrent layer (conv and SSM state), one slot per session.

use crate::model::forward::f32_buf;
use crate::gpu::GpuContext;
use crate::model::HParams;

/// Tokens per KV block.
pub const KV_BLOCK: u32 = 16;

pub struct Pools {
    /// Per layer: K and V pools of `kv_blocks · KV_BLOCK · kv_dim` floats.
    pub kv: Vec<Option<(wgpu::Buffer, wgpu::Buffer)>>,
    pub kv_dim: Vec<u32>,
    pub kv_blocks: u32,
    refs: Vec<u32>,
    free_blocks: Vec<u32>,
    /// Per layer: conv and SSM state pools of `slots · len` floats.
    pub conv: Vec<Option<wgpu::Buffer>>,
    pub ssm: Vec<Option<wgpu::Buffer>>,
    pub conv_len: u32,
    pub ssm_len: u32,
    pub slots: u32,
    free_slots: Vec<u32>,
    slot_used: Vec<bool>,
}

fn grow(ctx: &GpuContext, enc: &mut wgpu::CommandEncoder, old: &wgpu::Buffer, floats: u64, label: &str) -> wgpu::Buffer {
    let new = f32_buf(ctx, label, floats);
    enc.copy_buffer_to_buffer(old, 0, &new, 0, old.size());
    new
}

impl Pools {
    pub fn new(ctx: &GpuContext, hp: &HParams) -> Pools {
        let kv_dim: Vec<u32> = (0..hp.layers.len()).map(|il| hp.n_head_kv[il] * hp.head_dim).collect();
        let (conv_len, ssm_len) = hp.ssm.map_or((0, 0), |p| (p.conv_state_len(), p.ssm_state_len()));
        let mut p = Pools {
            kv: vec![],
            kv_dim,
            kv_blocks: 0,
            refs: vec![],
            free_blocks: vec![],
            conv: vec![],
            ssm: vec![],
            conv_len,
            ssm_len,
            slots: 0,
            free_slots: vec![],
            slot_used: vec![],
        };
        for (il, l) in hp.layers.iter().enumerate() {
            p.kv.push(l.attention.then(|| (f32_buf(ctx, "k pool", 4), f32_buf(ctx, "v pool", 4))));
            let _ = il;
            p.conv.push(l.recurrent.then(|| f32_buf(ctx, "conv pool", 4)));
            p.ssm.push(l.recurrent.then(|| f32_buf(ctx, "ssm pool", 4)));
        }
        p
    }

    pub fn has_attention(&self) -> bool {
        self.kv.iter().any(Option::is_some)
    }

    /// Bytes of one KV block across all layers (K and V).
    pub fn block_bytes(&self) -> u64 {
        self.kv.iter().zip(&self.kv_dim).filter(|(k, _)| k.is_some()).map(|(_, &d)| 2 * KV_BLOCK as u64 * d as u64 * 4).sum()
    }

    /// Bytes of one recurrent-state slot across all layers.
    pub fn slot_bytes(&self) -> u64 {
        self.conv.iter().filter(|c| c.is_some()).count() as u64 * 4 * (self.conv_len + self.ssm_len) as u64
    }

    fn grow_kv(&mut self, ctx: &GpuContext, need: u32) {
        let cap = need.max(self.kv_blocks * 2).max(16);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for (il, kv) in self.kv.iter_mut().enumerate() {
            if let Some((k, v)) = kv {
                let floats = cap as u64 * KV_BLOCK as u64 * self.kv_dim[il] as u64;
                *kv = Some((grow(ctx, &mut enc, k, floats, "k pool"), grow(ctx, &mut enc, v, floats, "v pool")));
            }
        }
        ctx.queue.submit([enc.finish()]);
        self.free_blocks.extend((self.kv_blocks..cap).rev());
        self.refs.resize(cap as usize, 0);
        self.kv_blocks = cap;
    }

    pub fn alloc_block(&mut self, ctx: &GpuContext) -> u32 {
        if self.free_blocks.is_empty() {
            self.grow_kv(ctx, self.kv_blocks + 1);
        }
        let b = self.free_blocks.pop().unwrap_or(0);
        self.refs[b as usize] = 1;
        b
    }

    pub fn retain_block(&mut self, b: u32) {
        self.refs[b as usize] += 1;
    }

    pub fn release_block(&mut self, b: u32) {
        let r = &mut self.refs[b as usize];
        *r = r.saturating_sub(1);
        if *r == 0 {
            self.free_blocks.push(b);
        }
    }

    pub fn is_shared(&self, b: u32) -> bool {
        self.refs[b as usize] > 1
    }

    /// Copy block `src` into block `dst` in every layer (copy-on-write). WebGPU forbids
    /// copies within one buffer, so rows go through a small temporary buffer.
    pub fn copy_block(&self, ctx: &GpuContext, enc: &mut wgpu::CommandEncoder, src: u32, dst: u32) {
        for (il, kv) in self.kv.iter().enumerate() {
            if let Some((k, v)) = kv {
                let bytes = KV_BLOCK as u64 * self.kv_dim[il] as u64 * 4;
                for b in [k, v] {
                    let tmp = f32_buf(ctx, "cow block", bytes / 4);
                    enc.copy_buffer_to_buffer(b, src as u64 * bytes, &tmp, 0, bytes);
                    enc.copy_buffer_to_buffer(&tmp, 0, b, dst as u64 * bytes, bytes);
                }
            }
        }
    }

    /// A zeroed recurrent-state slot (None for models without recurrent layers).
    pub fn alloc_slot(&mut self, ctx: &GpuContext) -> Option<u32> {
        if self.conv_len + self.ssm_len == 0 || self.conv.iter().all(Option::is_none) {
            return None;
        }
        if self.free_slots.is_empty() {
            let cap = (self.slots * 2).max(4);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            for (bufs, len, label) in [(&mut self.conv, self.conv_len, "conv pool"), (&mut self.ssm, self.ssm_len, "ssm pool")] {
                for b in bufs.iter_mut().flatten() {
                    *b = grow(ctx, &mut enc, b, cap as u64 * len as u64, label);
                }
            }
            ctx.queue.submit([enc.finish()]);
            self.free_slots.extend((self.slots..cap).rev());
            self.slot_used.resize(cap as usize, false);
            self.slots = cap;
        }
        let s = self.free_slots.pop()?;
        self.slot_used[s as usize] = true;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.clear_slot(&mut enc, s);
        ctx.queue.submit([enc.finish()]);
        Some(s)
    }

    pub fn clear_slot(&self, enc: &mut wgpu::CommandEncoder, s: u32) {
        for (bufs, len) in [(&self.conv, self.conv_len), (&self.ssm, self.ssm_len)] {
            let bytes = len as u64 * 4;
            for b in bufs.iter().flatten() {
                if bytes > 0 {
                    enc.clear_buffer(b, s as u64 * bytes, Some(bytes));
                }
            }
        }
    }

    pub fn release_slot(&mut self, s: u32) {
        if self.slot_used.get(s as usize).copied().unwrap_or(false) {
            self.slot_used[s as usize] = false;
            self.free_slots.push(s);
        }
    }

    /// (buffer, byte offset, bytes) of each recurrent layer's conv and SSM state of slot s.
    pub fn slot_regions(&self, s: u32) -> Vec<(&wgpu::Buffer, u64, u64)> {
        let mut v = vec![];
        for il in 0..self.conv.len() {
            for (b, len) in [(&self.conv[il], self.conv_len), (&self.ssm[il], self.ssm_len)] {
                if let Some(b) = b {
                    let bytes = len as u64 * 4;
                    v.push((b, s as u64 * bytes, bytes));
                }
            }
        }
        v
    }
}
