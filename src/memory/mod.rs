//! Session memory operations: recurrent-state checkpoints, fork, rewind, save/restore and
//! exact byte accounting (spec §3).
//!
//! Recurrent state cannot be cut back to an earlier position, so a session keeps
//! checkpoints — copies of every recurrent layer's conv and SSM state at a token count —
//! taken at the end of each appended batch (a turn boundary) and every `policy.every`
//! tokens. At most `policy.max` are kept; when a new one would exceed that, the oldest is
//! evicted (recent turns are what a chat rewinds to; position 0 needs no checkpoint, its
//! state is all zeros, so a rewind always succeeds, at worst by recomputing from the start).
//! Rewinding to n restores the newest checkpoint at or before n and recomputes the tokens
//! from there to n out of the session's token history. Pure-attention models need no
//! checkpoints: their KV cache is simply cut.
//!
//! Not yet: paged KV blocks shared copy-on-write between forks, and batched decode across
//! sessions (the KV cache is one contiguous region per session for now).

use std::rc::Rc;

use crate::gpu::GpuError;
use crate::model::forward::{f32_buf, GpuModel, RunError, Session};

/// When checkpoints are taken and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Also checkpoint whenever the token count crosses a multiple of this (0: never).
    pub every: u32,
    /// Keep at most this many; the oldest is evicted first.
    pub max: usize,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy { every: 256, max: 8 }
    }
}

/// Recurrent state of every recurrent layer after `n_tokens` tokens. Immutable once taken,
/// so forks share them.
#[derive(Clone)]
pub struct Checkpoint {
    pub n_tokens: u32,
    conv: Vec<Option<Rc<wgpu::Buffer>>>,
    ssm: Vec<Option<Rc<wgpu::Buffer>>>,
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

fn copy(enc: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
    if bytes > 0 {
        enc.copy_buffer_to_buffer(src, 0, dst, 0, bytes);
    }
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

    /// Snapshot the recurrent state now (a no-op for pure-attention models).
    pub fn checkpoint(&self, s: &mut Session) {
        if !self.has_recurrent() || s.checkpoints.last().is_some_and(|c| c.n_tokens == s.pos) {
            return;
        }
        let ctx = self.ctx();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let mut snap = |bufs: &[Option<wgpu::Buffer>]| -> Vec<Option<Rc<wgpu::Buffer>>> {
            bufs.iter()
                .map(|b| {
                    b.as_ref().map(|b| {
                        let c = f32_buf(ctx, "checkpoint", b.size() / 4);
                        copy(&mut enc, b, &c, b.size());
                        Rc::new(c)
                    })
                })
                .collect()
        };
        let cp = Checkpoint { n_tokens: s.pos, conv: snap(&s.conv), ssm: snap(&s.ssm) };
        ctx.queue.submit([enc.finish()]);
        s.checkpoints.push(cp);
        while s.checkpoints.len() > s.policy.max.max(1) {
            s.checkpoints.remove(0);
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

    async fn append_inner(&self, s: &mut Session, tokens: &[u32], all_logits: bool, turn_end: bool) -> Result<Vec<f32>, SessionError> {
        if tokens.is_empty() {
            return Err(RunError::Empty.into());
        }
        let every = s.policy.every;
        let mut out = vec![];
        let mut at = 0;
        while at < tokens.len() {
            let room = if every > 0 && self.has_recurrent() { (every - s.pos % every) as usize } else { usize::MAX };
            let end = (at + room).min(tokens.len());
            let logits = self.forward(s, &tokens[at..end], all_logits).await?;
            if all_logits || end == tokens.len() {
                out.extend(logits);
            }
            if (every > 0 && s.pos % every == 0) || (turn_end && end == tokens.len()) {
                self.checkpoint(s);
            }
            at = end;
        }
        Ok(out)
    }

    /// A new session with the same history: KV rows and recurrent state copied, checkpoints
    /// shared (they are immutable).
    pub fn fork(&self, s: &Session) -> Session {
        let ctx = self.ctx();
        let mut child = self.new_session(s.n_ctx);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for il in 0..s.kv.len() {
            if let (Some((k, v)), Some((ck, cv))) = (&s.kv[il], &child.kv[il]) {
                let bytes = s.pos as u64 * self.kv_dim(il) * 4;
                copy(&mut enc, k, ck, bytes);
                copy(&mut enc, v, cv, bytes);
            }
            for (src, dst) in [(&s.conv[il], &child.conv[il]), (&s.ssm[il], &child.ssm[il])] {
                if let (Some(a), Some(b)) = (src, dst) {
                    copy(&mut enc, a, b, a.size());
                }
            }
        }
        ctx.queue.submit([enc.finish()]);
        child.pos = s.pos;
        child.tokens = s.tokens.clone();
        child.checkpoints = s.checkpoints.clone();
        child.policy = s.policy;
        child
    }

    /// Cut the session back to its first `n` tokens. Returns how many tokens were
    /// recomputed (from the newest checkpoint at or before n).
    pub async fn rewind(&self, s: &mut Session, n: i64) -> Result<u32, SessionError> {
        if n < 0 || n > s.pos as i64 {
            return Err(SessionError::Range { what: "rewind position", value: n, min: 0, max: s.pos as i64 });
        }
        let n = n as u32;
        if n == s.pos {
            return Ok(0);
        }
        if !self.has_recurrent() {
            s.pos = n;
            s.tokens.truncate(n as usize);
            return Ok(0);
        }
        s.checkpoints.retain(|c| c.n_tokens <= n);
        let ctx = self.ctx();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let from = match s.checkpoints.last() {
            Some(cp) => {
                for il in 0..s.conv.len() {
                    for (snap, live) in [(&cp.conv[il], &s.conv[il]), (&cp.ssm[il], &s.ssm[il])] {
                        if let (Some(a), Some(b)) = (snap, live) {
                            copy(&mut enc, a, b, b.size());
                        }
                    }
                }
                cp.n_tokens
            }
            None => {
                for b in s.conv.iter().chain(&s.ssm).flatten() {
                    enc.clear_buffer(b, 0, None);
                }
                0
            }
        };
        ctx.queue.submit([enc.finish()]);
        let replay: Vec<u32> = s.tokens[from as usize..n as usize].to_vec();
        s.pos = from;
        s.tokens.truncate(from as usize);
        if !replay.is_empty() {
            self.append_inner(s, &replay, false, true).await?;
        }
        Ok(replay.len() as u32)
    }

    /// Bytes the session holds on the GPU.
    pub fn memory(&self, s: &Session) -> MemoryReport {
        let mut r = MemoryReport::default();
        for il in 0..s.kv.len() {
            if s.kv[il].is_some() {
                r.kv += 2 * s.n_ctx as u64 * self.kv_dim(il) * 4;
                r.kv_used += 2 * s.pos as u64 * self.kv_dim(il) * 4;
            }
            r.recurrent += s.conv[il].iter().chain(&s.ssm[il]).map(|b| b.size()).sum::<u64>();
        }
        for c in &s.checkpoints {
            r.checkpoints += c.conv.iter().chain(&c.ssm).flatten().map(|b| b.size()).sum::<u64>();
        }
        r
    }

    /// The session as bytes: its tokens, KV rows and recurrent state, tied to this model by
    /// a fingerprint and protected by a checksum (format in `SAVE_MAGIC`/`SAVE_VERSION`).
    pub async fn save(&self, s: &Session) -> Result<Vec<u8>, SessionError> {
        let ctx = self.ctx();
        let mut out = Vec::new();
        out.extend_from_slice(SAVE_MAGIC);
        out.extend_from_slice(&SAVE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.fingerprint().to_le_bytes());
        out.extend_from_slice(&s.n_ctx.to_le_bytes());
        out.extend_from_slice(&s.pos.to_le_bytes());
        for t in &s.tokens {
            out.extend_from_slice(&t.to_le_bytes());
        }
        for il in 0..s.kv.len() {
            if let Some((k, v)) = &s.kv[il] {
                let bytes = s.pos as u64 * self.kv_dim(il) * 4;
                for b in [k, v] {
                    if bytes > 0 {
                        out.extend(ctx.read_bytes(b, 0, bytes).await?);
                    }
                }
            }
            for b in s.conv[il].iter().chain(&s.ssm[il]) {
                out.extend(ctx.read_bytes(b, 0, b.size()).await?);
            }
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
        let max_ctx = 1u32 << 22;
        if pos > n_ctx || n_ctx > max_ctx {
            return Err(bad("impossible token count or context"));
        }
        // Check the exact size before allocating anything.
        let mut need = 28u64 + 4 * pos as u64;
        for il in 0..self.hp.layers.len() {
            let l = self.hp.layers[il];
            if l.attention {
                need += 2 * pos as u64 * self.kv_dim(il) * 4;
            }
            if let (true, Some(p)) = (l.recurrent, self.hp.ssm) {
                need += (p.conv_state_len() as u64 * 4).next_multiple_of(16) + (p.ssm_state_len() as u64 * 4).next_multiple_of(16);
            }
        }
        if body.len() as u64 != need {
            return Err(bad(&format!("{} bytes where {need} were expected", body.len())));
        }
        let tokens: Vec<u32> = (0..pos as usize).map(|i| u32_at(28 + 4 * i)).collect();
        if let Some(&t) = tokens.iter().find(|&&t| t >= self.hp.n_vocab) {
            return Err(bad(&format!("token id {t} is outside the vocabulary")));
        }
        let ctx = self.ctx();
        let mut s = self.new_session(n_ctx);
        let mut at = 28 + 4 * pos as usize;
        for il in 0..s.kv.len() {
            if let Some((k, v)) = &s.kv[il] {
                let bytes = (pos as u64 * self.kv_dim(il) * 4) as usize;
                for b in [k, v] {
                    if bytes > 0 {
                        ctx.queue.write_buffer(b, 0, &body[at..at + bytes]);
                    }
                    at += bytes;
                }
            }
            for b in s.conv[il].iter().chain(&s.ssm[il]) {
                let n = b.size() as usize;
                ctx.queue.write_buffer(b, 0, &body[at..at + n]);
                at += n;
            }
        }
        s.pos = pos;
        s.tokens = tokens;
        self.checkpoint(&mut s);
        Ok(s)
    }
}
