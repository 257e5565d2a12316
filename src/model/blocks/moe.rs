//! Mixture-of-experts FFN (llama.cpp `build_moe_ffn`): router logits → probabilities (softmax,
//! sigmoid, or softmax over the chosen logits) → selection scores (+ `exp_probs_b`; group-
//! limited routing when the file has expert groups) → top k → weights (normalised to sum 1
//! when asked, times `expert_weights_scale`) → each chosen expert's FFN (gated SiLU or ReLU²)
//! → Σ weight · output in slot order, plus a shared expert (optionally gated by
//! sigmoid(W·x), Qwen3-Next) and optional latent projections around the experts
//! (Nemotron-H MoE). On the GPU nothing of the routing goes back to the CPU: `moe_route` picks
//! the experts, `moe_group` groups the (token, slot) pairs by expert and writes the indirect
//! dispatch of the expert matmuls, which read only the chosen experts' rows, once per tile.

use super::super::graph::{Graph, Out};
use super::super::hparams::ModelError;
use super::super::plan::{Tensors, T};
use super::super::reference::{matvec, silu, RefWeights};
use super::ffn::{Activation, DenseFfn};
use crate::gpu::ops::Shader;
use crate::gpu::params;

/// How router logits become probabilities (llama.cpp's `expert_gating_func`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gating {
    Softmax = 1,
    Sigmoid = 2,
    /// Softmax over the chosen experts' logits only.
    SoftmaxWeight = 3,
}

impl Gating {
    /// From `{arch}.expert_gating_func` (llama.cpp's enum: 1 softmax, 2 sigmoid, 3 softmax
    /// weight); `None` for values Braid does not run.
    pub fn from_id(id: u32) -> Option<Gating> {
        match id {
            1 => Some(Gating::Softmax),
            2 => Some(Gating::Sigmoid),
            3 => Some(Gating::SoftmaxWeight),
            _ => None,
        }
    }
}

/// What an architecture's MoE layer looks like (from its metadata).
#[derive(Debug, Clone, Copy)]
pub struct MoeSpec {
    pub n_expert: u32,
    /// Experts per token.
    pub k: u32,
    /// Rows of one expert's up / gate projection.
    pub n_ff: u32,
    /// Experts have `ffn_gate_exps` (SwiGLU); otherwise `act` alone.
    pub gated: Option<bool>,
    pub act: Activation,
    pub gating: Gating,
    /// `exp_probs_b.bias`: required, optional, or not read.
    pub probs_bias: Need,
    pub norm_w: bool,
    pub w_scale: f32,
    /// Expert groups and how many are used (DeepSeek-style group-limited routing).
    pub groups: (u32, u32),
    /// The shared expert's width (0: none) and whether it is gated (SwiGLU) or plain.
    pub shared_ff: u32,
    pub shared_gated: bool,
    /// Qwen3-Next's `ffn_gate_inp_shexp`: the shared expert × sigmoid(W·x).
    pub shared_gate: bool,
    /// Nemotron-H's latent projections around the experts (0: none).
    pub latent: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
    No,
}

#[derive(Debug, Clone)]
pub struct Moe {
    pub spec: MoeSpec,
    /// The model width the block reads and writes.
    pub n_embd: u32,
    /// [n_embd, n_expert] (kept F32 by llama-quantize)
    pub router: T,
    /// [n_expert]
    pub probs_bias: Option<T>,
    /// [d, n_ff, n_expert] ×2 and [n_ff, d, n_expert], d = latent or n_embd
    pub gate: Option<T>,
    pub up: T,
    pub down: T,
    pub shared: Option<DenseFfn>,
    /// [n_embd] → one sigmoid gate per token
    pub shared_gate: Option<T>,
    /// [n_embd, latent] and [latent, n_embd]
    pub latent: Option<(T, T)>,
}

impl Moe {
    /// The `ffn_*_exps` / `ffn_gate_inp` / `exp_probs_b` / `*_shexp` tensors of layer `il`.
    pub fn resolve(t: &mut Tensors, il: usize, n_embd: u32, s: MoeSpec) -> Result<Moe, ModelError> {
        let b = |x: &str| format!("blk.{il}.{x}");
        if s.n_expert == 0 || s.k == 0 || s.k > s.n_expert || s.k > 64 || s.n_expert > 1024 || s.n_ff == 0 {
            return Err(ModelError::BadHparams(format!("layer {il}: {} experts, {} used, width {} (Braid runs up to 1024 experts, 64 used)", s.n_expert, s.k, s.n_ff)));
        }
        if s.groups.0 > 1 && (s.groups.0 > 64 || s.n_expert % s.groups.0 != 0 || s.groups.1 == 0 || s.groups.1 > s.groups.0) {
            return Err(ModelError::BadHparams(format!("layer {il}: {} expert groups, {} used", s.groups.0, s.groups.1)));
        }
        if s.latent > 0 && s.shared_gate {
            return Err(ModelError::UnsupportedFeature(format!("layer {il}: latent experts with a gated shared expert")));
        }
        let (e, ne, ff) = (n_embd as u64, s.n_expert as u64, s.n_ff as u64);
        let d = if s.latent > 0 { s.latent as u64 } else { e };
        let gate = match s.gated {
            Some(true) => Some(t.matrix(&b("ffn_gate_exps.weight"), &[d, ff, ne])?),
            Some(false) => None,
            None => t.opt_matrix(&b("ffn_gate_exps.weight"), &[d, ff, ne])?,
        };
        let probs_bias = match s.probs_bias {
            Need::Required => Some(t.f32(&b("exp_probs_b.bias"), &[ne])?),
            Need::Optional => t.opt_f32(&b("exp_probs_b.bias"), &[ne])?,
            Need::No => None,
        };
        let shared = if s.shared_ff > 0 {
            let act = if s.shared_gated { Activation::Silu } else { Activation::ReluSqr };
            Some(DenseFfn::resolve_named(t, il, n_embd, s.shared_ff, s.shared_gated, act, "_shexp")?)
        } else {
            None
        };
        let latent = if s.latent > 0 {
            Some((t.matrix(&b("ffn_latent_down.weight"), &[e, d])?, t.matrix(&b("ffn_latent_up.weight"), &[d, e])?))
        } else {
            None
        };
        Ok(Moe {
            spec: MoeSpec { gated: Some(gate.is_some()), ..s },
            n_embd,
            router: t.matrix(&b("ffn_gate_inp.weight"), &[e, ne])?,
            probs_bias,
            gate,
            up: t.matrix(&b("ffn_up_exps.weight"), &[d, ff, ne])?,
            down: t.matrix(&b("ffn_down_exps.weight"), &[ff, d, ne])?,
            shared,
            shared_gate: if s.shared_gate { Some(t.matrix(&b("ffn_gate_inp_shexp.weight"), &[e])?) } else { None },
            latent,
        })
    }

    /// The width the experts work in (latent or n_embd).
    fn d(&self) -> u32 {
        if self.spec.latent > 0 { self.spec.latent } else { self.n_embd }
    }

    fn route_params(&self, n_tok: u32) -> params::moe::Params {
        let s = &self.spec;
        params::moe::Params {
            n_tok,
            n_expert: s.n_expert,
            k: s.k,
            gating: s.gating as u32,
            has_bias: self.probs_bias.is_some() as u32,
            norm_w: s.norm_w as u32,
            w_scale: s.w_scale,
            n_groups: s.groups.0,
            group_used: s.groups.1,
            ..Default::default()
        }
    }

    pub(crate) fn record(&self, g: &mut Graph, h: &wgpu::Buffer, out: Out) {
        use params::moe as m;
        let s = self.spec;
        let (n, k, d, e, ff) = (g.n, s.k, self.d(), self.n_embd, s.n_ff);
        // ---- router logits [n, n_expert] and the experts' input
        let logits = g.scratch(s.n_expert);
        g.linear(self.router, None, h, Out::fresh(&logits), s.n_expert);
        let xin = match self.latent {
            Some((down, _)) => {
                let l = g.scratch(d);
                g.linear(down, None, h, Out::fresh(&l), d);
                l
            }
            None => h.clone(),
        };
        // ---- route: ids and weights [n, k]; group the pairs by expert
        let ids = g.scratch(k);
        let weights = g.scratch(k);
        let mut p = self.route_params(n);
        let bias = self.probs_bias.map_or(&logits, |b| g.vec(b));
        g.r.dispatch(Shader::Moe, "moe_route", &[(m::logits, &logits), (m::bias, bias), (m::ids, &ids), (m::weights, &weights)], &p, (n, 1, 1));
        let (tile, y_a) = g.r.matmul_id_shape(ff);
        let (_, y_b) = g.r.matmul_id_shape(d);
        let pairs = g.scratch(k);
        let tiles = g.r.scratch_bytes(16 * (n as u64 * k as u64 + s.n_expert as u64));
        let args = g.r.scratch_bytes(32);
        p.tile = tile;
        p.y_a = y_a;
        p.y_b = y_b;
        g.r.dispatch(Shader::Moe, "moe_group", &[(m::ids, &ids), (m::pairs, &pairs), (m::tiles, &tiles), (m::args, &args)], &p, (1, 1, 1));
        // ---- the chosen experts: up (and gate), activation, down — [n·k, ·] rows
        let up = g.r.scratch(n as u64 * k as u64 * ff as u64);
        g.r.matmul_id(g.t(self.up), &xin, &up, &pairs, &tiles, &args, 0, false, k);
        let len = n * k * ff;
        let act = match self.gate {
            Some(gate) => {
                let gt = g.r.scratch(len as u64);
                g.r.matmul_id(g.t(gate), &xin, &gt, &pairs, &tiles, &args, 0, false, k);
                g.elementwise("silu_mul", &gt, Some(&up), len, 1.0);
                gt
            }
            None => {
                let f = if s.act == Activation::ReluSqr { "relu_sqr" } else { "silu" };
                g.elementwise(f, &up, None, len, 1.0);
                up
            }
        };
        let down = g.r.scratch(n as u64 * k as u64 * d as u64);
        g.r.matmul_id(g.t(self.down), &act, &down, &pairs, &tiles, &args, 12, true, k);
        // ---- the shared expert and its gate
        let shared = self.shared.as_ref().map(|f| {
            let sh = g.scratch(e);
            f.record(g, h, Out::fresh(&sh));
            sh
        });
        let sgate = self.shared_gate.map(|w| {
            let sg = g.scratch(1);
            g.linear(w, None, h, Out::fresh(&sg), 1);
            sg
        });
        // ---- Σ weight · expert, (+ shared), into `out`
        let combine = |g: &mut Graph, width: u32, shared: Option<&wgpu::Buffer>, sgate: Option<&wgpu::Buffer>, o: Out| {
            let (gx, gy) = g.r.grid(n as u64 * width as u64);
            let mut cp = self.route_params(n);
            cp.width = width;
            cp.alpha = o.alpha;
            cp.accumulate = o.accumulate as u32;
            cp.shared_mode = match (shared, sgate) {
                (Some(_), Some(_)) => 2,
                (Some(_), None) => 1,
                _ => 0,
            };
            let sh = shared.unwrap_or(&down);
            let sg = sgate.unwrap_or(&down);
            g.r.dispatch(
                Shader::Moe,
                "moe_combine",
                &[(m::weights, &weights), (m::down, &down), (m::shexp, sh), (m::sgate, sg), (m::out, o.buf)],
                &cp,
                (gx, gy, 1),
            );
        };
        match self.latent {
            Some((_, up_l)) => {
                let mo = g.scratch(d);
                combine(g, d, None, None, Out::fresh(&mo));
                let t = g.scratch(e);
                g.linear(up_l, None, &mo, Out::fresh(&t), e);
                if let Some(sh) = &shared {
                    g.elementwise("add_scaled", &t, Some(sh), n * e, 1.0);
                }
                g.add_into(&t, out, e);
            }
            None => combine(g, e, shared.as_ref(), sgate.as_ref(), out),
        }
    }

    /// One token with plain loops.
    pub(crate) fn reference(&self, w: &RefWeights, h: &[f32]) -> Vec<f32> {
        let s = self.spec;
        let (ne, k, d, ff) = (s.n_expert as usize, s.k as usize, self.d() as usize, s.n_ff as usize);
        let logits = matvec(&w[self.router], h);
        let probs: Vec<f32> = match s.gating {
            Gating::Softmax => {
                let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let ex: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
                let sum: f32 = ex.iter().sum();
                ex.iter().map(|v| v / sum).collect()
            }
            Gating::Sigmoid => logits.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
            Gating::SoftmaxWeight => logits.clone(),
        };
        let mut score: Vec<f32> = probs.iter().enumerate().map(|(i, p)| p + self.probs_bias.map_or(0.0, |b| w[b][i])).collect();
        let (n_groups, used) = (s.groups.0 as usize, s.groups.1 as usize);
        if n_groups > 1 {
            let per = ne / n_groups;
            let gs: Vec<f32> = (0..n_groups)
                .map(|g| {
                    let mut v: Vec<f32> = score[g * per..(g + 1) * per].to_vec();
                    v.sort_by(|a, b| b.total_cmp(a));
                    v[0] + v.get(1).copied().unwrap_or(f32::MIN)
                })
                .collect();
            let mut keep = vec![false; n_groups];
            for _ in 0..used {
                let best = (0..n_groups).filter(|&g| !keep[g]).fold(None, |b: Option<usize>, g| match b {
                    Some(b) if gs[b] >= gs[g] => Some(b),
                    _ => Some(g),
                });
                if let Some(b) = best {
                    keep[b] = true;
                }
            }
            for g in (0..n_groups).filter(|&g| !keep[g]) {
                score[g * per..(g + 1) * per].iter_mut().for_each(|v| *v = f32::MIN);
            }
        }
        let mut ids = vec![];
        for _ in 0..k {
            let best = (0..ne).fold(0, |b, i| if score[i] > score[b] { i } else { b });
            ids.push(best);
            score[best] = f32::MIN;
        }
        let mut wt: Vec<f32> = ids.iter().map(|&i| probs[i]).collect();
        if s.gating == Gating::SoftmaxWeight {
            let m = wt.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            wt.iter_mut().for_each(|v| *v = (*v - m).exp());
            let sum: f32 = wt.iter().sum();
            wt.iter_mut().for_each(|v| *v /= sum);
        }
        if s.norm_w {
            let sum: f32 = wt.iter().sum::<f32>().max(6.103515625e-5);
            wt.iter_mut().for_each(|v| *v /= sum);
        }
        if s.w_scale != 0.0 && s.w_scale != 1.0 {
            wt.iter_mut().for_each(|v| *v *= s.w_scale);
        }
        let xin = match self.latent {
            Some((down, _)) => matvec(&w[down], h),
            None => h.to_vec(),
        };
        let mut acc = vec![0.0f32; d];
        for (j, &ex) in ids.iter().enumerate() {
            let rows = |t: T, n_rows: usize, row_len: usize| &w[t][ex * n_rows * row_len..(ex + 1) * n_rows * row_len];
            let u = matvec(rows(self.up, ff, d), &xin);
            let a: Vec<f32> = match self.gate {
                Some(g) => matvec(rows(g, ff, d), &xin).iter().zip(&u).map(|(g, u)| silu(*g) * u).collect(),
                None if s.act == Activation::ReluSqr => u.iter().map(|v| v.max(0.0) * v.max(0.0)).collect(),
                None => u.iter().map(|v| silu(*v)).collect(),
            };
            let o = matvec(rows(self.down, d, ff), &a);
            for (x, y) in acc.iter_mut().zip(&o) {
                *x = if j == 0 { y * wt[j] } else { *x + y * wt[j] };
            }
        }
        if let Some((_, up_l)) = self.latent {
            acc = matvec(&w[up_l], &acc);
        }
        if let Some(f) = &self.shared {
            let sh = f.reference(w, h);
            let gate = self.shared_gate.map_or(1.0, |g| {
                let v: f32 = w[g].iter().zip(h).map(|(a, b)| a * b).sum();
                1.0 / (1.0 + (-v).exp())
            });
            acc.iter_mut().zip(&sh).for_each(|(a, b)| *a += if self.shared_gate.is_some() { b * gate } else { *b });
        }
        acc
    }
}
