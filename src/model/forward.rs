//! The GPU forward pass: one function for every supported architecture, composed from the
//! shared blocks (attention, Mamba2 mixer, SwiGLU FFN); which blocks a layer has comes from
//! `HParams::layers` (metadata), never from the architecture name alone.
//!
//! A forward step records every dispatch into one command buffer and submits once.

use std::cell::RefCell;
use std::rc::Rc;

use wgpu::util::DeviceExt;

use super::hparams::{HParams, ModelError, RopeType};
use super::weights::{AttnWeights, ModelWeights, SsmWeights};
use crate::gguf::GgmlType;
use crate::gpu::ops::{Recorder, Shader};
use crate::gpu::{GpuContext, GpuError, GpuTensor};
use crate::loader::LoadedWeights;
use crate::memory::pool::{Pools, KV_BLOCK};

pub use crate::sample::argmax;

/// Seconds on a monotonic clock (native only; the web build times from JS).
fn web_time_now() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static T0: OnceLock<std::time::Instant> = OnceLock::new();
        T0.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
    }
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() / 1000.0
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("token id {token} is out of range (vocabulary has {n_vocab} tokens)")]
    BadToken { token: u32, n_vocab: u32 },
    #[error("the session holds {pos} tokens; {n} more exceed its context of {n_ctx}")]
    ContextFull { pos: u32, n: u32, n_ctx: u32 },
    #[error("no tokens to evaluate")]
    Empty,
    #[error("{n} tokens in one step; at most {max} (the sessions' batch is split above that)")]
    BatchTooLarge { n: usize, max: usize },
}

/// Most tokens one forward step evaluates (longer inputs are split). With the dimension caps
/// of `HParams` this keeps every buffer size and shader index within u32.
pub const MAX_BATCH: usize = 2048;

/// A loaded model ready to run.
pub struct GpuModel {
    pub hp: HParams,
    pub w: ModelWeights,
    pub weights: LoadedWeights,
    pub(crate) pools: Rc<RefCell<Pools>>,
}

/// One sequence: its token history, its KV block table (blocks of the model's shared KV
/// pool, possibly shared copy-on-write with forks), its recurrent-state slot, and its
/// checkpoints. Dropping it returns its blocks and slot to the pools.
pub struct Session {
    pub pos: u32,
    /// The most tokens this session may hold (nothing is reserved for it up front).
    pub n_ctx: u32,
    pub tokens: Vec<u32>,
    pub(crate) blocks: Vec<u32>,
    pub(crate) slot: Option<u32>,
    pub(crate) pools: Rc<RefCell<Pools>>,
    /// Recurrent-state snapshots, oldest first (see `crate::memory`).
    pub(crate) checkpoints: Vec<crate::memory::Checkpoint>,
    pub policy: crate::memory::CheckpointPolicy,
}

impl Session {
    /// The KV pool blocks this session reads, in position order (shared with forks until
    /// one side writes).
    pub fn blocks(&self) -> &[u32] {
        &self.blocks
    }
}

impl Drop for Session {
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

/// The tokens of one forward step, laid out for the kernels.
struct Batch {
    tokens: Vec<u32>,
    /// Per token: position, offset of its session's block table in `tables`, 0, 0.
    meta: Vec<u32>,
    tables: Vec<u32>,
    /// Per session: first token, token count, recurrent-state slot, 0.
    seqs: Vec<[u32; 4]>,
}

impl Batch {
    fn new(items: &[(&mut Session, &[u32])]) -> Batch {
        let mut b = Batch { tokens: vec![], meta: vec![], tables: vec![], seqs: vec![] };
        for (s, toks) in items {
            let table = b.tables.len() as u32;
            b.tables.extend_from_slice(&s.blocks);
            b.seqs.push([b.tokens.len() as u32, toks.len() as u32, s.slot.unwrap_or(0), 0]);
            for (i, &t) in toks.iter().enumerate() {
                b.tokens.push(t);
                b.meta.extend_from_slice(&[s.pos + i as u32, table, 0, 0]);
            }
        }
        b
    }
}

struct BatchBuffers {
    tokens: wgpu::Buffer,
    meta: wgpu::Buffer,
    tables: wgpu::Buffer,
    seqs: wgpu::Buffer,
    n_seqs: u32,
    /// The state slot when the batch is one session (the chunked scan handles one).
    single_slot: Option<u32>,
}

pub(crate) fn f32_buf(ctx: &GpuContext, label: &str, n: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (n.max(1) * 4).next_multiple_of(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl GpuModel {
    pub fn new(weights: LoadedWeights) -> Result<GpuModel, ModelError> {
        let hp = HParams::from_index(&weights.index)?;
        let w = ModelWeights::resolve(&weights.index, &hp)?;
        // Matrix operands need rows of whole vec4s; vector operands must be F32.
        for (i, t) in weights.tensors.iter().enumerate() {
            let name = &t.info.name;
            let vector = t.info.dims.iter().filter(|&&d| d > 1).count() <= 1 || name.contains("conv1d");
            if vector && t.info.ty != GgmlType::F32 && i != w.token_embd {
                return Err(ModelError::BadHparams(format!("tensor {name:?} is {}; Braid expects F32 for norms, biases, A, D and conv weights", t.info.ty)));
            }
            if !vector && t.info.ne0() % 4 != 0 {
                return Err(ModelError::BadHparams(format!("tensor {name:?}: row length {} is not a multiple of 4", t.info.ne0())));
            }
            if vector && t.parts.len() > 1 {
                return Err(ModelError::BadHparams(format!("tensor {name:?} is larger than one binding")));
            }
        }
        let pools = Rc::new(RefCell::new(Pools::new(&weights.ctx, &hp)));
        Ok(GpuModel { hp, w, weights, pools })
    }

    pub fn ctx(&self) -> &Rc<GpuContext> {
        &self.weights.ctx
    }

    fn t(&self, i: usize) -> &GpuTensor {
        &self.weights.tensors[i]
    }

    /// The single buffer of a small F32 tensor.
    fn vec_buf(&self, i: usize) -> &wgpu::Buffer {
        &self.weights.tensors[i].parts[0].buffer
    }

    pub fn new_session(&self, n_ctx: u32) -> Session {
        let slot = self.pools.borrow_mut().alloc_slot(self.ctx());
        Session {
            pos: 0,
            n_ctx,
            tokens: vec![],
            blocks: vec![],
            slot,
            pools: self.pools.clone(),
            checkpoints: vec![],
            policy: Default::default(),
        }
    }

    /// Blocks for positions pos .. pos + n: copy-on-write the partly filled last block if a
    /// fork shares it, then take fresh blocks.
    pub(crate) fn reserve(&self, s: &mut Session, n: u32) {
        let ctx = self.ctx();
        let mut pools = self.pools.borrow_mut();
        if !pools.has_attention() {
            return;
        }
        if s.pos % KV_BLOCK != 0 {
            let i = (s.pos / KV_BLOCK) as usize;
            if let Some(&old) = s.blocks.get(i) {
                if pools.is_shared(old) {
                    let new = pools.alloc_block(ctx);
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    pools.copy_block(ctx, &mut enc, old, new);
                    ctx.queue.submit([enc.finish()]);
                    pools.release_block(old);
                    s.blocks[i] = new;
                }
            }
        }
        while (s.blocks.len() as u32) * KV_BLOCK < s.pos + n {
            let b = pools.alloc_block(ctx);
            s.blocks.push(b);
        }
    }

    /// Evaluate `tokens` after what the session holds, in batches of at most [`MAX_BATCH`].
    /// Returns the logits of every token (`all_logits`) or of the last one, row-major
    /// [n, n_vocab]. Bad input is refused before anything runs.
    pub async fn forward(&self, s: &mut Session, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, RunError> {
        self.validate(s, tokens)?;
        let mut out = vec![];
        for piece in tokens.chunks(MAX_BATCH) {
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

    fn validate(&self, s: &Session, tokens: &[u32]) -> Result<(), RunError> {
        let hp = &self.hp;
        if tokens.is_empty() {
            return Err(RunError::Empty);
        }
        if let Some(&token) = tokens.iter().find(|&&t| t >= hp.n_vocab) {
            return Err(RunError::BadToken { token, n_vocab: hp.n_vocab });
        }
        if s.pos as u64 + tokens.len() as u64 > s.n_ctx as u64 {
            return Err(RunError::ContextFull { pos: s.pos, n: tokens.len().min(u32::MAX as usize) as u32, n_ctx: s.n_ctx });
        }
        Ok(())
    }

    /// Advance several sessions in one forward step: their tokens form one batch, every
    /// kernel is dispatched once for all of them (weights are read once). Returns, per
    /// session, the logits of each of its tokens (`all_logits`) or of its last.
    pub async fn forward_multi(&self, items: &mut [(&mut Session, &[u32])], all_logits: bool) -> Result<Vec<Vec<f32>>, RunError> {
        let hp = &self.hp;
        if items.is_empty() {
            return Err(RunError::Empty);
        }
        let total: usize = items.iter().map(|(_, t)| t.len()).sum();
        if total > MAX_BATCH {
            return Err(RunError::BatchTooLarge { n: total, max: MAX_BATCH });
        }
        for (s, tokens) in items.iter() {
            self.validate(s, tokens)?;
        }
        for (s, tokens) in items.iter_mut() {
            self.reserve(s, tokens.len() as u32);
        }
        let ctx = self.ctx().clone();
        let batch = Batch::new(items);
        let (logits, rows) = self.record(&ctx, &batch, all_logits, false)?;
        let v = hp.n_vocab as usize;
        let flat = ctx.read_f32(&logits, 0, rows as u64 * v as u64).await?;
        let mut out = vec![];
        for (i, (s, tokens)) in items.iter_mut().enumerate() {
            let (start, n) = (batch.seqs[i][0] as usize, tokens.len());
            let (r0, r1) = if rows as usize == batch.tokens.len() {
                if all_logits { (start, start + n) } else { (start + n - 1, start + n) }
            } else {
                (0, 1)
            };
            out.push(flat[r0 * v..r1 * v].to_vec());
            s.pos += n as u32;
            s.tokens.extend_from_slice(tokens);
        }
        Ok(out)
    }

    /// Evaluate one token and return the argmax of its logits, computed on the GPU (4 bytes
    /// read back instead of the vocabulary).
    pub async fn step_argmax(&self, s: &mut Session, token: u32) -> Result<u32, RunError> {
        let hp = &self.hp;
        if token >= hp.n_vocab {
            return Err(RunError::BadToken { token, n_vocab: hp.n_vocab });
        }
        if s.pos >= s.n_ctx {
            return Err(RunError::ContextFull { pos: s.pos, n: 1, n_ctx: s.n_ctx });
        }
        self.reserve(s, 1);
        let ctx = self.ctx().clone();
        let toks = [token];
        let batch = Batch::new(&[(&mut *s, &toks[..])]);
        let (ids, _) = self.record(&ctx, &batch, false, true)?;
        let bytes = ctx.read_bytes(&ids, 0, 4).await?;
        s.pos += 1;
        s.tokens.push(token);
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
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

    /// Bytes of weights one decoded token reads: every matrix once, one embedding row.
    pub fn weight_bytes_per_token(&self) -> u64 {
        let mut total = 0;
        for i in self.w.used() {
            let t = self.t(i);
            total += if i == self.w.token_embd && i != self.w.output {
                t.gpu_bytes() / t.info.n_rows()
            } else {
                t.gpu_bytes()
            };
        }
        total
    }

    fn record(&self, ctx: &GpuContext, b: &Batch, all_logits: bool, argmax: bool) -> Result<(wgpu::Buffer, u32), RunError> {
        let hp = &self.hp;
        let _ = &b.seqs;
        let (n, e) = (b.tokens.len() as u32, hp.n_embd);
        let u32_buf = |label: &str, data: &[u32]| {
            ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(if data.is_empty() { &[0u32; 4] } else { data }),
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let bufs = BatchBuffers {
            tokens: u32_buf("tokens", &b.tokens),
            meta: u32_buf("token meta", &b.meta),
            tables: u32_buf("block tables", &b.tables),
            seqs: u32_buf("sequences", &b.seqs.concat()),
            n_seqs: b.seqs.len() as u32,
            single_slot: if b.seqs.len() == 1 { Some(b.seqs[0][2]) } else { None },
        };
        let pools = self.pools.borrow();
        let mut r = Recorder::new(ctx);
        let x = r.scratch((n * e) as u64);
        let h = r.scratch((n * e) as u64);
        let alpha = |v: f32| if v != 0.0 { v } else { 1.0 };

        // ---- token embeddings (× embedding_scale for Granite)
        r.embed(self.t(self.w.token_embd), &bufs.tokens, n, &x, alpha(hp.embedding_scale));

        for (il, lw) in self.w.layers.iter().enumerate() {
            // ---- h = RMSNorm(x) → mixer(s) → x += residual_scale · out
            self.norm(&mut r, &x, 0, lw.attn_norm, &h, n);
            if let Some(a) = &lw.attn {
                self.attention(&mut r, &pools, &bufs, il, a, &h, &x, n);
            }
            if let Some(m) = &lw.ssm {
                self.mamba2(&mut r, &pools, &bufs, il, m, &h, &x, n);
            }
            // ---- x += residual_scale · SwiGLU(RMSNorm(x))
            if let Some(f) = &lw.ffn {
                self.norm(&mut r, &x, 0, f.norm, &h, n);
                let ff = hp.n_ff;
                let g = r.scratch((n * ff) as u64);
                let u = r.scratch((n * ff) as u64);
                r.matmul(self.t(f.gate), &h, 0, e, &g, 0, ff, n, 1.0, false);
                r.matmul(self.t(f.up), &h, 0, e, &u, 0, ff, n, 1.0, false);
                self.elementwise(&mut r, "silu_mul", &g, &u, n * ff, 1.0);
                r.matmul(self.t(f.down), &g, 0, ff, &x, 0, e, n, alpha(hp.residual_scale), true);
            }
        }

        // ---- final norm and LM head (only the rows whose logits are wanted: one session's
        // last token, or every row)
        let (first, n_out) = if all_logits || bufs.n_seqs > 1 { (0, n) } else { (n - 1, 1) };
        self.norm(&mut r, &x, first * e, self.w.output_norm, &h, n_out);
        let logits = f32_buf(ctx, "logits", (n_out * hp.n_vocab) as u64);
        let inv = if hp.logit_scale != 0.0 { 1.0 / hp.logit_scale } else { 1.0 };
        r.matmul(self.t(self.w.output), &h, 0, e, &logits, 0, hp.n_vocab, n_out, inv, false);
        if argmax {
            // Greedy decoding: reduce each row to its argmax on the GPU.
            let ids = f32_buf(ctx, "argmax", n_out as u64);
            r.dispatch(Shader::Argmax, "argmax", &[(0, &logits), (1, &ids)], &[hp.n_vocab, 0, 0, 0], 2, (n_out, 1, 1));
            r.submit();
            ctx.check()?;
            return Ok((ids, n_out));
        }
        r.submit();
        ctx.check()?;
        Ok((logits, n_out))
    }

    /// GB/s of a plain vec4 copy of `bytes` on this device (read + write counted).
    pub fn copy_bandwidth(ctx: &GpuContext, bytes: u64, reps: u32) -> f64 {
        let a = f32_buf(ctx, "copy src", bytes / 4);
        let b = f32_buf(ctx, "copy dst", bytes / 4);
        let run = |reps: u32| {
            let mut r = Recorder::new(ctx);
            let (gx, gy) = r.grid(bytes / 16);
            for _ in 0..reps {
                r.dispatch(Shader::Copy, "copy", &[(0, &a), (1, &b)], &[gx, 0, 0, 0], 2, (gx, gy, 1));
            }
            r.submit();
            ctx.poll_wait();
        };
        run(1);
        let t0 = web_time_now();
        run(reps);
        let secs = web_time_now() - t0;
        2.0 * bytes as f64 * reps as f64 / secs / 1e9
    }

    /// y[rows] = RMSNorm(x[x_offset + rows]) · w, rows of n_embd.
    fn norm(&self, r: &mut Recorder, x: &wgpu::Buffer, x_offset: u32, w: usize, y: &wgpu::Buffer, rows: u32) {
        let e = self.hp.n_embd;
        let p = [e, rows, 1, self.hp.eps.to_bits(), x_offset, e, 0, e];
        r.dispatch(Shader::Norm, "rms_norm", &[(0, x), (1, self.vec_buf(w)), (2, y)], &p, 3, (rows, 1, 1));
    }

    fn elementwise(&self, r: &mut Recorder, entry: &'static str, a: &wgpu::Buffer, b: &wgpu::Buffer, len: u32, alpha: f32) {
        let (gx, gy) = r.grid(len as u64);
        r.dispatch(Shader::Elementwise, entry, &[(0, a), (1, b)], &[len, 0, 0, gx, alpha.to_bits()], 2, (gx, gy, 1));
    }

    /// Attention block: q,k,v projections, RoPE at each token's position, K/V rows stored
    /// into the pool through the block tables, causal GQA attention, output projection
    /// accumulated into x.
    #[allow(clippy::too_many_arguments)]
    fn attention(&self, r: &mut Recorder, pools: &Pools, b: &BatchBuffers, il: usize, a: &AttnWeights, h: &wgpu::Buffer, x: &wgpu::Buffer, n: u32) {
        let hp = &self.hp;
        let (e, hd, nh, nkv) = (hp.n_embd, hp.head_dim, hp.n_head, hp.n_head_kv[il]);
        let (q_dim, kv_dim) = (nh * hd, nkv * hd);
        let Some((kp, vp)) = &pools.kv[il] else { return };
        let q = r.scratch((n * q_dim) as u64);
        let k = r.scratch((n * kv_dim) as u64);
        let v = r.scratch((n * kv_dim) as u64);
        r.matmul(self.t(a.wq), h, 0, e, &q, 0, q_dim, n, 1.0, false);
        r.matmul(self.t(a.wk), h, 0, e, &k, 0, kv_dim, n, 1.0, false);
        r.matmul(self.t(a.wv), h, 0, e, &v, 0, kv_dim, n, 1.0, false);
        if hp.rope_type != RopeType::None {
            let neox = (hp.rope_type == RopeType::Neox) as u32;
            for (buf, heads, stride) in [(&q, nh, q_dim), (&k, nkv, kv_dim)] {
                let (gx, gy) = r.grid((n * heads * hp.n_rot / 2) as u64);
                let p = [n, heads, hd, hp.n_rot, 0, 0, stride, neox, hp.rope_theta.to_bits(), gx];
                r.dispatch(Shader::Rope, "rope", &[(0, buf), (2, &b.meta)], &p, 1, (gx, gy, 1));
            }
        }
        let p = [n, nh, nkv, hd, KV_BLOCK, q_dim, kv_dim, q_dim, hp.kq_scale().to_bits()];
        let (gx, gy) = r.grid((n * kv_dim) as u64);
        r.dispatch(Shader::Attention, "kv_store", &[(5, &b.meta), (6, &b.tables), (7, &k), (8, &v), (9, kp), (10, vp)], &p, 4, (gx, gy, 1));
        let att = r.scratch((n * q_dim) as u64);
        r.dispatch(Shader::Attention, "attention", &[(0, &q), (1, kp), (2, vp), (3, &att), (5, &b.meta), (6, &b.tables)], &p, 4, (nh, n, 1));
        let rs = if hp.residual_scale != 0.0 { hp.residual_scale } else { 1.0 };
        r.matmul(self.t(a.wo), &att, 0, q_dim, x, 0, e, n, rs, true);
    }

    /// Mamba2 mixer: in_proj, causal conv with carried state, selective scan with D skip
    /// and SiLU(z) gate, grouped RMSNorm, out_proj accumulated into x.
    #[allow(clippy::too_many_arguments)]
    fn mamba2(&self, r: &mut Recorder, pools: &Pools, b: &BatchBuffers, il: usize, m: &SsmWeights, h: &wgpu::Buffer, x: &wgpu::Buffer, n: u32) {
        let hp = &self.hp;
        let ctx = r.ctx;
        let Some(p) = hp.ssm else { return };
        let (Some(conv_state), Some(ssm_state)) = (&pools.conv[il], &pools.ssm[il]) else { return };
        let e = hp.n_embd;
        let dip = p.d_in_proj();
        let zx = r.scratch((n * dip) as u64);
        r.matmul(self.t(m.ssm_in), h, 0, e, &zx, 0, dip, n, 1.0, false);
        let xbc = r.scratch((n * p.conv_dim()) as u64);
        let y = r.scratch((n * p.d_inner) as u64);
        let params = [n, p.d_inner, p.d_state, p.n_head, p.n_group, p.d_conv, dip, m.conv1d_b.is_some() as u32];
        let conv_w = self.vec_buf(m.conv1d);
        let bias = m.conv1d_b.map_or(conv_w, |b| self.vec_buf(b));
        r.dispatch(
            Shader::Ssm,
            "ssm_conv",
            &[(0, &zx), (1, conv_w), (2, bias), (4, conv_state), (5, &xbc), (8, &b.seqs)],
            &params,
            7,
            (p.conv_dim().div_ceil(64), b.n_seqs, 1),
        );
        let (dt_b, a, d) = (self.vec_buf(m.dt_b), self.vec_buf(m.a), self.vec_buf(m.d));
        if let (true, Some(slot)) = (ctx.use_chunked_scan(n), b.single_slot) {
            const Q: u32 = 32;
            let chunks = n.div_ceil(Q);
            let ds = r.scratch(chunks as u64 * p.d_inner as u64 * p.d_state as u64);
            let decay = r.scratch((chunks * p.n_head) as u64);
            let sp = [n, p.d_inner, p.d_state, p.n_head, p.n_group, dip, chunks, slot * p.ssm_state_len()];
            r.dispatch(Shader::Ssd, "ssd_chunk", &[(0, &zx), (1, &xbc), (2, dt_b), (3, a), (5, &ds), (6, &decay), (7, &y)], &sp, 9, (p.n_head, chunks, 1));
            r.dispatch(Shader::Ssd, "ssd_state", &[(5, &ds), (6, &decay), (8, ssm_state)], &sp, 9, ((p.d_inner * p.d_state).div_ceil(64), 1, 1));
            r.dispatch(Shader::Ssd, "ssd_out", &[(0, &zx), (1, &xbc), (2, dt_b), (3, a), (4, d), (5, &ds), (7, &y)], &sp, 9, (p.n_head, chunks, 1));
        } else {
            r.dispatch(
                Shader::Ssm,
                "ssm_scan",
                &[(0, &zx), (1, dt_b), (2, a), (3, d), (4, ssm_state), (5, &xbc), (6, &y), (8, &b.seqs)],
                &params,
                7,
                (p.d_inner.div_ceil(64), b.n_seqs, 1),
            );
        }
        if let Some(nw) = m.norm {
            let gs = p.d_inner / p.n_group;
            let np = [gs, n * p.n_group, p.n_group, hp.eps.to_bits(), 0, gs, 0, gs];
            r.dispatch(Shader::Norm, "rms_norm_inplace", &[(1, self.vec_buf(nw)), (2, &y)], &np, 3, (n * p.n_group, 1, 1));
        }
        let rs = if hp.residual_scale != 0.0 { hp.residual_scale } else { 1.0 };
        r.matmul(self.t(m.out), &y, 0, p.d_inner, x, 0, e, n, rs, true);
    }
}
