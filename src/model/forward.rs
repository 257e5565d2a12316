//! The GPU forward pass: one loop over the layer plan, recording each block into one command
//! buffer that is submitted once per step. Several sequences may share a step (their tokens
//! form one batch; every kernel is dispatched once for all of them, so weights are read once).

use std::cell::RefCell;
use std::rc::Rc;

use super::graph::{BatchBuffers, Graph, NextNorm, Out};
use super::hparams::{HParams, ModelError};
use super::plan::{Ffn, FfnPlan, Mixer, ModelPlan, Role, T};
use super::reference::mixer_tap;
use super::taps::{GpuTaps, Taps};
use crate::gguf::{GgmlType, Value};
use crate::gpu::ops::{NormOut, Recorder, Shader};
use crate::gpu::{params, GpuContext, GpuError, GpuTensor, GpuWeights};
use crate::memory::KV_BLOCK;
use crate::memory::{MemoryLayout, Pools, PrefixCache, SequenceMemory};

pub use crate::sample::argmax;

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
    #[error("the model produced non-finite logits (NaN or infinity)")]
    NonFinite,
}

/// Most tokens one forward step evaluates (longer inputs are split). With the dimension caps
/// of `HParams` this keeps every buffer size and shader index within u32.
pub const MAX_BATCH: usize = 2048;

/// Most tokens one step writes per sequence in a model with sliding-window layers (the
/// window rounded up to a block, at least 64, at most this: llama.cpp's default n_ubatch);
/// their rings hold the window plus one step's rows.
pub const WINDOW_STEP: usize = 512;

/// One sequence's part of a step: its memory, how many tokens it holds, the new tokens.
pub struct SeqStep<'a> {
    pub mem: &'a mut SequenceMemory,
    pub pos: u32,
    pub tokens: &'a [u32],
}

/// What a step returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The logits of each sequence's last token.
    Last,
    /// The logits of every token.
    All,
    /// The argmax of each sequence's last token, computed on the GPU (4 bytes read back).
    Argmax,
}

/// A step's results, per sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOut {
    /// Row-major [tokens, n_vocab] per sequence.
    Logits(Vec<Vec<f32>>),
    Argmax(Vec<u32>),
}

/// A loaded model ready to run: its weights on the GPU, its plan, and the memory pools its
/// sessions share.
pub struct GpuModel {
    pub hp: HParams,
    pub plan: ModelPlan,
    pub weights: GpuWeights,
    pools: Rc<RefCell<Pools>>,
    fingerprint: u64,
    /// Prefixes of the sessions' token histories and their memory (`memory::prefix`).
    pub(crate) prefix: RefCell<PrefixCache>,
}

/// The prefix cache's default budget: a quarter of the weights' GPU bytes, at least 32 MiB.
pub fn default_prefix_budget(weight_bytes: u64) -> u64 {
    (weight_bytes / 4).max(32 << 20)
}

impl GpuModel {
    pub fn new(weights: GpuWeights) -> Result<GpuModel, ModelError> {
        let plan = ModelPlan::build(&weights.index)?;
        // Matrix operands need rows of whole vec4s; vector operands must be F32 in one buffer.
        for (i, t) in weights.tensors.iter().enumerate() {
            let name = &t.info.name;
            match plan.roles[i] {
                Some(Role::F32) if t.info.ty != GgmlType::F32 => {
                    return Err(ModelError::BadHparams(format!("tensor {name:?} is {}; Braid expects F32 for norms, biases, A, D and conv weights", t.info.ty)));
                }
                Some(Role::F32) if t.parts.len() > 1 => return Err(ModelError::BadHparams(format!("tensor {name:?} is larger than one binding"))),
                Some(Role::Matrix) if t.info.ne0() % 4 != 0 => {
                    return Err(ModelError::BadHparams(format!("tensor {name:?}: row length {} is not a multiple of 4", t.info.ne0())));
                }
                _ => {}
            }
        }
        let (mut weights, mut plan) = (weights, plan);
        // Attention's q and k norms in one vector, and its q, k and v products stacked into
        // one matrix where their types agree (one dispatch instead of three;
        // `Attention::fuse_qkv`, decided here, at load).
        let stack = weights.ctx.fuse_dispatches();
        for (il, l) in plan.layers.iter_mut().enumerate() {
            for m in &mut l.mixers {
                if let Mixer::Attention(a) = m {
                    a.join_qk_norms(il, &mut weights);
                    if stack {
                        a.fuse_qkv(il, &mut weights);
                    }
                }
            }
        }
        // K and V rows in F16 where the device has shader-f16 (half of what a session holds
        // per token and attention reads; llama.cpp's default cache type).
        let mut layout = plan.memory_layout();
        layout.kv_f16 = weights.ctx.kv_f16() && layout.kv_f16_able();
        let pools = Rc::new(RefCell::new(Pools::new(&weights.ctx, layout)));
        let fingerprint = fingerprint(&weights);
        let prefix = RefCell::new(PrefixCache::new(default_prefix_budget(weights.gpu_bytes())));
        Ok(GpuModel { hp: plan.hp.clone(), plan, weights, pools, fingerprint, prefix })
    }

    pub fn ctx(&self) -> &Rc<GpuContext> {
        &self.weights.ctx
    }

    fn t(&self, i: T) -> &GpuTensor {
        &self.weights.tensors[i]
    }

    /// Most tokens one step evaluates: [`MAX_BATCH`], or [`WINDOW_STEP`] for models with
    /// sliding-window layers (their rings hold one step's rows beyond the window).
    pub fn max_step(&self) -> usize {
        self.pools.borrow().layout.max_step as usize
    }

    /// What each layer keeps per sequence.
    pub fn memory_layout(&self) -> MemoryLayout {
        self.pools.borrow().layout.clone()
    }

    /// The shared memory pools (KV blocks, state slots).
    pub fn pools(&self) -> &Rc<RefCell<Pools>> {
        &self.pools
    }

    /// Memory for a new, empty sequence.
    pub fn new_memory(&self) -> SequenceMemory {
        SequenceMemory::new(&self.pools)
    }

    /// A hash of what a sequence's memory depends on: the file's metadata (keys, types,
    /// values) and tensor table (names, types, shapes, offsets), in file order.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Bytes of weights one decoded token reads: every matrix once, one embedding row, and of
    /// a mixture of experts only the experts it uses (`k / n_expert` of each expert tensor).
    pub fn weight_bytes_per_token(&self) -> u64 {
        let mut active: std::collections::HashMap<T, (u64, u64)> = Default::default();
        for l in &self.plan.layers {
            if let Some(FfnPlan { ffn: Ffn::Moe(m), .. }) = &l.ffn {
                for t in [Some(m.up), m.gate, Some(m.down)].into_iter().flatten() {
                    active.insert(t, (m.spec.k as u64, m.spec.n_expert as u64));
                }
            }
        }
        // Matrices stacked at load (after the file's tensors) are read whole.
        let mut total = self.weights.tensors[self.weights.index.tensors.len()..].iter().map(GpuTensor::gpu_bytes).sum();
        for i in self.plan.used() {
            let t = self.t(i);
            total += if i == self.plan.token_embd && i != self.plan.output {
                t.gpu_bytes() / t.info.n_rows()
            } else if let Some((k, n)) = active.get(&i) {
                t.gpu_bytes() * k / n
            } else {
                t.gpu_bytes()
            };
        }
        total
    }

    /// Whether some layer is a mixture of experts (bench reports say so).
    pub fn has_experts(&self) -> bool {
        self.plan.layers.iter().any(|l| matches!(&l.ffn, Some(FfnPlan { ffn: Ffn::Moe(_), .. })))
    }

    /// Check a sequence's new tokens before anything runs.
    pub fn validate(&self, pos: u32, n_ctx: u32, tokens: &[u32]) -> Result<(), RunError> {
        if tokens.is_empty() {
            return Err(RunError::Empty);
        }
        if let Some(&token) = tokens.iter().find(|&&t| t >= self.hp.n_vocab) {
            return Err(RunError::BadToken { token, n_vocab: self.hp.n_vocab });
        }
        if pos as u64 + tokens.len() as u64 > n_ctx as u64 {
            return Err(RunError::ContextFull { pos, n: tokens.len().min(u32::MAX as usize) as u32, n_ctx });
        }
        Ok(())
    }

    /// Evaluate one step: every sequence's new tokens in one batch (at most [`MAX_BATCH`]
    /// tokens in all; tokens must be in the vocabulary). KV blocks for the new positions are
    /// reserved first; the recurrent states advance in place.
    pub async fn eval(&self, items: &mut [SeqStep<'_>], want: Want) -> Result<StepOut, RunError> {
        self.eval_inner(items, want, false).await.map(|(o, _)| o)
    }

    /// As [`GpuModel::eval`], also reading back every tap (see `taps`).
    pub async fn eval_taps(&self, items: &mut [SeqStep<'_>], want: Want) -> Result<(StepOut, Taps), RunError> {
        self.eval_inner(items, want, true).await
    }

    async fn eval_inner(&self, items: &mut [SeqStep<'_>], want: Want, taps: bool) -> Result<(StepOut, Taps), RunError> {
        if items.is_empty() {
            return Err(RunError::Empty);
        }
        let total: usize = items.iter().map(|s| s.tokens.len()).sum();
        if total > self.max_step() {
            return Err(RunError::BatchTooLarge { n: total, max: self.max_step() });
        }
        for s in items.iter() {
            self.validate(s.pos, u32::MAX, s.tokens)?;
        }
        for s in items.iter_mut() {
            s.mem.reserve(s.pos, s.tokens.len() as u32);
        }
        let ctx = self.ctx().clone();
        let (out, rows, starts, gpu_taps) = self.record(&ctx, items, want, taps)?;
        let taps = match gpu_taps {
            Some(t) => t.read(&ctx).await?,
            None => vec![],
        };
        // Each sequence's rows: all of them (Want::All), or its last. With one sequence and
        // Want::Last/Argmax only its last row was computed.
        let n_tok: usize = total;
        let ranges: Vec<(usize, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (start, n) = (starts[i], s.tokens.len());
                if rows as usize == n_tok {
                    if want == Want::All { (start, start + n) } else { (start + n - 1, start + n) }
                } else {
                    (i, i + 1)
                }
            })
            .collect();
        if want == Want::Argmax {
            let bytes = ctx.read_bytes(&out, 0, 4 * rows as u64).await?;
            let ids: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
            return Ok((StepOut::Argmax(ranges.iter().map(|&(_, r1)| ids[r1 - 1]).collect()), taps));
        }
        let v = self.hp.n_vocab as usize;
        let flat = ctx.read_f32(&out, 0, rows as u64 * v as u64).await?;
        let res = ranges.iter().map(|&(r0, r1)| flat[r0 * v..r1 * v].to_vec()).collect();
        Ok((StepOut::Logits(res), taps))
    }

    /// The RMSNorm that follows layer `il`'s mixers (`after_mixers`) or its FFN, when the
    /// stage that reads it takes a scaled input (reads the normed stream through matrix
    /// products alone: every mixer, the dense FFN, a mixture of experts — router, experts
    /// (`matmul_id`) and shared expert — and the LM head when it is the output norm): its weight.
    fn norm_after(&self, il: usize, after_mixers: bool) -> Option<T> {
        let layers = &self.plan.layers;
        if after_mixers {
            if let Some(f) = &layers[il].ffn {
                return Some(f.norm);
            }
        }
        match layers.get(il + 1) {
            None => Some(self.plan.output_norm),
            Some(next) => next.mixer_norm,
        }
    }

    /// Record and submit one step; returns the output buffer, its rows, each sequence's
    /// first token, and the taps to read.
    #[allow(clippy::type_complexity)]
    fn record(&self, ctx: &GpuContext, items: &[SeqStep<'_>], want: Want, taps: bool) -> Result<(wgpu::Buffer, u32, Vec<usize>, Option<GpuTaps>), RunError> {
        let plan = &self.plan;
        let e = self.hp.n_embd;
        let mut r = Recorder::new(ctx);
        // ---- the batch's tables
        let (mut tokens, mut meta, mut tables, mut seqs, mut starts) = (vec![], vec![], vec![], vec![], vec![]);
        let windowed = self.pools.borrow().has_window();
        let mut ring_tables = vec![];
        for s in items {
            let table = tables.len() as u32;
            // One entry per position block: the global layers' block, and at the same offset
            // in `ring_tables` the window layers' ring block.
            let n_blocks = (s.pos + s.tokens.len() as u32).div_ceil(KV_BLOCK);
            let blocks = s.mem.blocks();
            tables.extend((0..n_blocks as usize).map(|i| blocks.get(i).copied().unwrap_or(0)));
            if windowed {
                ring_tables.extend(s.mem.ring_table(n_blocks));
            }
            starts.push(tokens.len());
            let first = tokens.len() as u32;
            seqs.extend_from_slice(&[first, s.tokens.len() as u32, s.mem.slot().unwrap_or(0), 0]);
            for (i, &t) in s.tokens.iter().enumerate() {
                tokens.push(t);
                meta.extend_from_slice(&[s.pos + i as u32, table, first, 0]);
            }
        }
        let n = tokens.len() as u32;
        let batch = BatchBuffers {
            tokens: r.upload_u32(&tokens),
            meta: r.upload_u32(&meta),
            tables: r.upload_u32(&tables),
            ring_tables: windowed.then(|| r.upload_u32(&ring_tables)),
            seqs: r.upload_u32(&seqs),
            n_seqs: items.len() as u32,
            single_slot: if items.len() == 1 { items[0].mem.slot() } else { None },
            one_token_each: items.iter().all(|s| s.tokens.len() == 1),
        };
        let pools = self.pools.borrow();
        let mut g = Graph { r, tensors: &self.weights.tensors, pools: &pools, batch: &batch, n, eps: self.hp.eps, taps: taps.then(GpuTaps::default), normed: None };
        let x = g.scratch(e);
        // A decode step of one token makes each pre-norm in the store of the product that
        // adds into the residual before it, where that product and the norm's readers allow
        // (`NextNorm`, `Recorder::norm_out_rows`): h then holds x·w and partial sums of squares.
        let fuse_norms = n == 1 && !taps && ctx.fuse_dispatches();
        let h = if fuse_norms { g.r.scratch(2 * e as u64) } else { g.scratch(e) };
        // Whether h already holds the next norm (scaled; see `Graph::take_normed`).
        let mut normed = false;

        // ---- token embeddings (× embed_scale)
        // With fused norms, the first layer's pre-norm comes with the embedding row.
        let first_norm = plan.layers.first().and_then(|l| l.mixer_norm).filter(|_| fuse_norms);
        let embed = self.t(plan.token_embd);
        let count = first_norm.and_then(|w| g.r.embed_norm(embed, &batch.tokens, &x, plan.embed_scale, NormOut { w: g.vec(w), h: &h, base: e }));
        if count.is_some() {
            g.normed = count;
            normed = g.take_normed(&h, e);
        } else {
            g.r.embed(embed, &batch.tokens, n, &x, plan.embed_scale);
        }
        g.tap("inp_embd", None, &x, 0, n, e);
        for (il, layer) in plan.layers.iter().enumerate() {
            // A layer's intermediates are dead after it: the next layer reuses them.
            let mark = g.r.scope();
            // ---- x += scale · post(Σ mixer(RMSNorm(x)))
            let rs = layer.residual_scale;
            if let Some(norm) = layer.mixer_norm {
                if !normed {
                    g.rms_norm(&x, 0, norm, &h, n, e);
                }
                g.tap("attn_norm", Some(il), &h, 0, n, e);
                // With a post-norm the mixers' outputs are summed apart, normed, then added.
                let sum = layer.mixer_post_norm.map(|_| g.scratch(e));
                // The post-norm that joins the residual, or else the last mixer adding into it
                // (side-by-side mixers, Falcon-H1: each adds in turn, so the last one's store
                // sees the whole sum), may make the next norm.
                let next = if fuse_norms { self.norm_after(il, true) } else { None };
                let last = layer.mixers.len() - 1;
                for (i, m) in layer.mixers.iter().enumerate() {
                    let states = &pools.layer_states(il)[layer.state_base(i)..];
                    let apart = g.tapping();
                    let o = if apart { g.scratch(e) } else { x.clone() };
                    let join = match &sum {
                        Some(s) => Out { accumulate: i > 0, ..Out::fresh(s) },
                        None => Out { norm: next.filter(|_| i == last).map(|w| NextNorm { w, h: &h }), ..Out::add(&x, rs) },
                    };
                    let out = if apart { Out::fresh(&o) } else { join };
                    match m {
                        Mixer::Attention(a) => a.record(&mut g, il, &h, out),
                        Mixer::Mamba2(mb) => mb.record(&mut g, states, &h, out),
                        Mixer::ShortConv(c) => c.record(&mut g, states, &h, out),
                        Mixer::DeltaNet(d) => d.record(&mut g, states, &h, out),
                        Mixer::Mamba1(mb) => mb.record(&mut g, states, &h, out),
                    }
                    if apart {
                        g.tap(mixer_tap(m), Some(il), &o, 0, n, e);
                        g.add_into(&o, join, e);
                    }
                }
                if let (Some(pn), Some(s)) = (layer.mixer_post_norm, &sum) {
                    let join = Out::add(&x, rs);
                    if g.tapping() {
                        g.rms_norm(s, 0, pn, &h, n, e);
                        g.tap("attn_post_norm", Some(il), &h, 0, n, e);
                        g.add_into(&h, join, e);
                    } else {
                        g.rms_norm_into(s, pn, Out { norm: next.map(|w| NextNorm { w, h: &h }), ..join }, e);
                    }
                }
                normed = g.take_normed(&h, e);
            }
            g.tap("ffn_inp", Some(il), &x, 0, n, e);
            // ---- x += scale · post(FFN(RMSNorm(x)))
            if let Some(f) = &layer.ffn {
                if !normed {
                    g.rms_norm(&x, 0, f.norm, &h, n, e);
                }
                g.tap("ffn_norm", Some(il), &h, 0, n, e);
                let apart = g.tapping() || f.post_norm.is_some();
                let o = if apart { g.scratch(e) } else { x.clone() };
                // The FFN's last product, or the post-norm that joins it, may make the next norm.
                let next = if fuse_norms { self.norm_after(il, false) } else { None };
                let next_norm = next.map(|w| NextNorm { w, h: &h });
                let out = if apart { Out::fresh(&o) } else { Out { norm: next_norm, ..Out::add(&x, rs) } };
                match &f.ffn {
                    Ffn::Dense(d) => d.record(&mut g, &h, out),
                    Ffn::Moe(m) => m.record(&mut g, &h, out),
                }
                g.tap("ffn_out", Some(il), &o, 0, n, e);
                let join = Out::add(&x, rs);
                match f.post_norm {
                    // The post-norm adds into the residual in its own dispatch.
                    Some(pn) if !g.tapping() => g.rms_norm_into(&o, pn, Out { norm: next_norm, ..join }, e),
                    Some(pn) => {
                        g.rms_norm(&o, 0, pn, &h, n, e);
                        g.tap("ffn_post_norm", Some(il), &h, 0, n, e);
                        g.add_into(&h, join, e);
                    }
                    None if apart => g.add_into(&o, join, e),
                    None => {}
                }
                normed = g.take_normed(&h, e);
            }
            g.tap("l_out", Some(il), &x, 0, n, e);
            g.r.end_scope(mark);
        }

        // ---- final norm and LM head, only for the rows whose logits are wanted: every row,
        // or each sequence's last (one sequence: its last row alone).
        let (first, n_out) = if want == Want::All || items.len() > 1 { (0, n) } else { (n - 1, 1) };
        if !normed {
            g.rms_norm(&x, first * e, plan.output_norm, &h, n_out, e);
        }
        g.tap("result_norm", None, &h, 0, n_out, e);
        let v = self.hp.n_vocab;
        let logits = g.r.scratch(n_out as u64 * v as u64);
        g.r.matmul(self.t(plan.output), &h, 0, e, &logits, 0, v, n_out, plan.logit_scale, false);
        if plan.logit_softcap > 0.0 {
            g.elementwise("softcap", &logits, None, n_out * v, plan.logit_softcap);
        }
        g.r.set_scaled_input(None);
        g.tap("result_output", None, &logits, 0, n_out, v);
        let mut out = logits;
        let rows = n_out;
        if want == Want::Argmax {
            // Greedy decoding: reduce each wanted row to its argmax on the GPU.
            use params::argmax as a;
            let ids = g.r.scratch(n_out as u64);
            g.r.dispatch(Shader::Argmax, "argmax", &[(a::logits, &out), (a::out, &ids)], &a::Params { n: v, ..Default::default() }, (n_out, 1, 1));
            out = ids;
        }
        let Graph { r, taps, .. } = g;
        r.submit();
        ctx.check()?;
        Ok((out, rows, starts, taps))
    }
}

/// FNV-1a 64 of bytes.
pub fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

/// The model's fingerprint: metadata and tensor table in a canonical byte form (stable across
/// Braid versions; nothing of Braid's own structs goes in).
fn fingerprint(w: &GpuWeights) -> u64 {
    let mut b: Vec<u8> = vec![];
    fn value(b: &mut Vec<u8>, v: &Value) {
        match v {
            Value::U8(x) => b.extend([0, *x]),
            Value::I8(x) => b.extend([1, *x as u8]),
            Value::U16(x) => b.extend([&[2u8][..], &x.to_le_bytes()].concat()),
            Value::I16(x) => b.extend([&[3u8][..], &x.to_le_bytes()].concat()),
            Value::U32(x) => b.extend([&[4u8][..], &x.to_le_bytes()].concat()),
            Value::I32(x) => b.extend([&[5u8][..], &x.to_le_bytes()].concat()),
            Value::F32(x) => b.extend([&[6u8][..], &x.to_le_bytes()].concat()),
            Value::Bool(x) => b.extend([7, *x as u8]),
            Value::String(s) => {
                b.push(8);
                b.extend((s.len() as u64).to_le_bytes());
                b.extend(s.as_bytes());
            }
            Value::Array(a) => {
                b.push(9);
                b.extend((a.len() as u64).to_le_bytes());
                for i in 0..a.len() {
                    if let Some(x) = a.get(i) {
                        value(b, &x);
                    }
                }
            }
            Value::U64(x) => b.extend([&[10u8][..], &x.to_le_bytes()].concat()),
            Value::I64(x) => b.extend([&[11u8][..], &x.to_le_bytes()].concat()),
            Value::F64(x) => b.extend([&[12u8][..], &x.to_le_bytes()].concat()),
        }
    }
    for (k, v) in &w.index.metadata {
        b.extend((k.len() as u64).to_le_bytes());
        b.extend(k.as_bytes());
        value(&mut b, v);
    }
    for t in &w.index.tensors {
        b.extend((t.name.len() as u64).to_le_bytes());
        b.extend(t.name.as_bytes());
        b.extend(t.ty.name().as_bytes());
        for d in &t.dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(t.offset.to_le_bytes());
    }
    fnv1a64(&b)
}
