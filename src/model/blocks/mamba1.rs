//! The Mamba-1 mixer as Jamba uses it (spec §2.2, llama.cpp `mamba-base.cpp`
//! `build_mamba_layer`): in_proj → x | z; causal depthwise conv of x with a carried
//! (d_conv − 1)-wide window, + bias, SiLU; x_proj → dt | B | C, each RMS-normed (Jamba's
//! `ssm_dt_norm` / `ssm_b_norm` / `ssm_c_norm`); dt_proj + bias; selective scan with a
//! per-channel A ([d_inner, d_state], stored −exp(A_log)) and Δ = softplus(dt); D skip; ·SiLU(z);
//! out_proj. Keeps a conv window and a [d_inner, d_state] state per sequence.

use super::super::graph::{Graph, Out};
use super::super::hparams::ModelError;
use super::super::plan::{Tensors, T};
use super::super::reference::{matvec, rms_norm, silu, softplus, RefWeights};
use crate::gpu::ops::{Act, Epilogue, MatmulIo, Shader};
use crate::gpu::params;
use crate::memory::{LayerMemory, StateTensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mamba1Params {
    pub d_conv: u32,
    pub d_inner: u32,
    pub d_state: u32,
    pub dt_rank: u32,
}

impl Mamba1Params {
    pub fn conv_state_len(&self) -> u32 {
        (self.d_conv - 1) * self.d_inner
    }
    pub fn ssm_state_len(&self) -> u32 {
        self.d_state * self.d_inner
    }
}

#[derive(Debug, Clone)]
pub struct Mamba1 {
    pub p: Mamba1Params,
    /// [n_embd, 2·d_inner], rows x | z
    pub ssm_in: T,
    /// [d_conv, d_inner], [d_inner]
    pub conv1d: T,
    pub conv1d_b: T,
    /// [d_inner, dt_rank + 2·d_state], rows dt | B | C
    pub ssm_x: T,
    /// [dt_rank], [d_state], [d_state]
    pub dt_norm: T,
    pub b_norm: T,
    pub c_norm: T,
    /// [dt_rank, d_inner], [d_inner]
    pub ssm_dt: T,
    pub dt_b: T,
    /// [d_state, d_inner]: channel c's row of d_state values
    pub a: T,
    /// [d_inner]
    pub d: T,
    /// [d_inner, n_embd]
    pub out: T,
}

impl Mamba1 {
    /// The `ssm_*` tensors of layer `il` under llama.cpp's names (Jamba's, with the dt/B/C
    /// norms).
    pub fn resolve(t: &mut Tensors, il: usize, n_embd: u32, p: Mamba1Params) -> Result<Mamba1, ModelError> {
        let max = crate::model::hparams::MAX_DIM;
        // Zero or absurd sizes are a broken file; valid shapes outside what the kernels take are
        // a feature Braid lacks.
        if p.d_conv == 0 || p.d_state == 0 || p.dt_rank == 0 || p.dt_rank > max || p.d_inner == 0 || p.d_inner > max {
            return Err(ModelError::BadHparams(format!("layer {il}: Mamba-1 with d_conv {}, d_inner {}, d_state {}, dt_rank {}", p.d_conv, p.d_inner, p.d_state, p.dt_rank)));
        }
        if !(2..=16).contains(&p.d_conv) || p.d_state > 256 || p.dt_rank % 4 != 0 || p.d_inner % 4 != 0 {
            return Err(ModelError::UnsupportedFeature(format!(
                "layer {il}: Mamba-1 with d_conv {}, d_inner {}, d_state {}, dt_rank {} (Braid runs d_state up to 256, dt_rank and d_inner multiples of 4)",
                p.d_conv, p.d_inner, p.d_state, p.dt_rank
            )));
        }
        let b = |s: &str| format!("blk.{il}.{s}");
        let (e, di, ds, r) = (n_embd as u64, p.d_inner as u64, p.d_state as u64, p.dt_rank as u64);
        Ok(Mamba1 {
            p,
            ssm_in: t.matrix(&b("ssm_in.weight"), &[e, 2 * di])?,
            conv1d: t.f32(&b("ssm_conv1d.weight"), &[p.d_conv as u64, di])?,
            conv1d_b: t.f32(&b("ssm_conv1d.bias"), &[di])?,
            ssm_x: t.matrix(&b("ssm_x.weight"), &[di, r + 2 * ds])?,
            dt_norm: t.f32(&b("ssm_dt_norm.weight"), &[r])?,
            b_norm: t.f32(&b("ssm_b_norm.weight"), &[ds])?,
            c_norm: t.f32(&b("ssm_c_norm.weight"), &[ds])?,
            ssm_dt: t.matrix(&b("ssm_dt.weight"), &[r, di])?,
            dt_b: t.f32(&b("ssm_dt.bias"), &[di])?,
            a: t.f32(&b("ssm_a"), &[ds, di])?,
            d: t.f32(&b("ssm_d"), &[di])?,
            out: t.matrix(&b("ssm_out.weight"), &[di, e])?,
        })
    }

    pub fn memory(&self) -> LayerMemory {
        LayerMemory {
            kv: None,
            states: vec![StateTensor { name: "conv", floats: self.p.conv_state_len() }, StateTensor { name: "ssm", floats: self.p.ssm_state_len() }],
        }
    }

    /// States: `states[0]` conv window pool, `states[1]` SSM state pool.
    pub(crate) fn record(&self, g: &mut Graph, states: &[wgpu::Buffer], h: &wgpu::Buffer, out: Out) {
        let p = self.p;
        let [conv_state, ssm_state, ..] = states else { return };
        let n = g.n;
        let (di, ds, r) = (p.d_inner, p.d_state, p.dt_rank);
        let xz = g.scratch(2 * di);
        g.linear(self.ssm_in, None, h, Out::fresh(&xz), 2 * di);
        let xc = g.scratch(di);
        g.causal_conv(&xz, 0, 2 * di, di, p.d_conv, self.conv1d, Some(self.conv1d_b), conv_state, &xc);
        let wx = r + 2 * ds;
        let xdb = g.scratch(wx);
        g.linear(self.ssm_x, None, &xc, Out::fresh(&xdb), wx);
        // dt | B | C RMS-normed; dt goes through dt_proj (+ bias) into dbc's first d_inner
        let dtn = g.scratch(r);
        let wd = di + 2 * ds;
        let dbc = g.scratch(wd);
        g.rms_norm_strided(&xdb, 0, wx, self.dt_norm, &dtn, 0, r, n, r);
        g.rms_norm_strided(&xdb, r, wx, self.b_norm, &dbc, di, wd, n, ds);
        g.rms_norm_strided(&xdb, r + ds, wx, self.c_norm, &dbc, di + ds, wd, n, ds);
        let bias = Some(g.vec(self.dt_b));
        let io = MatmulIo { x: &dtn, x_offset: 0, x_stride: r, y: &dbc, y_offset: 0, y_stride: wd, n_tok: n, alpha: 1.0, accumulate: false, bias, act: Act::None, epi: Epilogue::None, norm_out: None };
        g.r.matmul_io(g.t(self.ssm_dt), io);
        let y = g.scratch(di);
        {
            use params::mamba1 as m;
            let mp = m::Params { n_tok: n, d_inner: di, d_state: ds, _pad: 0 };
            let (a, d, batch) = (g.vec(self.a), g.vec(self.d), g.batch);
            g.r.dispatch(
                Shader::Mamba1,
                "mamba1_scan",
                &[(m::xc, &xc), (m::dbc, &dbc), (m::xz, &xz), (m::a, a), (m::dsk, d), (m::state, ssm_state), (m::y, &y), (m::seqs, &batch.seqs)],
                &mp,
                (di.div_ceil(64), batch.n_seqs, 1),
            );
        }
        g.linear(self.out, None, &y, out, g.t(self.out).info.n_rows() as u32);
    }

    /// One token with plain loops; `states[0]` conv [d_inner, d_conv − 1] oldest first,
    /// `states[1]` [d_inner, d_state].
    pub(crate) fn reference(&self, w: &RefWeights, states: &mut [Vec<f32>], h: &[f32], eps: f32) -> Vec<f32> {
        let p = self.p;
        let (di, ds, r, kc) = (p.d_inner as usize, p.d_state as usize, p.dt_rank as usize, p.d_conv as usize);
        let xz = matvec(&w[self.ssm_in], h);
        let (conv, rest) = states.split_at_mut(1);
        let state = &mut conv[0];
        let cw = &w[self.conv1d];
        let mut x = vec![0.0; di];
        for c in 0..di {
            let win: Vec<f32> = state[c * (kc - 1)..(c + 1) * (kc - 1)].iter().cloned().chain([xz[c]]).collect();
            x[c] = silu(w[self.conv1d_b][c] + (0..kc).map(|k| cw[c * kc + k] * win[k]).sum::<f32>());
            state[c * (kc - 1)..(c + 1) * (kc - 1)].copy_from_slice(&win[1..]);
        }
        let xdb = matvec(&w[self.ssm_x], &x);
        let dt_in = rms_norm(&xdb[..r], &w[self.dt_norm], eps);
        let bm = rms_norm(&xdb[r..r + ds], &w[self.b_norm], eps);
        let cm = rms_norm(&xdb[r + ds..r + 2 * ds], &w[self.c_norm], eps);
        let dt: Vec<f32> = matvec(&w[self.ssm_dt], &dt_in).iter().zip(&w[self.dt_b]).map(|(a, b)| a + b).collect();
        let ssm = &mut rest[0];
        let a = &w[self.a];
        let mut y = vec![0.0; di];
        for c in 0..di {
            let dlt = softplus(dt[c]);
            let mut acc = 0.0;
            for i in 0..ds {
                let si = c * ds + i;
                ssm[si] = ssm[si] * (dlt * a[si]).exp() + bm[i] * x[c] * dlt;
                acc += ssm[si] * cm[i];
            }
            y[c] = (acc + x[c] * w[self.d][c]) * silu(xz[di + c]);
        }
        matvec(&w[self.out], &y)
    }
}
