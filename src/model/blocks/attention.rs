//! Causal GQA attention (llama.cpp `build_qkv` + `build_attn`): q, k, v projections (optional
//! biases), optional per-head q/k RMSNorm (LFM2, Qwen3), optional RoPE (NORM or NEOX, partial
//! rotary dims), softmax(q·kᵀ·scale) over the session's positions (optionally a sliding
//! window), output projection. Keeps K and V rows of every position (a KV block table).

use super::super::graph::{Graph, Out};
use super::super::hparams::ModelError;
use super::super::plan::{Tensors, T};
use super::super::reference::{matvec, rms_norm, RefLayer, RefWeights};
use crate::gpu::ops::{self, Shader};
use crate::gpu::params;
use crate::gpu::tensor::{concat_rows, concat_vectors};
use crate::gpu::{GpuTensor, GpuWeights};
use crate::memory::{KvRows, LayerMemory, KV_BLOCK};

/// Rotary position embedding (spec §1.4: NORM rotates adjacent pairs, NEOX split halves).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub neox: bool,
    /// Rotated dims per head (≤ head_dim, even).
    pub n_rot: u32,
    /// `rope.freq_base`.
    pub theta: f32,
    /// Qwen3.5's interleaved M-RoPE sections (`rope.dimension_sections`); for text tokens
    /// pairs outside the t/h/w sections are not rotated (see `rope_on`).
    pub sections: Option<[u32; 4]>,
    /// Llama 3's `rope_freqs.weight` [n_rot / 2]: pair i's angle is divided by it (ggml's
    /// freq_factors).
    pub freq_factors: Option<T>,
    /// Linear RoPE scaling: angles are multiplied by this (1 / `rope.scaling.factor` for
    /// `rope.scaling.type` linear; ggml's `freq_scale`). 1: none.
    pub freq_scale: f32,
}

impl Rope {
    /// Whether rotary pair `i` rotates by the token's position (always, unless IMROPE
    /// sections leave it to the 4th position, which is 0 for text; ggml
    /// `ggml_mrope_cache_init`).
    pub fn rope_on(&self, i: u32) -> bool {
        let Some(s) = self.sections else { return true };
        let dims: u32 = s.iter().sum();
        let sector = i % dims.max(1);
        match sector % 3 {
            1 => sector < 3 * s[1],
            2 => sector < 3 * s[2],
            _ => sector < 3 * s[0],
        }
    }
}

/// Whether an architecture's attention has per-head q/k RMSNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    None,
    Required,
}

#[derive(Debug, Clone)]
pub struct Attention {
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    /// [n_embd, n_head·hd], [n_embd, n_kv·hd] ×2, [n_head·hd, n_embd]
    pub wq: T,
    pub wk: T,
    pub wv: T,
    pub wo: T,
    pub bq: Option<T>,
    pub bk: Option<T>,
    pub bv: Option<T>,
    pub bo: Option<T>,
    /// [hd] each.
    pub q_norm: Option<T>,
    pub k_norm: Option<T>,
    pub rope: Option<Rope>,
    /// Softmax scale (1/√hd unless the architecture says otherwise).
    pub kq_scale: f32,
    /// Sliding window in positions (0: every position).
    pub window: u32,
    /// Qwen3.5 / Qwen3-Next: `attn_q` also produces an output gate per head ([q(hd), gate(hd)]
    /// per head) and the attention output is multiplied by sigmoid(gate).
    pub gated: bool,
    /// The GPU products that fill each token's `[q | k | v]` row: `wq`, `wk`, `wv` with their
    /// biases as resolved, or fewer once [`Attention::fuse_qkv`] has stacked neighbours of
    /// one type into one matrix at load (the CPU reference reads `wq`, `wk`, `wv`).
    pub qkv: Vec<QkvProduct>,
    /// `[q_norm | k_norm]` in one GPU vector ([`Attention::join_qk_norms`]): the kernels that
    /// norm heads bind one buffer for both.
    pub qk_norms: Option<T>,
}

/// One product of the attention input: rows `row0 .. row0 + rows` of each token's
/// `[q | k | v]` row are `w · h (+ b)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QkvProduct {
    pub w: T,
    pub b: Option<T>,
    pub row0: u32,
    pub rows: u32,
}

impl Attention {
    /// The tensors of layer `il` under llama.cpp's names: `attn_q/k/v/output.weight`, their
    /// optional biases, and `attn_q_norm` / `attn_k_norm` when `qk_norm` asks for them.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        t: &mut Tensors,
        il: usize,
        n_embd: u32,
        n_head: u32,
        n_head_kv: u32,
        head_dim: u32,
        qk_norm: QkNorm,
        rope: Option<Rope>,
        kq_scale: f32,
    ) -> Result<Attention, ModelError> {
        Self::resolve_gated(t, il, n_embd, n_head, n_head_kv, head_dim, qk_norm, rope, kq_scale, false)
    }

    /// As [`Attention::resolve`]; `gated`: `attn_q` is [n_embd, 2·n_head·hd] with each head's
    /// output gate after its query (Qwen3.5, Qwen3-Next).
    #[allow(clippy::too_many_arguments)]
    pub fn resolve_gated(
        t: &mut Tensors,
        il: usize,
        n_embd: u32,
        n_head: u32,
        n_head_kv: u32,
        head_dim: u32,
        qk_norm: QkNorm,
        rope: Option<Rope>,
        kq_scale: f32,
        gated: bool,
    ) -> Result<Attention, ModelError> {
        if n_head == 0 || n_head_kv == 0 || head_dim == 0 || n_head % n_head_kv != 0 || head_dim > 512 || head_dim % 4 != 0 {
            return Err(ModelError::BadHparams(format!("layer {il}: n_head {n_head}, n_head_kv {n_head_kv}, head_dim {head_dim}")));
        }
        if let Some(r) = rope {
            if r.n_rot > head_dim || r.n_rot % 2 != 0 {
                return Err(ModelError::BadHparams(format!("layer {il}: {} rotary dims for head_dim {head_dim}", r.n_rot)));
            }
        }
        let b = |s: &str| format!("blk.{il}.{s}");
        let (e, q, kv) = (n_embd as u64, (n_head * head_dim) as u64, (n_head_kv * head_dim) as u64);
        if t.index.tensor_index(&b("attn_qkv.weight")).is_some() {
            return Err(ModelError::UnsupportedFeature(format!("fused {} tensor", b("attn_qkv.weight"))));
        }
        let (q_norm, k_norm) = match qk_norm {
            QkNorm::None => (None, None),
            QkNorm::Required => (Some(t.f32(&b("attn_q_norm.weight"), &[head_dim as u64])?), Some(t.f32(&b("attn_k_norm.weight"), &[head_dim as u64])?)),
        };
        let q_row = if gated { 2 * q } else { q };
        let (wq, wk, wv) = (t.matrix(&b("attn_q.weight"), &[e, q_row])?, t.matrix(&b("attn_k.weight"), &[e, kv])?, t.matrix(&b("attn_v.weight"), &[e, kv])?);
        let (bq, bk, bv) = (t.opt_f32(&b("attn_q.bias"), &[q])?, t.opt_f32(&b("attn_k.bias"), &[kv])?, t.opt_f32(&b("attn_v.bias"), &[kv])?);
        let (q_row, kv) = (q_row as u32, kv as u32);
        let qkv = vec![
            QkvProduct { w: wq, b: bq, row0: 0, rows: q_row },
            QkvProduct { w: wk, b: bk, row0: q_row, rows: kv },
            QkvProduct { w: wv, b: bv, row0: q_row + kv, rows: kv },
        ];
        Ok(Attention {
            n_head,
            n_head_kv,
            head_dim,
            wq,
            wk,
            wv,
            wo: t.matrix(&b("attn_output.weight"), &[q, e])?,
            bq,
            bk,
            bv,
            bo: t.opt_f32(&b("attn_output.bias"), &[e])?,
            q_norm,
            k_norm,
            rope,
            kq_scale,
            window: 0,
            gated,
            qkv,
            qk_norms: None,
        })
    }

    /// Make [`Attention::qk_norms`] (appended to `w.tensors`; the two originals' buffers are
    /// freed) when the layer norms heads.
    pub(crate) fn join_qk_norms(&mut self, il: usize, w: &mut GpuWeights) {
        let Some((qn, kn)) = self.q_norm.zip(self.k_norm) else { return };
        let hd = self.head_dim as u64;
        let joint = concat_vectors(&w.ctx, &format!("blk.{il}.attn_qk_norm.weight"), &[(Some(&w.tensors[qn]), hd), (Some(&w.tensors[kn]), hd)]);
        // Only the joint vector is read on the GPU: free the originals (wgpu keeps them until
        // the copies have run).
        w.tensors[qn].parts.clear();
        w.tensors[kn].parts.clear();
        w.tensors.push(joint);
        self.qk_norms = Some(w.tensors.len() - 1);
    }

    /// Stack each run of neighbouring input products whose matrices share a type (and fit one
    /// binding; [`concat_rows`]) into one matrix named `blk.{il}.attn_qkv.weight` (or
    /// `attn_qk` / `attn_kv`), appended to `w.tensors`, with their biases stacked the same
    /// way: one dispatch instead of up to three. The stacked originals' buffers are freed, so
    /// the weights take the same GPU memory. Llama.cpp's Q4_K_M mix gives some layers a Q6_K
    /// `attn_v`: those stack q and k only.
    pub(crate) fn fuse_qkv(&mut self, il: usize, w: &mut GpuWeights) {
        let mut fused = vec![];
        let mut i = 0;
        while i < self.qkv.len() {
            // The longest run from i that stacks.
            let mut j = self.qkv.len();
            let mut stacked = None;
            while j > i + 1 {
                let members: Vec<&GpuTensor> = self.qkv[i..j].iter().map(|p| &w.tensors[p.w]).collect();
                // A bias must cover its product's rows (stacked biases are read by row).
                let biases_fit = self.qkv[i..j].iter().all(|p| p.b.is_none_or(|b| w.tensors[b].info.n_elements == p.rows as u64));
                let tag = match (i, j) {
                    (0, 3) => "qkv",
                    (0, 2) => "qk",
                    _ => "kv",
                };
                if let Some(t) = biases_fit.then(|| concat_rows(&w.ctx, &format!("blk.{il}.attn_{tag}.weight"), &members)).flatten() {
                    stacked = Some((t, tag));
                    break;
                }
                j -= 1;
            }
            let Some((t, tag)) = stacked else {
                fused.push(self.qkv[i]);
                i += 1;
                continue;
            };
            let run = &self.qkv[i..j];
            let b = run.iter().any(|p| p.b.is_some()).then(|| {
                let members: Vec<(Option<&GpuTensor>, u64)> = run.iter().map(|p| (p.b.map(|b| &w.tensors[b]), p.rows as u64)).collect();
                concat_vectors(&w.ctx, &format!("blk.{il}.attn_{tag}.bias"), &members)
            });
            let (row0, rows) = (run[0].row0, run.iter().map(|p| p.rows).sum());
            // Free the originals' buffers (wgpu keeps them until the copies have run).
            for p in run {
                w.tensors[p.w].parts.clear();
                if let Some(b) = p.b {
                    w.tensors[b].parts.clear();
                }
            }
            w.tensors.push(t);
            let wt = w.tensors.len() - 1;
            let bt = b.map(|b| {
                w.tensors.push(b);
                w.tensors.len() - 1
            });
            fused.push(QkvProduct { w: wt, b: bt, row0, rows });
            i = j;
        }
        self.qkv = fused;
    }

    fn q_dim(&self) -> u32 {
        self.n_head * self.head_dim
    }

    fn kv_dim(&self) -> u32 {
        self.n_head_kv * self.head_dim
    }

    pub fn memory(&self) -> LayerMemory {
        LayerMemory { kv: Some(KvRows { k: self.kv_dim(), v: self.kv_dim(), window: self.window }), states: vec![] }
    }

    /// q,k,v projections, q/k norms, RoPE at each token's position, K/V rows stored into the
    /// pool through the block tables, attention, output projection into `out`.
    pub(crate) fn record(&self, g: &mut Graph, il: usize, h: &wgpu::Buffer, out: Out) {
        use params::attention as a;
        let Some((kp, vp)) = g.pools.layer_kv(il) else { return };
        let kv16 = g.pools.layout.kv_f16;
        let (n, hd) = (g.n, self.head_dim);
        let (q_dim, kv_dim) = (self.q_dim(), self.kv_dim());
        // A gated query keeps [q(hd), gate(hd)] per head: heads are 2·hd apart.
        let (q_row, q_head) = if self.gated { (2 * q_dim, 2 * hd) } else { (q_dim, hd) };
        // Each token's [q | k | v] row, filled by one to three products.
        let row = q_row + 2 * kv_dim;
        let qkv = g.scratch(row);
        for p in &self.qkv {
            g.linear(p.w, p.b, h, Out::fresh(&qkv).rows_at(p.row0, row), p.rows);
        }
        // q_norm / k_norm and RoPE of the query and key heads: one dispatch (`qk_norm_rope`),
        // or, in a decode step (one token per session), inside the attention dispatch.
        let rope = self.rope;
        let norm_n = if self.qk_norms.is_some() { hd } else { 0 };
        let prep = self.qk_norms.is_some() || rope.is_some();
        let rope_here = prep && g.batch.one_token_each && g.r.ctx.fuse_dispatches();
        let sections = rope.and_then(|r| r.sections).unwrap_or_default();
        // Unused bindings (no freq factors, no norms) take a read-only stand-in.
        let meta = &g.batch.meta;
        let ff = rope.and_then(|r| r.freq_factors).map_or(meta, |f| g.vec(f));
        let qkn = self.qk_norms.map_or(meta, |j| g.vec(j));
        let rp = params::rope::Params {
            n_rot: rope.map_or(0, |r| r.n_rot),
            neox: rope.is_some_and(|r| r.neox) as u32,
            theta_scale: rope.map_or(1.0, |r| r.theta.powf(-2.0 / r.n_rot as f32)),
            imrope: rope.is_some_and(|r| r.sections.is_some()) as u32,
            sect0: sections[0],
            sect1: sections[1],
            sect2: sections[2],
            sect_dims: sections.iter().sum(),
            has_ff: rope.is_some_and(|r| r.freq_factors.is_some()) as u32,
            freq_scale: rope.map_or(1.0, |r| r.freq_scale),
            norm_n,
            eps: g.eps,
            ..Default::default()
        };
        if prep && !rope_here {
            use params::rope as r;
            let heads = n * (self.n_head + self.n_head_kv);
            let (gx, gy) = g.r.rows_grid(heads as u64);
            let p = r::Params {
                n_tok: n,
                n_heads: self.n_head,
                head_dim: q_head,
                stride: row,
                groups_x: gx,
                k_heads: self.n_head_kv,
                k_head_dim: hd,
                k_offset: q_row,
                k_stride: row,
                ..rp
            };
            g.r.dispatch(Shader::Rope, "qk_norm_rope", &[(r::v, &qkv), (r::positions, meta), (r::ff, ff), (r::qkn, qkn)], &p, (gx, gy, 1));
        }
        let p = a::Params {
            n_tok: n,
            n_head: self.n_head,
            n_kv: self.n_head_kv,
            head_dim: hd,
            block: KV_BLOCK,
            q_stride: row,
            k_offset: q_row,
            v_offset: q_row + kv_dim,
            kv_dim,
            out_stride: q_dim,
            scale: self.kq_scale,
            window: self.window,
            q_head,
            gated: self.gated as u32,
            rope_here: rope_here as u32,
            n_rot: rp.n_rot,
            neox: rp.neox,
            theta_scale: rp.theta_scale,
            imrope: rp.imrope,
            sect0: rp.sect0,
            sect1: rp.sect1,
            sect2: rp.sect2,
            sect_dims: rp.sect_dims,
            has_ff: rp.has_ff,
            freq_scale: rp.freq_scale,
            norm_n,
            eps: g.eps,
        };
        let b = g.batch;
        // A window layer's rows live in its ring (see `memory::sequence`).
        let tables = match (&b.ring_tables, self.window > 0) {
            (Some(t), true) => t,
            _ => &b.tables,
        };
        let att = g.scratch(q_dim);
        // One workgroup per (query head, token); on CPU adapters with 8-lane subgroups the
        // kernel that shares loads by broadcast, one workgroup per G query heads of a KV head.
        // (Native only: see `ops::attention_sg_source`.)
        let able = !cfg!(target_arch = "wasm32") && g.r.ctx.share_x();
        let sg = able.then(|| ops::attention_sg_shape(hd, self.n_head / self.n_head_kv)).flatten();
        let (shader, entry, heads) = match sg {
            Some((nc, gh)) => (Shader::AttentionSg(kv16, nc, gh), "attention_sg", self.n_head / gh),
            None => (Shader::Attention(kv16), "attention", self.n_head),
        };
        g.r.dispatch(
            shader,
            entry,
            &[(a::q, &qkv), (a::kc, kp), (a::vc, vp), (a::out, &att), (a::tmeta, &b.meta), (a::tables, tables), (a::ff, ff), (a::qkn, qkn)],
            &p,
            (heads, n, 1),
        );
        g.linear(self.wo, self.bo, &att, out, g.t(self.wo).info.n_rows() as u32);
    }

    /// The same for one token at position `pos`, with plain loops.
    pub(crate) fn reference(&self, w: &RefWeights, st: &mut RefLayer, pos: usize, h: &[f32], eps: f32) -> Vec<f32> {
        let (hd, nh, nkv) = (self.head_dim as usize, self.n_head as usize, self.n_head_kv as usize);
        let proj = |m: T, b: Option<T>| {
            let mut y = matvec(&w[m], h);
            if let Some(b) = b {
                y.iter_mut().zip(&w[b]).for_each(|(a, b)| *a += b);
            }
            y
        };
        let mut q = proj(self.wq, self.bq);
        let mut gate = vec![];
        if self.gated {
            let qg = std::mem::take(&mut q);
            for head in qg.chunks_exact(2 * hd) {
                q.extend_from_slice(&head[..hd]);
                gate.extend_from_slice(&head[hd..]);
            }
        }
        let mut k = proj(self.wk, self.bk);
        let v = proj(self.wv, self.bv);
        if let (Some(qn), Some(kn)) = (self.q_norm, self.k_norm) {
            q = q.chunks_exact(hd).flat_map(|r| rms_norm(r, &w[qn], eps)).collect();
            k = k.chunks_exact(hd).flat_map(|r| rms_norm(r, &w[kn], eps)).collect();
        }
        if let Some(r) = self.rope {
            let ff = r.freq_factors.map(|f| &w[f][..]);
            rope(&mut q, hd, pos, &r, ff);
            rope(&mut k, hd, pos, &r, ff);
        }
        st.k.extend_from_slice(&k);
        st.v.extend_from_slice(&v);
        let n = pos + 1;
        let first = if self.window > 0 { n.saturating_sub(self.window as usize) } else { 0 };
        let mut o = vec![0.0; nh * hd];
        for head in 0..nh {
            let kvh = head / (nh / nkv);
            let qh = &q[head * hd..(head + 1) * hd];
            let scores: Vec<f32> = (first..n)
                .map(|j| {
                    let kj = &st.k[(j * nkv + kvh) * hd..(j * nkv + kvh + 1) * hd];
                    qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * self.kq_scale
                })
                .collect();
            let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let p: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
            let sum: f32 = p.iter().sum();
            for (jj, pj) in p.iter().enumerate() {
                let j = first + jj;
                let vj = &st.v[(j * nkv + kvh) * hd..(j * nkv + kvh + 1) * hd];
                for d in 0..hd {
                    o[head * hd + d] += pj / sum * vj[d];
                }
            }
        }
        if self.gated {
            o.iter_mut().zip(&gate).for_each(|(a, g)| *a /= 1.0 + (-g).exp());
        }
        let mut y = matvec(&w[self.wo], &o);
        if let Some(b) = self.bo {
            y.iter_mut().zip(&w[b]).for_each(|(a, b)| *a += b);
        }
        y
    }
}

/// Rotate the first `n_rot` dims of each `hd`-sized head in place (ggml's theta recurrence).
pub fn rope(x: &mut [f32], hd: usize, pos: usize, r: &Rope, ff: Option<&[f32]>) {
    let (n_rot, neox) = (r.n_rot as usize, r.neox);
    let scale = r.theta.powf(-2.0 / n_rot as f32);
    for head in x.chunks_exact_mut(hd) {
        let mut theta = pos as f32;
        for i in 0..n_rot / 2 {
            let mut th = if r.rope_on(i as u32) { theta } else { 0.0 };
            if let Some(ff) = ff {
                th /= ff[i];
            }
            th *= r.freq_scale;
            let (c, s) = (th.cos(), th.sin());
            let (a, b) = if neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
            theta *= scale;
        }
    }
}
