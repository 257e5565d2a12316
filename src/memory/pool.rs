//! GPU memory shared by all sessions of a model, sized per layer from its [`MemoryLayout`]:
//! - a KV pool per attention layer, in blocks of [`KV_BLOCK`] token rows. A block id means
//!   the same rows in every layer's pool; sessions hold a block table and blocks are
//!   reference-counted so forks share them copy-on-write. Nothing is reserved per session
//!   up front; a session takes blocks as it grows. When the pool is full it doubles
//!   (one copy; block ids stay valid).
//! - a ring pool per sliding-window attention layer, in blocks of the same size with ids of
//!   their own (a second block space): each sequence holds at most `ring_rows / KV_BLOCK`
//!   of them and reuses them in turn (block i of its positions lives in ring slot i mod that
//!   count), shared copy-on-write with forks and checkpoints like the global blocks.
//! - a state pool per recurrent state tensor of each layer (conv window, SSM state, …), one
//!   slot per session. Slot s of a tensor of `floats` floats is at byte `4·s·floats`.

use std::cell::RefCell;
use std::rc::Rc;

use super::layout::MemoryLayout;
use crate::gpu::GpuContext;

/// Tokens per KV block.
pub const KV_BLOCK: u32 = 16;

/// A storage buffer of `n` f32 (zero-initialised by WebGPU).
pub fn f32_buf(ctx: &GpuContext, label: &str, n: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (n.max(1) * 4).next_multiple_of(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Which block space a KV block belongs to: the global layers' blocks (one per 16 positions
/// of a sequence) or the window layers' ring blocks (at most `ring_rows / KV_BLOCK` per
/// sequence). A block id means the same rows in every layer of its space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Global,
    Window,
}

impl Space {
    fn of(window: u32) -> Space {
        if window > 0 { Space::Window } else { Space::Global }
    }
}

/// Reference-counted blocks of one space.
#[derive(Default)]
struct Blocks {
    cap: u32,
    refs: Vec<u32>,
    free: Vec<u32>,
}

/// Blocks whose last holder was dropped where the pools could not be borrowed (a checkpoint
/// or cache entry dropped inside a pool operation); released at the next allocation.
pub type Deferred = Rc<RefCell<Vec<(Space, u32)>>>;

pub struct Pools {
    pub ctx: Rc<GpuContext>,
    pub layout: MemoryLayout,
    /// Per layer: K and V pools of `capacity(space) · KV_BLOCK` rows.
    pub kv: Vec<Option<(wgpu::Buffer, wgpu::Buffer)>>,
    global: Blocks,
    ring: Blocks,
    pub(crate) deferred: Deferred,
    /// Per layer, per state tensor: `slots · floats` floats.
    pub states: Vec<Vec<wgpu::Buffer>>,
    pub slots: u32,
    free_slots: Vec<u32>,
    slot_used: Vec<bool>,
}

/// A storage buffer of `bytes` (rounded up to whole 4-byte words), contents undefined.
fn byte_buf(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    f32_buf(ctx, label, bytes.div_ceil(4))
}

fn grow(ctx: &GpuContext, enc: &mut wgpu::CommandEncoder, old: &wgpu::Buffer, bytes: u64, label: &str) -> wgpu::Buffer {
    let new = byte_buf(ctx, label, bytes);
    enc.copy_buffer_to_buffer(old, 0, &new, 0, old.size());
    new
}

impl Pools {
    pub fn new(ctx: &Rc<GpuContext>, layout: MemoryLayout) -> Pools {
        let kv = layout.layers.iter().map(|l| l.kv.map(|_| (f32_buf(ctx, "k pool", 4), f32_buf(ctx, "v pool", 4)))).collect();
        let states = layout.layers.iter().map(|l| l.states.iter().map(|_| f32_buf(ctx, "state pool", 4)).collect()).collect();
        Pools {
            ctx: ctx.clone(),
            layout,
            kv,
            global: Blocks::default(),
            ring: Blocks::default(),
            deferred: Rc::default(),
            states,
            slots: 0,
            free_slots: vec![],
            slot_used: vec![],
        }
    }

    /// Some global attention layer keeps rows of every position (sequences hold a block
    /// table).
    pub fn has_attention(&self) -> bool {
        self.layout.has_global_kv()
    }

    /// Some attention layer keeps a sliding window (sequences hold a ring of blocks).
    pub fn has_window(&self) -> bool {
        self.layout.has_window()
    }

    /// Ring blocks per sequence (0 without window layers).
    pub fn ring_blocks(&self) -> u32 {
        self.layout.ring_rows() / KV_BLOCK
    }

    /// Bytes of one global KV block across the global layers (K and V).
    pub fn block_bytes(&self) -> u64 {
        KV_BLOCK as u64 * self.layout.kv_bytes_per_token()
    }

    /// Bytes of one ring block across the window layers (K and V).
    pub fn ring_block_bytes(&self) -> u64 {
        KV_BLOCK as u64 * self.layout.window_bytes_per_row()
    }

    /// Bytes of one recurrent-state slot across all layers.
    pub fn slot_bytes(&self) -> u64 {
        self.layout.state_bytes()
    }

    fn space(&mut self, sp: Space) -> &mut Blocks {
        match sp {
            Space::Global => &mut self.global,
            Space::Window => &mut self.ring,
        }
    }

    fn grow_kv(&mut self, sp: Space, need: u32) {
        let ctx = self.ctx.clone();
        let old = self.space(sp).cap;
        let cap = need.max(old * 2).max(16);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for (kv, l) in self.kv.iter_mut().zip(&self.layout.layers) {
            if let (Some((k, v)), Some(rows)) = (kv.as_ref(), l.kv) {
                if Space::of(rows.window) != sp {
                    continue;
                }
                let elems = cap as u64 * KV_BLOCK as u64 * self.layout.kv_elem_bytes();
                *kv = Some((grow(&ctx, &mut enc, k, elems * rows.k as u64, "k pool"), grow(&ctx, &mut enc, v, elems * rows.v as u64, "v pool")));
            }
        }
        ctx.queue.submit([enc.finish()]);
        // The old pools may now be freed: no cached bind group may keep them alive.
        ctx.forget_bind_groups();
        let b = self.space(sp);
        b.free.extend((old..cap).rev());
        b.refs.resize(cap as usize, 0);
        b.cap = cap;
    }

    /// Release what dropped checkpoints and cache entries left behind.
    pub(crate) fn drain_deferred(&mut self) {
        let list = std::mem::take(&mut *self.deferred.borrow_mut());
        for (sp, b) in list {
            self.release(sp, b);
        }
    }

    /// A fresh block of space `sp` (one reference).
    pub fn alloc(&mut self, sp: Space) -> u32 {
        self.drain_deferred();
        if self.space(sp).free.is_empty() {
            let need = self.space(sp).cap + 1;
            self.grow_kv(sp, need);
        }
        let b = self.space(sp);
        let id = b.free.pop().unwrap_or(0);
        b.refs[id as usize] = 1;
        id
    }

    pub fn retain(&mut self, sp: Space, id: u32) {
        if let Some(r) = self.space(sp).refs.get_mut(id as usize) {
            *r += 1;
        }
    }

    pub fn release(&mut self, sp: Space, id: u32) {
        let b = self.space(sp);
        if let Some(r) = b.refs.get_mut(id as usize) {
            if *r > 0 {
                *r -= 1;
                if *r == 0 {
                    b.free.push(id);
                }
            }
        }
    }

    pub fn is_shared_in(&self, sp: Space, id: u32) -> bool {
        let b = match sp {
            Space::Global => &self.global,
            Space::Window => &self.ring,
        };
        b.refs.get(id as usize).is_some_and(|&r| r > 1)
    }

    pub fn alloc_block(&mut self) -> u32 {
        self.alloc(Space::Global)
    }

    pub fn retain_block(&mut self, b: u32) {
        self.retain(Space::Global, b)
    }

    pub fn release_block(&mut self, b: u32) {
        self.release(Space::Global, b)
    }

    pub fn is_shared(&self, b: u32) -> bool {
        self.is_shared_in(Space::Global, b)
    }

    /// Global blocks in use by some sequence (shared ones counted once).
    pub fn blocks_in_use(&self) -> u32 {
        self.global.refs.iter().filter(|&&r| r > 0).count() as u32
    }

    /// Copy block `src` into block `dst` in every layer of space `sp` (copy-on-write). WebGPU
    /// forbids copies within one buffer, so rows go through a small temporary buffer.
    pub fn copy_block_in(&self, sp: Space, enc: &mut wgpu::CommandEncoder, src: u32, dst: u32) {
        for (kv, l) in self.kv.iter().zip(&self.layout.layers) {
            if let (Some((k, v)), Some(rows)) = (kv, l.kv) {
                if Space::of(rows.window) != sp {
                    continue;
                }
                for (b, elems) in [(k, rows.k), (v, rows.v)] {
                    let bytes = KV_BLOCK as u64 * elems as u64 * self.layout.kv_elem_bytes();
                    let tmp = byte_buf(&self.ctx, "cow block", bytes);
                    enc.copy_buffer_to_buffer(b, src as u64 * bytes, &tmp, 0, bytes);
                    enc.copy_buffer_to_buffer(&tmp, 0, b, dst as u64 * bytes, bytes);
                }
            }
        }
    }

    /// [`Pools::copy_block_in`] for the global space.
    pub fn copy_block(&self, enc: &mut wgpu::CommandEncoder, src: u32, dst: u32) {
        self.copy_block_in(Space::Global, enc, src, dst)
    }

    /// A zeroed recurrent-state slot (None for models without recurrent state).
    pub fn alloc_slot(&mut self) -> Option<u32> {
        if !self.layout.has_state() {
            return None;
        }
        let ctx = self.ctx.clone();
        if self.free_slots.is_empty() {
            let cap = (self.slots * 2).max(4);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            for (bufs, l) in self.states.iter_mut().zip(&self.layout.layers) {
                for (b, st) in bufs.iter_mut().zip(&l.states) {
                    *b = grow(&ctx, &mut enc, b, 4 * cap as u64 * st.floats as u64, "state pool");
                }
            }
            ctx.queue.submit([enc.finish()]);
            ctx.forget_bind_groups();
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

    /// Zero every state of slot `s` (a new sequence starts from all-zero states).
    pub fn clear_slot(&self, enc: &mut wgpu::CommandEncoder, s: u32) {
        for (b, off, bytes) in self.slot_regions(s) {
            enc.clear_buffer(b, off, Some(bytes));
        }
    }

    pub fn release_slot(&mut self, s: u32) {
        if self.slot_used.get(s as usize).copied().unwrap_or(false) {
            self.slot_used[s as usize] = false;
            self.free_slots.push(s);
        }
    }

    /// (buffer, byte offset, bytes) of every state tensor of slot s, layer by layer, in
    /// layout order — the order of checkpoints and session blobs.
    pub fn slot_regions(&self, s: u32) -> Vec<(&wgpu::Buffer, u64, u64)> {
        let mut v = vec![];
        for (bufs, l) in self.states.iter().zip(&self.layout.layers) {
            for (b, st) in bufs.iter().zip(&l.states) {
                let bytes = st.floats as u64 * 4;
                if bytes > 0 {
                    v.push((b, s as u64 * bytes, bytes));
                }
            }
        }
        v
    }

    /// The state buffers of layer `il` (one per state tensor, in layout order).
    pub fn layer_states(&self, il: usize) -> &[wgpu::Buffer] {
        &self.states[il]
    }

    /// The K and V pools of layer `il`, if it keeps KV rows.
    pub fn layer_kv(&self, il: usize) -> Option<&(wgpu::Buffer, wgpu::Buffer)> {
        self.kv[il].as_ref()
    }
}
