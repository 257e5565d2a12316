//! Sessions: a sequence's memory plus its token history, and their operations — append,
//! decode steps (one session or many in one batch), fork, rewind through checkpoints,
//! save/restore, byte accounting. A session is nothing but [`SequenceMemory`] (KV blocks,
//! state slot), the tokens it absorbed, and its checkpoints; many sessions share one model's
//! weights and pools. The operations walk the memory layout, so they work for every layer
//! kind without per-architecture code.
//!
//! Rewinding to n restores the newest checkpoint at or before n and recomputes the tokens from
//! there to n out of the token history; position 0 needs no checkpoint (all-zero state), so a
//! rewind always succeeds, at worst by recomputing from the start. Models without recurrent
//! state need no checkpoints: their KV rows are simply cut.

pub mod bench;
mod perplexity;
mod save;

pub use perplexity::Perplexity;

pub use save::{SAVE_MAGIC, SAVE_VERSION};

use crate::gpu::GpuError;
use crate::memory::prefix::Pin;
use crate::memory::{Checkpoint, CheckpointPolicy, Checkpoints, PrefixCacheReport, SequenceMemory, KV_BLOCK};
use crate::model::forward::{argmax, GpuModel, RunError, SeqStep, StepOut, Want};

/// One sequence: its memory, the tokens it holds and its checkpoints. Dropping it returns
/// its KV blocks and state slot to the model's pools.
pub struct Session {
    /// Tokens held (the next token's position).
    pub pos: u32,
    /// The most tokens this session may hold (nothing is reserved for it up front).
    pub n_ctx: u32,
    pub tokens: Vec<u32>,
    pub(crate) mem: SequenceMemory,
    pub(crate) checkpoints: Checkpoints,
    pub policy: CheckpointPolicy,
    /// Prefix-cache entries this session started from (they stay cached while it holds them).
    pins: Vec<(u32, Pin)>,
    /// What the last `append` (or the replay of a rewind) took from the prefix cache and what
    /// it computed.
    pub last_append: AppendStats,
}

/// Tokens of one append taken from the prefix cache and tokens computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct AppendStats {
    pub reused: u32,
    pub computed: u32,
}

impl Session {
    /// The KV pool blocks this session reads, in position order (shared with forks until
    /// one side writes).
    pub fn blocks(&self) -> &[u32] {
        self.mem.blocks()
    }

    /// Its checkpoints, oldest first.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        self.checkpoints.list()
    }
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
    #[error("{first}; bringing the session back to where it was failed too ({rollback}): dispose of it")]
    RollbackFailed { first: Box<SessionError>, rollback: Box<SessionError> },
}

impl SessionError {
    /// The stable error code the JS API and `braid run` report: BAD_ARGUMENT (out of range,
    /// bad token, context full), the GPU's own code (DEVICE_LOST, DEVICE_LIMITS, …),
    /// NON_FINITE, STATE_MISMATCH (a blob of another model, version or a corrupt one); a failed
    /// rollback reports the first error's code.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Range { .. } | SessionError::Run(RunError::BadToken { .. } | RunError::Empty | RunError::ContextFull { .. } | RunError::BatchTooLarge { .. }) => "BAD_ARGUMENT",
            SessionError::Run(RunError::Gpu(g)) | SessionError::Gpu(g) => g.code(),
            SessionError::Run(RunError::NonFinite) => "NON_FINITE",
            SessionError::BadBlob(_) | SessionError::Version(_) | SessionError::WrongModel { .. } | SessionError::Checksum => "STATE_MISMATCH",
            SessionError::RollbackFailed { first, .. } => first.code(),
        }
    }
}

/// Bytes a session holds on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MemoryReport {
    /// KV blocks held by attention layers (whole blocks, shared ones too).
    pub kv: u64,
    /// KV rows in use (tokens held).
    pub kv_used: u64,
    /// Recurrent state of every recurrent layer (the same at any length).
    pub recurrent: u64,
    /// Sliding-window layers' rings (at most the window plus one step of rows per layer).
    pub window: u64,
    /// Checkpoints: their state copies and the ring blocks only they still hold.
    pub checkpoints: u64,
}

impl GpuModel {
    /// A new, empty session that may hold up to `n_ctx` tokens.
    pub fn new_session(&self, n_ctx: u32) -> Session {
        Session {
            pos: 0,
            n_ctx,
            tokens: vec![],
            mem: self.new_memory(),
            checkpoints: Checkpoints::default(),
            policy: Default::default(),
            pins: vec![],
            last_append: AppendStats::default(),
        }
    }

    /// Evaluate `tokens` after what the session holds, in steps of at most [`GpuModel::max_step`] tokens.
    /// Returns the logits of every token (`all_logits`) or of the last one, row-major
    /// [n, n_vocab]. Bad input is refused before anything runs.
    pub async fn forward(&self, s: &mut Session, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, RunError> {
        self.validate(s.pos, s.n_ctx, tokens)?;
        let mut out = vec![];
        for piece in tokens.chunks(self.batch_rows(all_logits)) {
            let mut l = self.forward_multi(&mut [(&mut *s, piece)], all_logits).await?;
            let l = l.pop().unwrap_or_default();
            if all_logits {
                out.extend(l);
            } else {
                out = l;
            }
        }
        Ok(out)
    }

    /// Tokens per forward step: [`GpuModel::max_step`], or fewer when every token's logits are wanted
    /// and [rows, n_vocab] of them would exceed one storage binding (a 248k vocabulary fills
    /// 128 MiB at 135 rows).
    fn batch_rows(&self, all_logits: bool) -> usize {
        if !all_logits {
            return self.max_step();
        }
        let row = 4 * self.hp.n_vocab.max(1) as u64;
        ((self.ctx().max_binding() / row) as usize).clamp(1, self.max_step())
    }

    /// Advance several sessions in one forward step: their tokens form one batch, every
    /// kernel is dispatched once for all of them (weights are read once). Returns, per
    /// session, the logits of each of its tokens (`all_logits`) or of its last.
    pub async fn forward_multi(&self, items: &mut [(&mut Session, &[u32])], all_logits: bool) -> Result<Vec<Vec<f32>>, RunError> {
        let want = if all_logits { Want::All } else { Want::Last };
        match self.step_sessions(items, want).await? {
            StepOut::Logits(l) => Ok(l),
            StepOut::Argmax(_) => Err(RunError::Empty),
        }
    }

    async fn step_sessions(&self, items: &mut [(&mut Session, &[u32])], want: Want) -> Result<StepOut, RunError> {
        if items.is_empty() {
            return Err(RunError::Empty);
        }
        let total: usize = items.iter().map(|(_, t)| t.len()).sum();
        // Several sessions, or every token's logits: one output row per token.
        let max = self.batch_rows(want == Want::All || items.len() > 1);
        if total > max {
            return Err(RunError::BatchTooLarge { n: total, max });
        }
        for (s, tokens) in items.iter() {
            self.validate(s.pos, s.n_ctx, tokens)?;
        }
        let mut steps: Vec<SeqStep> = items.iter_mut().map(|(s, t)| SeqStep { pos: s.pos, mem: &mut s.mem, tokens: t }).collect();
        let out = self.eval(&mut steps, want).await?;
        for (s, tokens) in items.iter_mut() {
            s.pos += tokens.len() as u32;
            s.tokens.extend_from_slice(tokens);
        }
        Ok(out)
    }

    /// Evaluate one token and return the argmax of its logits, computed on the GPU (4 bytes
    /// read back instead of the vocabulary).
    pub async fn step_argmax(&self, s: &mut Session, token: u32) -> Result<u32, RunError> {
        match self.step_sessions(&mut [(s, &[token][..])], Want::Argmax).await? {
            StepOut::Argmax(ids) => ids.first().copied().ok_or(RunError::Empty),
            StepOut::Logits(_) => Err(RunError::Empty),
        }
    }

    /// Greedy generation: evaluate `prompt`, then take the argmax `n` times.
    pub async fn generate_greedy(&self, s: &mut Session, prompt: &[u32], n: usize) -> Result<Vec<u32>, RunError> {
        let mut out = vec![];
        if n == 0 {
            return Ok(out);
        }
        let logits = self.forward(s, prompt, false).await?;
        let mut next = argmax(&logits);
        for i in 0..n {
            out.push(next);
            if i + 1 < n {
                // argmax on the GPU: 4 bytes read back per token
                next = self.step_argmax(s, next).await?;
            }
        }
        Ok(out)
    }

    /// Snapshot the recurrent state now, as a turn boundary (a no-op without recurrent state).
    pub fn checkpoint(&self, s: &mut Session) {
        self.checkpoint_as(s, true)
    }

    fn checkpoint_as(&self, s: &mut Session, turn: bool) {
        let snapshot = if s.mem.needs_snapshot() {
            if !s.checkpoints.mark_if_at(s.pos, turn) {
                if let Some(snapshot) = s.mem.snapshot() {
                    s.checkpoints.push(Checkpoint { n_tokens: s.pos, turn, snapshot }, &s.policy);
                }
            }
            match s.checkpoints.list().last() {
                Some(c) if c.n_tokens == s.pos => Some(c.snapshot.clone()),
                _ => return,
            }
        } else {
            None
        };
        self.remember_prefix(s, snapshot);
    }

    /// Put the session's memory at its current position into the prefix cache (its KV blocks
    /// shared, the checkpoint's snapshot shared). The session does not pin what it put there:
    /// its own blocks live on with it anyway, and pinning every checkpoint of a long
    /// generation would keep all their snapshots past the budget.
    fn remember_prefix(&self, s: &mut Session, snapshot: Option<crate::memory::Snapshot>) {
        if s.pos == 0 || !self.prefix.borrow().enabled {
            return;
        }
        let nb = (s.pos.div_ceil(KV_BLOCK) as usize).min(s.mem.blocks().len());
        let blocks = s.mem.blocks()[..nb].to_vec();
        self.prefix.borrow_mut().insert(&mut s.mem.pools().borrow_mut(), &s.tokens, &blocks, snapshot);
    }

    /// Start from the longest cached prefix of the session's tokens followed by `tokens`
    /// (leaving at least one token to compute when its logits are wanted). Returns the
    /// tokens reused.
    fn adopt_prefix(&self, s: &mut Session, tokens: &[u32], need_logits: bool) -> u32 {
        let max = (s.tokens.len() + tokens.len()) as u32 + !need_logits as u32;
        if !self.prefix.borrow().has_length_in(s.pos, max) {
            return 0;
        }
        let full: Vec<u32> = s.tokens.iter().chain(tokens).copied().collect();
        let (n, blocks, snapshot, pin) = {
            let mut cache = self.prefix.borrow_mut();
            let Some(e) = cache.lookup(&full, s.pos, max) else { return 0 };
            (e.tokens.len() as u32, e.blocks.clone(), e.snapshot.clone(), e.pin.clone())
        };
        if s.mem.needs_snapshot() && snapshot.is_none() {
            return 0;
        }
        {
            let pools = s.mem.pools().clone();
            let mut pools = pools.borrow_mut();
            for &b in &blocks {
                pools.retain_block(b);
            }
            for b in s.mem.blocks.drain(..) {
                pools.release_block(b);
            }
        }
        s.mem.blocks = blocks;
        if s.mem.needs_snapshot() {
            s.mem.restore_state(snapshot.as_ref());
        }
        let reused = n - s.pos;
        s.pos = n;
        s.tokens = full[..n as usize].to_vec();
        if let Some(snapshot) = snapshot {
            s.checkpoints.push(Checkpoint { n_tokens: n, turn: true, snapshot }, &s.policy);
        }
        s.pins.push((n, pin));
        reused
    }

    /// What the prefix cache holds.
    pub fn prefix_cache(&self) -> PrefixCacheReport {
        self.prefix.borrow().report(&self.pools().borrow())
    }

    /// Turn the prefix cache on or off (off empties it) and set its byte budget (evicting to
    /// it).
    pub fn set_prefix_cache(&self, enabled: bool, budget: Option<u64>) {
        let mut cache = self.prefix.borrow_mut();
        let mut pools = self.pools().borrow_mut();
        cache.enabled = enabled;
        if let Some(b) = budget {
            cache.budget = b;
        }
        if enabled {
            cache.evict(&mut pools);
        } else {
            cache.clear(&mut pools);
        }
    }

    /// Append a batch (a turn): evaluated in pieces that end on multiples of
    /// `policy.every`, with a checkpoint after each piece. Returns the logits of every token
    /// (`all_logits`) or of the last.
    pub async fn append(&self, s: &mut Session, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, SessionError> {
        self.append_inner(s, tokens, all_logits, true, true).await
    }

    /// Append a turn whose logits the caller does not need now (a system prompt before the
    /// rest of a conversation): it may come wholly from the prefix cache. Returns its last
    /// logits, or nothing when nothing was computed.
    pub async fn append_no_logits(&self, s: &mut Session, tokens: &[u32]) -> Result<Vec<f32>, SessionError> {
        self.append_inner(s, tokens, false, true, false).await
    }

    /// One decoded token: checkpoints only where the count crosses a multiple of `every`.
    pub async fn step(&self, s: &mut Session, token: u32) -> Result<Vec<f32>, SessionError> {
        self.append_inner(s, &[token], false, false, true).await
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

    /// All or nothing: bad input is refused before anything runs; an error once steps have run
    /// (a lost device, …) brings the session back to the tokens, memory and checkpoints it had
    /// (a rewind: the newest checkpoint at or before and a replay), or, when even that fails,
    /// reports both errors.
    async fn append_inner(&self, s: &mut Session, tokens: &[u32], all_logits: bool, turn_end: bool, need_logits: bool) -> Result<Vec<f32>, SessionError> {
        let (pos0, checkpoints0) = (s.pos, s.checkpoints.clone());
        let r = self.append_raw(s, tokens, all_logits, turn_end, need_logits).await;
        if r.is_err() && s.pos != pos0 {
            if let Err(e) = self.rewind_raw(s, pos0 as i64).await {
                return Err(SessionError::RollbackFailed { first: Box::new(r.err().unwrap_or(SessionError::Run(RunError::Empty))), rollback: Box::new(e) });
            }
            s.checkpoints = checkpoints0;
            s.last_append = AppendStats::default();
        }
        r
    }

    /// `need_logits`: the last token's logits are wanted (a rewind's replay needs only the
    /// memory, so it may come wholly from the prefix cache).
    async fn append_raw(&self, s: &mut Session, tokens: &[u32], all_logits: bool, turn_end: bool, need_logits: bool) -> Result<Vec<f32>, SessionError> {
        if tokens.is_empty() {
            return Err(RunError::Empty.into());
        }
        self.validate(s.pos, s.n_ctx, tokens)?;
        // A cached prefix: start from it — for turns (appends, a rewind's replay), not decode
        // steps, and not when every token's logits are wanted.
        let reused = if all_logits || !turn_end { 0 } else { self.adopt_prefix(s, tokens, need_logits) };
        let tokens = &tokens[reused as usize..];
        s.last_append = AppendStats { reused, computed: tokens.len() as u32 };
        if tokens.is_empty() {
            return Ok(vec![]);
        }
        let every = s.policy.every;
        let mut out = vec![];
        let mut at = 0;
        while at < tokens.len() {
            let room = if every > 0 && s.mem.needs_snapshot() { (every - s.pos % every) as usize } else { usize::MAX };
            let room = room.min(self.max_step());
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
        Session {
            pos: s.pos,
            n_ctx: s.n_ctx,
            tokens: s.tokens.clone(),
            mem: s.mem.fork(),
            checkpoints: s.checkpoints.clone(),
            policy: s.policy,
            pins: s.pins.clone(),
            last_append: AppendStats::default(),
        }
    }

    /// Cut the session back to its first `n` tokens: attention layers drop their blocks past
    /// n; recurrent layers restore the newest checkpoint at or before n and the tokens from
    /// there to n are recomputed from the token history. Returns how many were recomputed.
    pub async fn rewind(&self, s: &mut Session, n: i64) -> Result<u32, SessionError> {
        self.rewind_raw(s, n).await
    }

    async fn rewind_raw(&self, s: &mut Session, n: i64) -> Result<u32, SessionError> {
        if n < 0 || n > s.pos as i64 {
            return Err(SessionError::Range { what: "rewind position", value: n, min: 0, max: s.pos as i64 });
        }
        let n = n as u32;
        if n == s.pos {
            return Ok(0);
        }
        // Recurrent state, or a window that has moved past what n needs: from a checkpoint.
        let from = if s.mem.slot().is_some() || !s.mem.window_intact(n) {
            let cp = s.checkpoints.cut(n);
            s.mem.restore_state(cp.map(|c| &c.snapshot));
            cp.map_or(0, |c| c.n_tokens)
        } else {
            n
        };
        let replay: Vec<u32> = s.tokens[from as usize..n as usize].to_vec();
        s.mem.truncate(from);
        s.pos = from;
        s.tokens.truncate(from as usize);
        s.pins.retain(|(p, _)| *p <= from);
        if replay.is_empty() {
            return Ok(0);
        }
        self.append_raw(s, &replay, false, true, false).await?;
        Ok(s.last_append.computed)
    }

    /// Bytes the session holds on the GPU. `kv` counts its blocks (shared ones too).
    pub fn memory(&self, s: &Session) -> MemoryReport {
        let b = s.mem.bytes(s.pos);
        let ring_block = s.mem.pools().borrow().ring_block_bytes();
        let own: std::collections::HashSet<u32> = s.mem.ring.iter().copied().collect();
        let mut held = std::collections::HashSet::new();
        let mut states = 0;
        for c in s.checkpoints.list() {
            let ring = c.snapshot.ring_blocks();
            states += c.snapshot.bytes() - ring.len() as u64 * ring_block;
            held.extend(ring.iter().copied().filter(|b| !own.contains(b)));
        }
        let checkpoints = states + held.len() as u64 * ring_block;
        MemoryReport { kv: b.kv, kv_used: b.kv_used, recurrent: b.recurrent, window: b.window, checkpoints }
    }
}
