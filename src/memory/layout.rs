//! What each layer keeps per sequence, declared by the layer's mixers (spec §3.1; llama.cpp's
//! per-layer `n_embd_k_gqa` / `n_embd_r` / `n_embd_s`). The pools are sized from this, and
//! every sequence operation (fork, checkpoints, save/restore, byte accounting) walks it, so a
//! new mixer kind needs no memory code of its own.
//!
//! Attention layers come in two memory kinds: global layers keep K/V rows of every position
//! (blocks that grow with the sequence); sliding-window layers (`window` W > 0) keep only a
//! ring of [`MemoryLayout::ring_rows`] rows per sequence — the last W positions plus room for
//! one step's new rows — so a long sequence costs W-ish rows per window layer, not n.

/// K and V rows of one token in an attention layer, in elements (n_head_kv · head_dim each; F32,
/// or F16 with [`MemoryLayout::kv_f16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvRows {
    pub k: u32,
    pub v: u32,
    /// Sliding window in positions (0: a global layer that keeps every position).
    pub window: u32,
}

/// A fixed-size recurrent state tensor of one sequence (a conv window, an SSM state, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTensor {
    /// What it holds, for reports: `conv`, `ssm`, …
    pub name: &'static str,
    /// Floats per sequence.
    pub floats: u32,
}

/// One layer's memory per sequence: KV rows that grow with the tokens (attention) and/or
/// fixed-size states (recurrent mixers). A layer with neither (an MLP-only layer) keeps nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LayerMemory {
    pub kv: Option<KvRows>,
    pub states: Vec<StateTensor>,
}

/// The per-layer memory of a model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryLayout {
    pub layers: Vec<LayerMemory>,
    /// The most tokens one step writes per sequence (sizes the window layers' rings).
    pub max_step: u32,
    /// K and V rows held as F16 on the GPU (where the device has `shader-f16`, chosen when
    /// the model is made: [`crate::gpu::GpuContext::kv_f16`]); F32 otherwise. Session blobs
    /// carry F32 rows either way.
    pub kv_f16: bool,
}

impl MemoryLayout {
    /// Some layer keeps KV rows (global or windowed).
    pub fn has_kv(&self) -> bool {
        self.layers.iter().any(|l| l.kv.is_some())
    }

    /// Some global attention layer keeps rows of every position.
    pub fn has_global_kv(&self) -> bool {
        self.layers.iter().any(|l| l.kv.is_some_and(|kv| kv.window == 0))
    }

    /// Some attention layer keeps a sliding window.
    pub fn has_window(&self) -> bool {
        self.max_window() > 0
    }

    /// The largest sliding window (0: none).
    pub fn max_window(&self) -> u32 {
        self.layers.iter().filter_map(|l| l.kv).map(|kv| kv.window).max().unwrap_or(0)
    }

    /// Rows of a window layer's ring per sequence: the largest window plus one step's rows,
    /// rounded up to whole blocks (`KV_BLOCK`), so that a step never overwrites a row that one
    /// of its own tokens still attends to (llama.cpp sizes its SWA cache n_swa + n_ubatch the
    /// same way). 0 without window layers.
    pub fn ring_rows(&self) -> u32 {
        let w = self.max_window();
        if w == 0 {
            return 0;
        }
        let b = super::pool::KV_BLOCK;
        (w + self.max_step.max(1) + b - 1).div_ceil(b) * b
    }

    /// The KV cache's element type as reports name it: "f16", "f32", or "none" (no attention).
    pub fn kv_cache_type(&self) -> &'static str {
        match (self.has_kv(), self.kv_f16) {
            (false, _) => "none",
            (true, true) => "f16",
            (true, false) => "f32",
        }
    }

    /// Bytes of one K or V element on the GPU: 2 (F16) or 4 (F32).
    pub fn kv_elem_bytes(&self) -> u64 {
        if self.kv_f16 { 2 } else { 4 }
    }

    /// Every K and V row can be held as F16: each holds an even number of elements, so that
    /// rows start on the 4-byte boundaries buffer copies need.
    pub fn kv_f16_able(&self) -> bool {
        self.layers.iter().filter_map(|l| l.kv).all(|kv| kv.k % 2 == 0 && kv.v % 2 == 0)
    }

    /// K and V elements of one row over the window layers (`true`) or the global ones.
    fn kv_elems(&self, window: bool) -> u64 {
        self.layers.iter().filter_map(|l| l.kv).filter(|kv| (kv.window > 0) == window).map(|kv| kv.k as u64 + kv.v as u64).sum()
    }

    /// Bytes of one row (K and V) over all window layers, as held on the GPU.
    pub fn window_bytes_per_row(&self) -> u64 {
        self.kv_elem_bytes() * self.kv_elems(true)
    }

    /// Some layer keeps a recurrent state (sessions then hold a state slot).
    pub fn has_state(&self) -> bool {
        self.layers.iter().any(|l| l.states.iter().any(|s| s.floats > 0))
    }

    /// Bytes of KV rows per token over the global attention layers as held on the GPU (K and
    /// V, [`MemoryLayout::kv_elem_bytes`] each element); window layers hold at most
    /// [`MemoryLayout::ring_rows`] rows each.
    pub fn kv_bytes_per_token(&self) -> u64 {
        self.kv_elem_bytes() * self.kv_elems(false)
    }

    /// Bytes of a sequence's memory rows at length `n` as a session blob carries them (F32
    /// whatever the GPU holds): every global row, the last min(n, W) rows of each window
    /// layer, the recurrent states.
    pub fn serialized_len(&self, n: u32) -> u64 {
        4 * (n as u64 * self.kv_elems(false) + n.min(self.max_window()) as u64 * self.kv_elems(true)) + if self.has_state() { self.state_bytes() } else { 0 }
    }

    /// Bytes of recurrent state per sequence over all layers (F32), whatever its length.
    pub fn state_bytes(&self) -> u64 {
        self.layers.iter().flat_map(|l| &l.states).map(|s| 4 * s.floats as u64).sum()
    }

    /// Layers with KV rows.
    pub fn kv_layers(&self) -> usize {
        self.layers.iter().filter(|l| l.kv.is_some()).count()
    }

    /// Layers with a recurrent state.
    pub fn state_layers(&self) -> usize {
        self.layers.iter().filter(|l| !l.states.is_empty()).count()
    }
}
