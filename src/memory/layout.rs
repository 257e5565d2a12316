//! What each layer keeps per sequence, declared by the layer's mixers (spec §3.1; llama.cpp's
//! per-layer `n_embd_k_gqa` / `n_embd_r` / `n_embd_s`). The pools are sized from this, and
//! every sequence operation (fork, checkpoints, save/restore, byte accounting) walks it, so a
//! new mixer kind needs no memory code of its own.

/// K and V rows of one token in an attention layer, in floats (n_head_kv · head_dim each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvRows {
    pub k: u32,
    pub v: u32,
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
}

impl MemoryLayout {
    /// Some layer keeps KV rows.
    pub fn has_kv(&self) -> bool {
        self.layers.iter().any(|l| l.kv.is_some())
    }

    /// Some layer keeps a recurrent state (sessions then hold a state slot).
    pub fn has_state(&self) -> bool {
        self.layers.iter().any(|l| l.states.iter().any(|s| s.floats > 0))
    }

    /// Bytes of KV rows per token over all layers (F32 K and V).
    pub fn kv_bytes_per_token(&self) -> u64 {
        self.layers.iter().filter_map(|l| l.kv).map(|kv| 4 * (kv.k as u64 + kv.v as u64)).sum()
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
