//! Session memory operations: recurrent-state checkpoints, fork, rewind, save/restore and
//! exact byte accounting (spec §3).
//!
//! Recurrent state cannot be cut back to an earlier position, so a session keeps
//! checkpoints — copies of every recurrent layer's conv and SSM state at a token count —
//! taken at the end of each appended batch (a turn boundary) and every `policy.every`
//! tokens. At most `policy.max` are kept; when a new one would exceed that, the oldest
//! periodic checkpoint is evicted first and turn ends are kept longer (a chat rewinds to turn
//! boundaries: Regenerate to the end of the prompt, Edit to the turn before; a long reply
//! must not push them out), then the oldest turn end. Position 0 needs no checkpoint, its
//! state is all zeros, so a rewind always succeeds, at worst by recomputing from the start.
//! Rewinding to n restores the newest checkpoint at or before n and recomputes the tokens
//! from there to n out of the session's token history. Pure-attention models need no
//! checkpoints: their KV cache is simply cut.
//!
//! KV memory is paged ([`pool`]): sessions hold blocks of a shared pool, forks share them
//! copy-on-write, and several sessions decode in one forward step ([`GpuModel::step_many`]).

pub mod pool;

use std::rc::Rc;

use crate::gpu::GpuError;
use crate::model::forward::{f32_buf, GpuModel, RunError, Session};
use pool::KV_BLOCK;

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

/// Recurrent state of every recurrent layer after `n_tokens` tokens (one buffer per conv or
/// SSM state, in `Pools::slot_regions` order). Immutable once taken, so forks share them.
#[derive(Clone)]
pub struct Checkpoint {
    pub n_tokens: u32,
    /// Taken at the end of an appended batch (a turn boundary), not only periodically.
    pub turn: bool,
    bufs: Vec<Rc<wgpu::Buffer>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    #[error("{what} {value} is out of range {min}..={max}")]
    Range { what: &'static str, value: i64, min: i64, max: i64 },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("not a Braid session blob: {0}")]
    BadBlob(String),
    #[error("the session blob is version {0}; this build reads version {SAVE_VERSION}")]
    Version(u32),
    #[error("the session blob was saved from another model (fingerprint {found:016x}, this model {want:016x})")]
    WrongModel { found: u64, want: u64 },
    #[error("the session blob is corrupt (checksum mismatch)")]
    Checksum,
}

/// Bytes a session holds on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MemoryReport {
    /// KV cache reserved for attention layers (the session's context capacity).
    pub kv: u64,
    /// KV cache in use (tokens held).
    pub kv_used: u64,
    pub recurrent: u64,
    pub checkpoints: u64,
}

pub const SAVE_MAGIC: &[u8; 8] = b"BRAIDSES";
pub const SAVE_VERSION: u32 = 1;

pub fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

impl GpuModel {
    fn has_recurrent(&self) -> bool {
        self.hp.layers.iter().any(|l| l.recurrent)
    }

    fn kv_dim(&self, il: usize) -> u64 {
        (self.hp.n_head_kv[il] * self.hp.head_dim) as u64
    }

    /// A hash of what a saved session depends on: architecture, shapes, tensor table.
    pub fn fingerprint(&self) -> u64 {
        let mut s = format!("{:?}|", self.hp);
        for t in &self.weights.index.tensors {
            s += &format!("{}:{}:{:?};", t.name, t.ty, t.dims);
        }
        fnv1a64(s.as_bytes())
    }

    /// Snapshot the recurrent state now, as a turn boundary (a no-op for pure-attention
    /// models).
    pub fn checkpoint(&self, s: &mut Session) {
        self.checkpoint_as(s, true)
    }

    fn checkpoint_as(&self, s: &mut Session, turn: bool) {
        let Some(slot) = s.slot else { return };
        if let Some(c) = s.checkpoints.last_mut().filter(|c| c.n_tokens == s.pos) {
            c.turn |= turn;
            return;
        }
        let ctx = self.ctx();
        let pools = self.pools.borrow();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let bufs = pools
            .slot_regions(slot)
            .into_iter()
            .map(|(b, off, bytes)| {
                let c = f32_buf(ctx, "checkpoint", bytes / 4);
                enc.copy_buffer_to_buffer(b, off, &c, 0, bytes);
                Rc::new(c)
            })
            .collect();
        ctx.queue.submit([enc.finish()]);
        s.checkpoints.push(Checkpoint { n_tokens: s.pos, turn, bufs });
        while s.checkpoints.len() > s.policy.max.max(1) {
            // Never the one just taken; periodic ones before turn ends, oldest first.
            let older = &s.checkpoints[..s.checkpoints.len() - 1];
            let victim = older.iter().position(|c| !c.turn).unwrap_or(0);
            s.checkpoints.remove(victim);
        }
    }

    /// Append a batch (a turn): evaluated in pieces that end on multiples of
    /// `policy.every`, with a checkpoint after each piece. Returns the logits of every token
    /// (`all_logits`) or of the last.
    pub async fn append(&self, s: &mut Session, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, SessionError> {
        self.append_inner(s, tokens, all_logits, true).await
    }

    /// One decoded token: checkpoints only where the count crosses a multiple of `every`.
    pub async fn step(&self, s: &mut Session, token: u32) -> Result<Vec<f32>, SessionError> {
        self.append_inner(s, &[token], false, false).await
    }

    /// One decoded token; returns the argmax of its logits computed on the GPU (greedy
    /// decoding without reading the vocabulary back). Checkpoints as [`GpuModel::step`].
    pub async fn step_greedy(&self, s: &mut Session, token: u32) -> Result<u32, SessionError> {
        let next = self.step_argmax(s, token).await?;
        if s.policy.every > 0 && s.pos % s.policy.every == 0 {
            self.checkpoint_as(s, false);
        }
        Ok(next)
    }

    /// One decoded token for each of several sessions, in one forward step (one dispatch
    /// per kernel for all of them). Returns each session's logits.
    pub async fn step_many(&self, sessions: &mut [&mut Session], tokens: &[u32]) -> Result<Vec<Vec<f32>>, SessionError> {
        if sessions.len() != tokens.len() {
            return Err(SessionError::Range { what: "tokens for sessions", value: tokens.len() as i64, min: sessions.len() as i64, max: sessions.len() as i64 });
        }
        let toks: Vec<[u32; 1]> = tokens.iter().map(|&t| [t]).collect();
        let mut items: Vec<(&mut Session, &[u32])> = sessions.iter_mut().map(|s| &mut **s).zip(toks.iter().map(|t| &t[..])).collect();
        let out = self.forward_multi(&mut items, false).await?;
        for (s, _) in items.iter_mut() {
            if s.policy.every > 0 && s.pos % s.policy.every == 0 {
                self.checkpoint_as(s, false);
            }
        }
        Ok(out)
    }

    async fn append_inner(&self, s: &mut Session, tokens: &[u32], all_logits: bool, turn_end: bool) -> Result<Vec<f32>, SessionError> {
        if tokens.is_empty() {
            return Err(RunError::Empty.into());
        }
        let every = s.policy.every;
        let mut out = vec![];
        let mut at = 0;
        while at < tokens.len() {
            let room = if every > 0 && s.slot.is_some() { (every - s.pos % every) as usize } else { usize::MAX };
            let room = room.min(crate::model::forward::MAX_BATCH);
            let end = (at + room).min(tokens.len());
            let logits = self.forward(s, &tokens[at..end], all_logits).await?;
            if all_logits || end == tokens.len() {
                out.extend(logits);
            }
            let turn = turn_end && end == tokens.len();
            if turn || (every > 0 && s.pos % every == 0) {
                self.checkpoint_as(s, turn);
            }
            at = end;
        }
        Ok(out)
    }

    /// A new session with the same history: the KV blocks are shared copy-on-write (a block
    /// is copied only when one side writes into it), the small recurrent state is copied,
    /// checkpoints are shared (immutable).
    pub fn fork(&self, s: &Session) -> Session {
        let ctx = self.ctx();
        let mut child = self.new_session(s.n_ctx);
        {
            let mut pools = self.pools.borrow_mut();
            for &b in &s.blocks {
                pools.retain_block(b);
            }
            child.blocks = s.blocks.clone();
            if let (Some(a), Some(b)) = (s.slot, child.slot) {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                for ((buf, from, bytes), (_, to, _)) in pools.slot_regions(a).into_iter().zip(pools.slot_regions(b)) {
                    // one buffer holds both slots: copy through a temporary
                    let tmp = f32_buf(ctx, "fork state", bytes / 4);
                    enc.copy_buffer_to_buffer(buf, from, &tmp, 0, bytes);
                    enc.copy_buffer_to_buffer(&tmp, 0, buf, to, bytes);
                }
                ctx.queue.submit([enc.finish()]);
            }
        }
        child.pos = s.pos;
        child.tokens = s.tokens.clone();
        child.checkpoints = s.checkpoints.clone();
        child.policy = s.policy;
        child
    }

    /// Cut the session back to its first `n` tokens: attention layers drop their blocks past
    /// n; recurrent layers restore the newest checkpoint at or before n and the tokens from
    /// there to n are recomputed from the token history. Returns how many were recomputed.
    pub async fn rewind(&self, s: &mut Session, n: i64) -> Result<u32, SessionError> {
        if n < 0 || n > s.pos as i64 {
            return Err(SessionError::Range { what: "rewind position", value: n, min: 0, max: s.pos as i64 });
        }
        let n = n as u32;
        if n == s.pos {
            return Ok(0);
        }
        let from = match s.slot {
            None => n,
            Some(slot) => {
                s.checkpoints.retain(|c| c.n_tokens <= n);
                let ctx = self.ctx();
                let pools = self.pools.borrow();
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                let from = match s.checkpoints.last() {
                    Some(cp) => {
                        for (src, (dst, off, bytes)) in cp.bufs.iter().zip(pools.slot_regions(slot)) {
                            enc.copy_buffer_to_buffer(src, 0, dst, off, bytes);
                        }
                        cp.n_tokens
                    }
                    None => {
                        pools.clear_slot(&mut enc, slot);
                        0
                    }
                };
                ctx.queue.submit([enc.finish()]);
                from
            }
        };
        let replay: Vec<u32> = s.tokens[from as usize..n as usize].to_vec();
        self.truncate(s, from);
        if !replay.is_empty() {
            self.append_inner(s, &replay, false, true).await?;
        }
        Ok(replay.len() as u32)
    }

    /// Forget tokens past `n` (KV blocks past it go back to the pool).
    fn truncate(&self, s: &mut Session, n: u32) {
        let keep = n.div_ceil(KV_BLOCK) as usize;
        let mut pools = self.pools.borrow_mut();
        for b in s.blocks.drain(keep.min(s.blocks.len())..) {
            pools.release_block(b);
        }
        s.pos = n;
        s.tokens.truncate(n as usize);
    }

    /// Bytes the session holds on the GPU. `kv` counts its blocks (shared ones too).
    pub fn memory(&self, s: &Session) -> MemoryReport {
        let pools = self.pools.borrow();
        let per_token: u64 = (0..self.hp.layers.len()).filter(|&il| pools.kv[il].is_some()).map(|il| 2 * self.kv_dim(il) * 4).sum();
        MemoryReport {
            kv: s.blocks.len() as u64 * pools.block_bytes(),
            kv_used: s.pos as u64 * per_token,
            recurrent: if s.slot.is_some() { pools.slot_bytes() } else { 0 },
            checkpoints: s.checkpoints.iter().flat_map(|c| c.bufs.iter()).map(|b| b.size()).sum(),
        }
    }

    /// The session as bytes: its tokens, KV rows and recurrent state, tied to this model by
    /// a fingerprint and protected by a checksum (format in `SAVE_MAGIC`/`SAVE_VERSION`).
    pub async fn save(&self, s: &Session) -> Result<Vec<u8>, SessionError> {
        let ctx = self.ctx().clone();
        let mut out = Vec::new();
        out.extend_from_slice(SAVE_MAGIC);
        out.extend_from_slice(&SAVE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.fingerprint().to_le_bytes());
        out.extend_from_slice(&s.n_ctx.to_le_bytes());
        out.extend_from_slice(&s.pos.to_le_bytes());
        for t in &s.tokens {
            out.extend_from_slice(&t.to_le_bytes());
        }
        // Gather every layer's rows into one staging buffer, then read it once.
        let (staging, regions) = {
            let pools = self.pools.borrow();
            let mut total = 0u64;
            let mut plan = vec![];
            for il in 0..self.hp.layers.len() {
                if let Some((k, v)) = &pools.kv[il] {
                    let row = self.kv_dim(il) * 4;
                    for b in [k, v] {
                        for (i, &blk) in s.blocks.iter().enumerate() {
                            let rows = (s.pos as u64).saturating_sub(i as u64 * KV_BLOCK as u64).min(KV_BLOCK as u64);
                            if rows > 0 {
                                plan.push((b.clone(), blk as u64 * KV_BLOCK as u64 * row, rows * row, total));
                                total += rows * row;
                            }
                        }
                    }
                }
            }
            if let Some(slot) = s.slot {
                for (b, off, bytes) in pools.slot_regions(slot) {
                    plan.push((b.clone(), off, bytes, total));
                    total += bytes;
                }
            }
            let staging = f32_buf(&ctx, "save staging", total / 4);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            for (b, off, bytes, at) in &plan {
                enc.copy_buffer_to_buffer(b, *off, &staging, *at, *bytes);
            }
            ctx.queue.submit([enc.finish()]);
            (staging, total)
        };
        if regions > 0 {
            out.extend(ctx.read_bytes(&staging, 0, regions).await?);
        }
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// A new session from [`GpuModel::save`]'s bytes. A blob from another model, of another
    /// version, truncated or tampered with gives a typed error and creates nothing.
    pub fn restore(&self, blob: &[u8]) -> Result<Session, SessionError> {
        let bad = |m: &str| SessionError::BadBlob(m.to_string());
        if blob.len() < 8 + 4 + 8 + 4 + 4 + 8 || &blob[..8] != SAVE_MAGIC {
            return Err(bad("missing header"));
        }
        let u32_at = |o: usize| u32::from_le_bytes([blob[o], blob[o + 1], blob[o + 2], blob[o + 3]]);
        let version = u32_at(8);
        if version != SAVE_VERSION {
            return Err(SessionError::Version(version));
        }
        let (body, tail) = blob.split_at(blob.len() - 8);
        let sum = u64::from_le_bytes(tail.try_into().map_err(|_| bad("no checksum"))?);
        if fnv1a64(body) != sum {
            return Err(SessionError::Checksum);
        }
        let found = u64::from_le_bytes(body[12..20].try_into().map_err(|_| bad("no fingerprint"))?);
        let want = self.fingerprint();
        if found != want {
            return Err(SessionError::WrongModel { found, want });
        }
        let (n_ctx, pos) = (u32_at(20), u32_at(24));
        if pos > n_ctx || n_ctx > 1 << 22 {
            return Err(bad("impossible token count or context"));
        }
        // Check the exact size before allocating anything.
        let (has_slot, slot_bytes) = {
            let p = self.pools.borrow();
            (self.has_recurrent(), p.slot_bytes())
        };
        let per_token: u64 = (0..self.hp.layers.len()).filter(|&il| self.hp.layers[il].attention).map(|il| 2 * self.kv_dim(il) * 4).sum();
        let need = 28 + 4 * pos as u64 + pos as u64 * per_token + if has_slot { slot_bytes } else { 0 };
        if body.len() as u64 != need {
            return Err(bad(&format!("{} bytes where {need} were expected", body.len())));
        }
        let tokens: Vec<u32> = (0..pos as usize).map(|i| u32_at(28 + 4 * i)).collect();
        if let Some(&t) = tokens.iter().find(|&&t| t >= self.hp.n_vocab) {
            return Err(bad(&format!("token id {t} is outside the vocabulary")));
        }
        let ctx = self.ctx();
        let mut s = self.new_session(n_ctx);
        self.reserve(&mut s, pos);
        let pools = self.pools.borrow();
        let mut at = 28 + 4 * pos as usize;
        for il in 0..self.hp.layers.len() {
            if let Some((k, v)) = &pools.kv[il] {
                let row = self.kv_dim(il) * 4;
                for b in [k, v] {
                    for (i, &blk) in s.blocks.iter().enumerate() {
                        let rows = (pos as u64).saturating_sub(i as u64 * KV_BLOCK as u64).min(KV_BLOCK as u64);
                        if rows > 0 {
                            let n = (rows * row) as usize;
                            ctx.queue.write_buffer(b, blk as u64 * KV_BLOCK as u64 * row, &body[at..at + n]);
                            at += n;
                        }
                    }
                }
            }
        }
        if let Some(slot) = s.slot {
            for (b, off, bytes) in pools.slot_regions(slot) {
                ctx.queue.write_buffer(b, off, &body[at..at + bytes as usize]);
                at += bytes as usize;
            }
        }
        drop(pools);
        s.pos = pos;
        s.tokens = tokens;
        self.checkpoint(&mut s);
        Ok(s)
    }
}
