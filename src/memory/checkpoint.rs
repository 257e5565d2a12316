//! Checkpoints: copies of a sequence's recurrent state (and its sliding-window rings) at a
//! token count, so that it can be rewound (recurrent state cannot be cut back, and a window
//! has overwritten what lay before it; global KV rows can be cut). Which positions are kept is a
//! policy over positions only — it works the same for every state kind.
//!
//! Checkpoints are taken at the end of each appended batch (a turn boundary) and every
//! `policy.every` tokens. At most `policy.max` are kept; when a new one would exceed that,
//! the oldest periodic checkpoint is evicted first and turn ends are kept longer (a chat
//! rewinds to turn boundaries: Regenerate to the end of the prompt, Edit to the turn before;
//! a long reply must not push them out), then the oldest turn end. Position 0 needs no
//! checkpoint: its state is all zeros.

use std::rc::Rc;

use super::pool::{Deferred, Space};

/// Copies of every recurrent state of a sequence (one buffer per state tensor, in layout
/// order) and the window layers' ring as it was (its blocks held, shared copy-on-write with
/// the sequence). Immutable once taken, so forks share them.
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) bufs: Vec<Rc<wgpu::Buffer>>,
    /// Bytes of state held (the buffers' sizes may be rounded up) plus the ring's blocks.
    pub(crate) bytes: u64,
    pub(crate) ring: Option<Rc<RingHold>>,
}

impl Snapshot {
    /// GPU bytes it holds: its state copies and its ring blocks (which it shares with the
    /// sequence until the sequence overwrites them).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The ring blocks it holds.
    pub fn ring_blocks(&self) -> &[u32] {
        self.ring.as_ref().map_or(&[], |r| &r.blocks)
    }
}

/// A window ring's blocks held by a snapshot (one reference each, released when the last
/// clone of the snapshot is dropped) and the lowest position whose rows they hold.
pub struct RingHold {
    pub(crate) blocks: Vec<u32>,
    pub(crate) lo: u32,
    pub(crate) deferred: Deferred,
}

impl Drop for RingHold {
    fn drop(&mut self) {
        if let Ok(mut d) = self.deferred.try_borrow_mut() {
            d.extend(self.blocks.iter().map(|&b| (Space::Window, b)));
        }
    }
}

/// When checkpoints are taken and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Also checkpoint whenever the token count crosses a multiple of this (0: never).
    pub every: u32,
    /// Keep at most this many; the oldest periodic one is evicted first, then the oldest
    /// turn end.
    pub max: usize,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy { every: 256, max: 8 }
    }
}

/// The recurrent state after `n_tokens` tokens.
#[derive(Clone)]
pub struct Checkpoint {
    pub n_tokens: u32,
    /// Taken at the end of an appended batch (a turn boundary), not only periodically.
    pub turn: bool,
    pub snapshot: Snapshot,
}

/// A sequence's checkpoints, oldest first.
#[derive(Clone, Default)]
pub struct Checkpoints {
    list: Vec<Checkpoint>,
}

impl Checkpoints {
    pub fn list(&self) -> &[Checkpoint] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether the newest checkpoint is at `n` (then it is only re-marked, not retaken).
    pub fn mark_if_at(&mut self, n: u32, turn: bool) -> bool {
        match self.list.last_mut() {
            Some(c) if c.n_tokens == n => {
                c.turn |= turn;
                true
            }
            _ => false,
        }
    }

    /// Add a checkpoint, then evict per `policy`.
    pub fn push(&mut self, c: Checkpoint, policy: &CheckpointPolicy) {
        self.list.push(c);
        while self.list.len() > policy.max.max(1) {
            // Never the one just taken; periodic ones before turn ends, oldest first.
            let older = &self.list[..self.list.len() - 1];
            let victim = older.iter().position(|c| !c.turn).unwrap_or(0);
            self.list.remove(victim);
        }
    }

    /// Drop checkpoints past `n` and return the newest one left (at or before `n`).
    pub fn cut(&mut self, n: u32) -> Option<&Checkpoint> {
        self.list.retain(|c| c.n_tokens <= n);
        self.list.last()
    }

    /// GPU bytes of all checkpoints.
    pub fn bytes(&self) -> u64 {
        self.list.iter().map(|c| c.snapshot.bytes()).sum()
    }
}
