//! A prefix cache shared by a model's sequences: the memory of a sequence at some of its
//! checkpoint positions (turn ends, every K tokens), kept under the token ids that led there —
//! its KV blocks (shared copy-on-write, exactly as forks share them) and its recurrent-state
//! snapshot (shared with the checkpoint it came from). A new or rewound sequence whose tokens
//! begin with a cached prefix starts from the longest one and computes only the rest.
//!
//! Lookup: the cached prefixes are indexed by (length, hash of the token ids); for a query the
//! prefix hashes are computed once (O(n)), each cached length is probed once and a hit is
//! confirmed by comparing the ids. Bounded by a byte budget with least-recently-used
//! eviction (at most [`MAX_ENTRIES`] entries); an entry is pinned (never evicted) while a
//! sequence that started from it still holds those positions. Nothing here knows models: keys
//! are opaque u32 ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use super::checkpoint::Snapshot;
use super::pool::Pools;

/// FNV-1a over u32 ids: `hashes[i]` is the hash of `ids[..i]`.
pub fn prefix_hashes(ids: &[u32]) -> Vec<u64> {
    let mut h = 0xcbf29ce484222325u64;
    let mut out = Vec::with_capacity(ids.len() + 1);
    out.push(h);
    for &t in ids {
        h = (h ^ t as u64).wrapping_mul(0x100000001b3);
        out.push(h);
    }
    out
}

/// Entries kept at most, whatever their bytes (each holds its token ids on the host).
pub const MAX_ENTRIES: usize = 256;

/// A held position: keeps its entry from eviction while alive.
pub type Pin = Rc<()>;

pub struct PrefixEntry {
    pub tokens: Vec<u32>,
    /// KV blocks of positions 0..len (retained: one reference each).
    pub blocks: Vec<u32>,
    pub snapshot: Option<Snapshot>,
    pub(crate) pin: Pin,
    last_used: u64,
}

/// What the cache holds, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefixCacheReport {
    pub enabled: bool,
    pub entries: u64,
    /// GPU bytes the cache keeps alive: its distinct KV blocks and its snapshots.
    pub bytes: u64,
    pub budget: u64,
    /// Lookups that found a prefix, and the tokens they did not have to compute.
    pub hits: u64,
    pub reused_tokens: u64,
}

pub struct PrefixCache {
    pub enabled: bool,
    /// Bytes the cache may keep alive (see [`PrefixCacheReport::bytes`]).
    pub budget: u64,
    entries: HashMap<u64, PrefixEntry>,
    index: HashMap<(u32, u64), u64>,
    /// Cached lengths → how many entries have that length.
    lengths: BTreeMap<u32, u32>,
    next_id: u64,
    clock: u64,
    hits: u64,
    reused_tokens: u64,
}

impl PrefixCache {
    pub fn new(budget: u64) -> PrefixCache {
        PrefixCache {
            enabled: true,
            budget,
            entries: HashMap::new(),
            index: HashMap::new(),
            lengths: BTreeMap::new(),
            next_id: 0,
            clock: 0,
            hits: 0,
            reused_tokens: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The entry holding exactly `tokens`, if any (touched).
    fn find_exact(&mut self, tokens: &[u32], hash: u64) -> Option<u64> {
        let id = *self.index.get(&(tokens.len() as u32, hash))?;
        let now = self.tick();
        let e = self.entries.get_mut(&id)?;
        if e.tokens != tokens {
            return None;
        }
        e.last_used = now;
        Some(id)
    }

    /// Remember `tokens` → (`blocks`, `snapshot`). The blocks are retained here; an existing
    /// entry for the same ids is reused. Returns the entry's pin. Evicts to the budget
    /// afterwards.
    pub fn insert(&mut self, pools: &mut Pools, tokens: &[u32], blocks: &[u32], snapshot: Option<Snapshot>) -> Option<Pin> {
        if !self.enabled || tokens.is_empty() {
            return None;
        }
        let hash = *prefix_hashes(tokens).last()?;
        if let Some(id) = self.find_exact(tokens, hash) {
            return self.entries.get(&id).map(|e| e.pin.clone());
        }
        for &b in blocks {
            pools.retain_block(b);
        }
        let id = self.next_id;
        self.next_id += 1;
        let pin: Pin = Rc::new(());
        let last_used = self.tick();
        self.entries.insert(id, PrefixEntry { tokens: tokens.to_vec(), blocks: blocks.to_vec(), snapshot, pin: pin.clone(), last_used });
        self.index.insert((tokens.len() as u32, hash), id);
        *self.lengths.entry(tokens.len() as u32).or_default() += 1;
        self.evict(pools);
        Some(pin)
    }

    /// Whether some cached prefix is longer than `min` and shorter than `max` (O(log n): no
    /// lookup work on appends that cannot hit).
    pub fn has_length_in(&self, min: u32, max: u32) -> bool {
        self.enabled && min + 1 < max && self.lengths.range(min + 1..max).next().is_some()
    }

    /// The longest cached prefix of `ids` longer than `min` and shorter than `max` (touched,
    /// counted as a hit).
    pub fn lookup(&mut self, ids: &[u32], min: u32, max: u32) -> Option<&PrefixEntry> {
        let max = max.min(ids.len() as u32 + 1);
        if !self.has_length_in(min, max) {
            return None;
        }
        let lens: Vec<u32> = self.lengths.range(min + 1..max).rev().map(|(&l, _)| l).collect();
        let hashes = prefix_hashes(ids);
        for l in lens {
            if let Some(id) = self.find_exact(&ids[..l as usize], hashes[l as usize]) {
                self.hits += 1;
                self.reused_tokens += (l - min) as u64;
                return self.entries.get(&id);
            }
        }
        None
    }

    /// Bytes kept alive: distinct blocks × block bytes + snapshots.
    pub fn bytes(&self, pools: &Pools) -> u64 {
        let blocks: HashSet<u32> = self.entries.values().flat_map(|e| e.blocks.iter().copied()).collect();
        blocks.len() as u64 * pools.block_bytes() + self.entries.values().filter_map(|e| e.snapshot.as_ref()).map(|s| s.bytes()).sum::<u64>()
    }

    /// Drop least-recently-used unpinned entries until the cache fits its budget (and
    /// [`MAX_ENTRIES`]).
    pub fn evict(&mut self, pools: &mut Pools) {
        while self.entries.len() > MAX_ENTRIES || self.bytes(pools) > self.budget {
            let victim = self.entries.iter().filter(|(_, e)| Rc::strong_count(&e.pin) == 1).min_by_key(|(_, e)| e.last_used).map(|(&id, _)| id);
            let Some(id) = victim else { break };
            self.remove(pools, id);
        }
    }

    fn remove(&mut self, pools: &mut Pools, id: u64) {
        let Some(e) = self.entries.remove(&id) else { return };
        let hash = *prefix_hashes(&e.tokens).last().unwrap_or(&0);
        self.index.remove(&(e.tokens.len() as u32, hash));
        if let Some(c) = self.lengths.get_mut(&(e.tokens.len() as u32)) {
            *c -= 1;
            if *c == 0 {
                self.lengths.remove(&(e.tokens.len() as u32));
            }
        }
        for b in e.blocks {
            pools.release_block(b);
        }
    }

    /// Forget everything (blocks go back to the pools).
    pub fn clear(&mut self, pools: &mut Pools) {
        let ids: Vec<u64> = self.entries.keys().copied().collect();
        for id in ids {
            self.remove(pools, id);
        }
    }

    pub fn report(&self, pools: &Pools) -> PrefixCacheReport {
        PrefixCacheReport {
            enabled: self.enabled,
            entries: self.entries.len() as u64,
            bytes: self.bytes(pools),
            budget: self.budget,
            hits: self.hits,
            reused_tokens: self.reused_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_hashes;

    #[test]
    fn prefix_hashes_are_per_prefix() {
        let h = prefix_hashes(&[1, 2, 3]);
        assert_eq!(h.len(), 4);
        assert_eq!(h[2], prefix_hashes(&[1, 2])[2]);
        assert_ne!(h[2], prefix_hashes(&[2, 1])[2]);
    }
}
