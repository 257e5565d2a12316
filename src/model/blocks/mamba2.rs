//! The Mamba2 mixer (spec §2.1, llama.cpp `build_mamba2_layer`): in_proj → z | xBC | dt;
//! causal depthwise conv of xBC with carried (d_conv−1)-wide state, + bias, SiLU; selective
//! scan with per-head A and Δ = softplus(dt + dt_bias), D skip, SiLU(z) gate; grouped RMSNorm
//! (when `ssm_norm` exists); out_proj. Keeps a conv window and an SSM state per sequence.

use super::super::graph::{Graph, Out};
use super::super::hparams::{ModelError, SsmParams};
use super::super::plan::{Tensors, T};
use super::super::reference::{matvec, rms_norm, silu, softplus, RefWeights};
use crate::gpu::ops::{Epilogue, Shader};
use crate::gpu::params;
use crate::memory::{LayerMemory, StateTensor};

#[derive(Debug, Clone)]
pub struct Mamba2 {
    pub p: SsmParams,
    /// [n_embd, d_in_proj], rows z | x | B | C | dt
    pub ssm_in: T,
    /// [d_conv, conv_dim], [conv_dim]
    pub conv1d: T,
    pub conv1d_b: Option<T>,
    /// [n_head] each; A is stored as −exp(A_log)
    pub dt_b: T,
    pub a: T,
    pub d: T,
    /// [d_inner / n_group, n_group]
    pub norm: Option<T>,
    /// [d_inner, n_embd]
    pub out: T,
}

/// Which optional tensors an architecture requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mamba2Needs {
    pub conv_bias: bool,
    pub norm: bool,
}

impl Mamba2 {
    /// The `ssm_*` tensors of layer `il` under llama.cpp's names.
    pub fn resolve(t: &mut Tensors, il: usize, n_embd: u32, p: SsmParams, needs: Mamba2Needs) -> Result<Mamba2, ModelError> {
        let b = |s: &str| format!("blk.{il}.{s}");
        let (e, nh, di, cd) = (n_embd as u64, p.n_head as u64, p.d_inner as u64, p.conv_dim() as u64);
        let conv1d_b = if needs.conv_bias { Some(t.f32(&b("ssm_conv1d.bias"), &[cd])?) } else { t.opt_f32(&b("ssm_conv1d.bias"), &[cd])? };
        let norm_shape = [di / p.n_group as u64, p.n_group as u64];
        let norm = if needs.norm { Some(t.f32(&b("ssm_norm.weight"), &norm_shape)?) } else { t.opt_f32(&b("ssm_norm.weight"), &norm_shape)? };
        Ok(Mamba2 {
            p,
            ssm_in: t.matrix(&b("ssm_in.weight"), &[e, p.d_in_proj() as u64])?,
            conv1d: t.f32(&b("ssm_conv1d.weight"), &[p.d_conv as u64, cd])?,
            conv1d_b,
            dt_b: t.f32(&b("ssm_dt.bias"), &[nh])?,
            a: t.f32(&b("ssm_a"), &[1, nh])?,
            d: t.f32(&b("ssm_d"), &[1, nh])?,
            norm,
            out: t.matrix(&b("ssm_out.weight"), &[di, e])?,
        })
    }

    pub fn memory(&self) -> LayerMemory {
        LayerMemory {
            kv: None,
            states: vec![
                StateTensor { name: "conv", floats: self.p.conv_state_len() },
                StateTensor { name: "ssm", floats: self.p.ssm_state_len() },
            ],
        }
    }

    /// Whether the vec4 scans share B and C among 8-lane subgroups (`shaders/ssm_subgroup.wgsl`):
    /// where the adapter's x loads are shared ([`crate::gpu::GpuContext::share_x`]), with whole
    /// 32-state chunks and each subgroup's 8 rows in one head.
    fn shared_bc(&self, g: &Graph) -> bool {
        let p = self.p;
        g.r.ctx.share_x() && p.d_state % 32 == 0 && p.head_dim % 8 == 0 && p.d_inner % 8 == 0
    }

    /// States: `states[0]` conv, `states[1]` SSM (pool buffers of this layer).
    pub(crate) fn record(&self, g: &mut Graph, states: &[wgpu::Buffer], h: &wgpu::Buffer, out: Out) {
        let p = self.p;
        let [conv_state, ssm_state] = states else { return };
        let n = g.n;
        let dip = p.d_in_proj();
        let zx = g.scratch(dip);
        use params::ssm as s;
        let batch = g.batch;
        let (dt_b, a, d) = (g.vec(self.dt_b), g.vec(self.a), g.vec(self.d));
        // A decode step: the conv runs in in_proj's epilogue and the scan reads everything from
        // its output (ssm_step4); with a one-group norm, the scan stores y·w and partial sums
        // of squares and out_proj's epilogue applies the norm's scale — 3 dispatches, not 5.
        if batch.one_token_each && g.r.ctx.fuse_dispatches() && p.d_inner % 4 == 0 && p.d_state % 4 == 0 && dip % 4 == 0 && p.d_conv >= 2 {
            let conv = Epilogue::Conv {
                w: g.vec(self.conv1d),
                b: self.conv1d_b.map(|b| g.vec(b)),
                state: conv_state,
                seqs: &batch.seqs,
                row0: p.d_inner,
                channels: p.conv_dim(),
                k: p.d_conv,
            };
            g.linear_epi(self.ssm_in, h, Out::fresh(&zx), dip, conv);
            let groups = p.d_inner.div_ceil(64);
            let fused_norm = self.norm.filter(|_| p.n_group == 1);
            let y = g.scratch(p.d_inner + if fused_norm.is_some() { groups } else { 0 });
            let sp = s::Params { n_tok: n, d_inner: p.d_inner, d_state: p.d_state, n_head: p.n_head, n_group: p.n_group, d_in_proj: dip, fused_norm: fused_norm.is_some() as u32 };
            // Without the norm its binding takes a stand-in (dt_bias, read-only too).
            let nw = fused_norm.map_or(dt_b, |w| g.vec(w));
            let (shader, entry) = if self.shared_bc(g) { (Shader::SsmSg, "ssm_step4_sg") } else { (Shader::Ssm, "ssm_step4") };
            g.r.dispatch(
                shader,
                entry,
                &[(s::zx4, &zx), (s::w, dt_b), (s::b, a), (s::dsk, d), (s::state4, ssm_state), (s::y, &y), (s::seqs, &batch.seqs), (s::norm_w, nw)],
                &sp,
                (groups, batch.n_seqs, 1),
            );
            let rows = g.t(self.out).info.n_rows() as u32;
            match (fused_norm, self.norm) {
                (Some(_), _) => {
                    let epi = Epilogue::RmsScale { base: n * p.d_inner, count: groups, width: p.d_inner, eps: g.eps };
                    g.linear_epi(self.out, &y, out, rows, epi);
                }
                (None, Some(nw)) => {
                    let gs = p.d_inner / p.n_group;
                    g.rms_norm_rows_inplace(&y, nw, n * p.n_group, gs, p.n_group);
                    g.linear(self.out, None, &y, out, rows);
                }
                (None, None) => g.linear(self.out, None, &y, out, rows),
            }
            return;
        }
        g.linear(self.ssm_in, None, h, Out::fresh(&zx), dip);
        let xbc = g.scratch(p.conv_dim());
        let y = g.scratch(p.d_inner);
        let sp = s::Params { n_tok: n, d_inner: p.d_inner, d_state: p.d_state, n_head: p.n_head, n_group: p.n_group, d_in_proj: dip, fused_norm: 0 };
        g.causal_conv(&zx, p.d_inner, dip, p.conv_dim(), p.d_conv, self.conv1d, self.conv1d_b, conv_state, &xbc);
        if let (true, Some(slot)) = (g.r.ctx.use_chunked_scan(n), batch.single_slot) {
            use params::ssd as c;
            const Q: u32 = 32;
            let chunks = n.div_ceil(Q);
            let ds = g.r.scratch(chunks as u64 * p.d_inner as u64 * p.d_state as u64);
            let decay = g.r.scratch((chunks * p.n_head) as u64);
            let cp = c::Params {
                n_tok: n,
                d_inner: p.d_inner,
                d_state: p.d_state,
                n_head: p.n_head,
                n_group: p.n_group,
                d_in_proj: dip,
                n_chunks: chunks,
                state_off: slot * p.ssm_state_len(),
            };
            g.r.dispatch(
                Shader::Ssd,
                "ssd_chunk",
                &[(c::zx, &zx), (c::xbc, &xbc), (c::dtb, dt_b), (c::a, a), (c::ds, &ds), (c::decay, &decay), (c::y, &y)],
                &cp,
                (p.n_head, chunks, 1),
            );
            g.r.dispatch(Shader::Ssd, "ssd_state", &[(c::ds, &ds), (c::decay, &decay), (c::state, ssm_state)], &cp, ((p.d_inner * p.d_state).div_ceil(64), 1, 1));
            g.r.dispatch(
                Shader::Ssd,
                "ssd_out",
                &[(c::zx, &zx), (c::xbc, &xbc), (c::dtb, dt_b), (c::a, a), (c::dsk, d), (c::ds, &ds), (c::y, &y)],
                &cp,
                (p.n_head, chunks, 1),
            );
        } else if p.d_inner % 4 == 0 && p.d_state % 4 == 0 {
            // vec4 state rows (the state offsets and conv rows are then whole vec4s).
            let (shader, entry) = if self.shared_bc(g) { (Shader::SsmSg, "ssm_scan4_sg") } else { (Shader::Ssm, "ssm_scan4") };
            g.r.dispatch(
                shader,
                entry,
                &[(s::zx, &zx), (s::w, dt_b), (s::b, a), (s::dsk, d), (s::state4, ssm_state), (s::xbc4, &xbc), (s::y, &y), (s::seqs, &batch.seqs)],
                &sp,
                (p.d_inner.div_ceil(64), batch.n_seqs, 1),
            );
        } else {
            g.r.dispatch(
                Shader::Ssm,
                "ssm_scan",
                &[(s::zx, &zx), (s::w, dt_b), (s::b, a), (s::dsk, d), (s::state, ssm_state), (s::xbc, &xbc), (s::y, &y), (s::seqs, &batch.seqs)],
                &sp,
                (p.d_inner.div_ceil(64), batch.n_seqs, 1),
            );
        }
        if let Some(nw) = self.norm {
            let gs = p.d_inner / p.n_group;
            g.rms_norm_rows_inplace(&y, nw, n * p.n_group, gs, p.n_group);
        }
        g.linear(self.out, None, &y, out, g.t(self.out).info.n_rows() as u32);
    }

    /// One token with plain loops; `states[0]` conv [conv_dim, d_conv−1], `states[1]` SSM
    /// [n_head, head_dim, d_state].
    pub(crate) fn reference(&self, w: &RefWeights, states: &mut [Vec<f32>], h: &[f32], eps: f32) -> Vec<f32> {
        let p = self.p;
        let (di, n, g, nh, hdim, kc) =
            (p.d_inner as usize, p.d_state as usize, p.n_group as usize, p.n_head as usize, p.head_dim as usize, p.d_conv as usize);
        let cdim = p.conv_dim() as usize;
        let u = matvec(&w[self.ssm_in], h);
        let z = &u[..di];
        let xbc = &u[di..di + cdim];
        let dt = &u[2 * di + 2 * g * n..2 * di + 2 * g * n + nh];
        // causal depthwise conv over [state | new]; state is [C][K-1], oldest first
        let cw = &w[self.conv1d];
        let (conv, rest) = states.split_at_mut(1);
        let state = &mut conv[0];
        let mut y = vec![0.0; cdim];
        for c in 0..cdim {
            let win: Vec<f32> = state[c * (kc - 1)..(c + 1) * (kc - 1)].iter().cloned().chain([xbc[c]]).collect();
            let mut acc: f32 = (0..kc).map(|k| cw[c * kc + k] * win[k]).sum();
            if let Some(b) = self.conv1d_b {
                acc += w[b][c];
            }
            y[c] = silu(acc);
            state[c * (kc - 1)..(c + 1) * (kc - 1)].copy_from_slice(&win[1..]);
        }
        let (x, bm, cm) = (&y[..di], &y[di..di + g * n], &y[di + g * n..di + 2 * g * n]);
        let ssm = &mut rest[0];
        let mut out = vec![0.0; di];
        for hh in 0..nh {
            let gi = hh / (nh / g);
            let dlt = softplus(dt[hh] + w[self.dt_b][hh]);
            let da = (dlt * w[self.a][hh]).exp();
            for pp in 0..hdim {
                let idx = hh * hdim + pp;
                let xv = x[idx];
                let mut acc = 0.0;
                for k in 0..n {
                    let sidx = idx * n + k;
                    ssm[sidx] = ssm[sidx] * da + bm[gi * n + k] * xv * dlt;
                    acc += ssm[sidx] * cm[gi * n + k];
                }
                out[idx] = (acc + xv * w[self.d][hh]) * silu(z[idx]);
            }
        }
        if let Some(nw) = self.norm {
            let gs = di / g;
            let mut normed = vec![];
            for gi in 0..g {
                normed.extend(rms_norm(&out[gi * gs..(gi + 1) * gs], &w[nw][gi * gs..(gi + 1) * gs], eps));
            }
            out = normed;
        }
        matvec(&w[self.out], &out)
    }
}
