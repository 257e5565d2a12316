//! The gated DeltaNet mixer (Qwen3.5 / Qwen3-Next linear attention; llama.cpp
//! `qwen35.cpp::build_layer_attn_linear`, `delta-net-base.cpp`): qkv = W_qkv·h and z = W_gate·h;
//! causal depthwise conv of qkv with a carried (d_conv − 1)-wide window, SiLU; split q | k | v
//! by heads; q, k L2-normalised (x / max(‖x‖, eps)); β = sigmoid(W_β·h), g = softplus(W_α·h +
//! dt_bias)·A with A = −exp(A_log) (stored so); per value head the delta rule on a
//! [d_k, d_v] state: S ← e^g·S, δ = β(v − Sᵀk), S ← S + kδᵀ, o = Sᵀq/√d_k; RMSNorm per head
//! (`ssm_norm`) × SiLU(z); out projection. Keeps a conv window and n_v state matrices per
//! sequence. Prefill of a long batch runs the chunked (WY) form — `shaders/delta_net.wgsl`.

use super::super::graph::{Graph, Out};
use super::super::hparams::ModelError;
use super::super::plan::{Tensors, T};
use super::super::reference::{matvec, rms_norm, silu, softplus, RefWeights};
use crate::gpu::ops::{Act, Epilogue, MatmulIo, Shader};
use crate::gpu::params;
use crate::memory::{LayerMemory, StateTensor};

/// Which key head a value head reads when there are more value heads than key heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadMap {
    /// h % n_k: llama.cpp's converter reorders Qwen3.5's value heads so a tiled repeat works.
    Tile,
    /// h / (n_v / n_k): Qwen3-Next keeps the checkpoint's grouped order.
    Interleave,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaNetParams {
    /// Key heads (`ssm.group_count`), value heads (`ssm.time_step_rank`).
    pub n_k: u32,
    pub n_v: u32,
    /// Key and value head dim (`ssm.state_size`).
    pub s: u32,
    /// Conv taps (`ssm.conv_kernel`).
    pub d_conv: u32,
    pub head_map: HeadMap,
}

impl DeltaNetParams {
    pub fn key_dim(&self) -> u32 {
        self.n_k * self.s
    }
    pub fn value_dim(&self) -> u32 {
        self.n_v * self.s
    }
    /// Channels of the conv: q | k | v.
    pub fn conv_dim(&self) -> u32 {
        2 * self.key_dim() + self.value_dim()
    }
    /// Floats of conv window per sequence.
    pub fn conv_state_len(&self) -> u32 {
        (self.d_conv - 1) * self.conv_dim()
    }
    /// Floats of the state matrices per sequence: n_v · d_k · d_v.
    pub fn state_len(&self) -> u32 {
        self.s * self.s * self.n_v
    }

    /// Check the shape against what the kernels handle.
    pub fn check(&self, il: usize) -> Result<(), ModelError> {
        // In u64: heads and dims come from the file; conv_dim must stay a buffer-sized width.
        let conv_dim = (2 * self.n_k as u64 + self.n_v as u64) * self.s as u64;
        // Zero or inconsistent sizes are a broken file; valid shapes outside what the kernels
        // take are a feature Braid lacks.
        let valid = self.n_k > 0 && self.n_v > 0 && self.n_v % self.n_k == 0 && self.s > 0 && self.d_conv > 0 && conv_dim <= crate::model::hparams::MAX_DIM as u64;
        if !valid {
            return Err(ModelError::BadHparams(format!("layer {il}: DeltaNet with {} key heads, {} value heads, head dim {}, {} conv taps", self.n_k, self.n_v, self.s, self.d_conv)));
        }
        let ok = self.s <= 256 && self.s % 4 == 0 && (2..=16).contains(&self.d_conv);
        if !ok {
            return Err(ModelError::UnsupportedFeature(format!(
                "layer {il}: DeltaNet with {} key heads, {} value heads, head dim {}, {} conv taps (Braid runs head dims up to 256, multiples of 4, and value heads a multiple of key heads)",
                self.n_k, self.n_v, self.s, self.d_conv
            )));
        }
        Ok(())
    }

    fn khead(&self, h: usize) -> usize {
        match self.head_map {
            HeadMap::Tile => h % self.n_k as usize,
            HeadMap::Interleave => h / (self.n_v / self.n_k) as usize,
        }
    }
}

/// β and α projections: two matrices (Qwen3.5) or one interleaved by key head (Qwen3-Next's
/// `ssm_ba`: per key head, n_v/n_k β rows then n_v/n_k α rows).
#[derive(Debug, Clone, Copy)]
pub enum BetaAlpha {
    Split { beta: T, alpha: T },
    Fused(T),
}

#[derive(Debug, Clone)]
pub struct DeltaNet {
    pub p: DeltaNetParams,
    /// [n_embd, conv_dim], rows q | k | v
    pub qkv: T,
    /// [n_embd, value_dim] (z)
    pub gate: T,
    pub ba: BetaAlpha,
    /// [d_conv, conv_dim]
    pub conv1d: T,
    /// [n_v] each
    pub dt_b: T,
    pub a: T,
    /// [d_v]
    pub norm: T,
    /// [value_dim, n_embd]
    pub out: T,
}

impl DeltaNet {
    /// The tensors of layer `il` under llama.cpp's names; `fused_ba` for Qwen3-Next's
    /// `ssm_ba`.
    pub fn resolve(t: &mut Tensors, il: usize, n_embd: u32, p: DeltaNetParams, fused_ba: bool) -> Result<DeltaNet, ModelError> {
        p.check(il)?;
        let b = |s: &str| format!("blk.{il}.{s}");
        if t.index.tensor_index(&b("ssm_in.weight")).is_some() {
            return Err(ModelError::UnsupportedFeature(format!(
                "{}: the legacy fused qkvz projection (convert the checkpoint again with a current convert_hf_to_gguf.py)",
                b("ssm_in.weight")
            )));
        }
        let (e, nv) = (n_embd as u64, p.n_v as u64);
        let ba = if fused_ba {
            BetaAlpha::Fused(t.matrix(&b("ssm_ba.weight"), &[e, 2 * nv])?)
        } else {
            BetaAlpha::Split { beta: t.matrix(&b("ssm_beta.weight"), &[e, nv])?, alpha: t.matrix(&b("ssm_alpha.weight"), &[e, nv])? }
        };
        Ok(DeltaNet {
            p,
            qkv: t.matrix(&b("attn_qkv.weight"), &[e, p.conv_dim() as u64])?,
            gate: t.matrix(&b("attn_gate.weight"), &[e, p.value_dim() as u64])?,
            ba,
            conv1d: t.f32(&b("ssm_conv1d.weight"), &[p.d_conv as u64, p.conv_dim() as u64])?,
            dt_b: t.f32(&b("ssm_dt.bias"), &[nv])?,
            a: t.f32(&b("ssm_a"), &[nv])?,
            norm: t.f32(&b("ssm_norm.weight"), &[p.s as u64])?,
            out: t.matrix(&b("ssm_out.weight"), &[p.value_dim() as u64, e])?,
        })
    }

    pub fn memory(&self) -> LayerMemory {
        LayerMemory {
            kv: None,
            states: vec![StateTensor { name: "conv", floats: self.p.conv_state_len() }, StateTensor { name: "ssm", floats: self.p.state_len() }],
        }
    }

    /// States: `states[0]` conv window pool, `states[1]` state matrices pool.
    pub(crate) fn record(&self, g: &mut Graph, states: &[wgpu::Buffer], h: &wgpu::Buffer, out: Out) {
        let p = self.p;
        let [conv_state, ssm_state, ..] = states else { return };
        let n = g.n;
        let (cd, vd, nv) = (p.conv_dim(), p.value_dim(), p.n_v);
        let qkv = g.scratch(cd);
        // A decode step convolves in the qkv projection's epilogue (in place: the conv's output
        // has the projection's layout), one dispatch less.
        let fuse_conv = g.batch.one_token_each && g.r.ctx.fuse_dispatches() && p.d_conv >= 2;
        if fuse_conv {
            let seqs = &g.batch.seqs;
            let conv = Epilogue::Conv { w: g.vec(self.conv1d), b: None, state: conv_state, seqs, row0: 0, channels: cd, k: p.d_conv };
            g.linear_epi(self.qkv, h, Out::fresh(&qkv), cd, conv);
        } else {
            g.linear(self.qkv, None, h, Out::fresh(&qkv), cd);
        }
        let z = g.scratch(vd);
        g.linear(self.gate, None, h, Out::fresh(&z), vd);
        let ba = g.scratch(2 * nv);
        match self.ba {
            BetaAlpha::Fused(w) => g.linear(w, None, h, Out::fresh(&ba), 2 * nv),
            BetaAlpha::Split { beta, alpha } => {
                for (w, off) in [(beta, 0), (alpha, nv)] {
                    let t = g.t(w);
                    let k = t.info.ne0() as u32;
                    let io = MatmulIo { x: h, x_offset: 0, x_stride: k, y: &ba, y_offset: off, y_stride: 2 * nv, n_tok: n, alpha: 1.0, accumulate: false, bias: None, act: Act::None, epi: Epilogue::None, norm_out: None };
                    g.r.matmul_io(t, io);
                }
            }
        }
        // causal conv + SiLU
        let xc = if fuse_conv {
            qkv
        } else {
            let xc = g.scratch(cd);
            g.causal_conv(&qkv, 0, cd, cd, p.d_conv, self.conv1d, None, conv_state, &xc);
            xc
        };
        use params::delta_net as d;
        let bg = g.scratch(4 * nv);
        let o = g.scratch(vd);
        // CPU adapters with 8-lane subgroups (native): the recurrence with the column in
        // registers, k and q by broadcast (`shaders/delta_net_subgroup.wgsl`), for key heads of
        // 32·k ≤ 256; it also takes prompts there (faster than the chunked form).
        let sg = !cfg!(target_arch = "wasm32") && g.r.ctx.share_x() && p.s % 32 == 0 && (32..=256).contains(&p.s);
        let chunked = g.batch.single_slot.filter(|_| p.s <= 128 && g.r.ctx.use_chunked_delta(n, sg));
        let n_chunks = n.div_ceil(d::CHUNK);
        let dp = d::Params {
            n_tok: n,
            n_k: p.n_k,
            n_v: nv,
            s_k: p.s,
            s_v: p.s,
            head_map: (p.head_map == HeadMap::Interleave) as u32,
            ba_interleaved: matches!(self.ba, BetaAlpha::Fused(_)) as u32,
            n_chunks,
            state_off: chunked.unwrap_or(0) * p.state_len(),
            eps: g.eps,
            scale: 1.0 / (p.s as f32).sqrt(),
            _pad: 0,
        };
        let (dt_b, a) = (g.vec(self.dt_b), g.vec(self.a));
        let jobs = n * (2 * p.n_k + nv);
        g.r.dispatch(Shader::DeltaNet, "dn_prep", &[(d::xc, &xc), (d::ba, &ba), (d::dt_b, dt_b), (d::a, a), (d::bg, &bg)], &dp, (jobs.div_ceil(64), 1, 1));
        if chunked.is_some() {
            let cc = (n_chunks * nv * d::CHUNK * d::CHUNK) as u64;
            let (lm, mm, tm) = (g.r.scratch(cc), g.r.scratch(cc), g.r.scratch(cc));
            let uw = g.scratch(nv * 2 * p.s);
            g.r.dispatch(
                Shader::DeltaNet,
                "dn_chunk_prep",
                &[(d::xc, &xc), (d::bg, &bg), (d::lm, &lm), (d::mm, &mm), (d::tm, &tm), (d::uw, &uw)],
                &dp,
                (n_chunks, nv, 1),
            );
            g.r.dispatch(
                Shader::DeltaNet,
                "dn_chunk_scan",
                &[(d::xc, &xc), (d::bg, &bg), (d::mm, &mm), (d::uw, &uw), (d::state, ssm_state), (d::out, &o)],
                &dp,
                (nv * p.s.div_ceil(16), 1, 1),
            );
        } else {
            let batch = g.batch;
            let (shader, entry) = if sg { (Shader::DeltaNetSg(p.s / 32), "dn_scan_sg") } else { (Shader::DeltaNet, "dn_scan") };
            g.r.dispatch(
                shader,
                entry,
                &[(d::xc, &xc), (d::bg, &bg), (d::state, ssm_state), (d::out, &o), (d::seqs, &batch.seqs)],
                &dp,
                (nv * p.s.div_ceil(64), batch.n_seqs, 1),
            );
        }
        // RMSNorm per head × SiLU(z), out projection
        g.rms_norm_rows_inplace_gated(&o, self.norm, n * nv, p.s, &z);
        g.linear(self.out, None, &o, out, g.t(self.out).info.n_rows() as u32);
    }

    /// One token with plain loops; `states[0]` conv [conv_dim, d_conv − 1] oldest first,
    /// `states[1]` [n_v, d_v, d_k] (S[i][j] at j·d_k + i).
    pub(crate) fn reference(&self, w: &RefWeights, states: &mut [Vec<f32>], h: &[f32], eps: f32) -> Vec<f32> {
        let p = self.p;
        let (s, kc, nk, nv) = (p.s as usize, p.d_conv as usize, p.n_k as usize, p.n_v as usize);
        let cd = p.conv_dim() as usize;
        let qkv = matvec(&w[self.qkv], h);
        let z = matvec(&w[self.gate], h);
        let (b, a): (Vec<f32>, Vec<f32>) = match self.ba {
            BetaAlpha::Split { beta, alpha } => (matvec(&w[beta], h), matvec(&w[alpha], h)),
            BetaAlpha::Fused(m) => {
                let ba = matvec(&w[m], h);
                let rf = nv / nk;
                let (mut b, mut a) = (vec![], vec![]);
                for g in 0..nk {
                    b.extend_from_slice(&ba[g * 2 * rf..g * 2 * rf + rf]);
                    a.extend_from_slice(&ba[g * 2 * rf + rf..(g + 1) * 2 * rf]);
                }
                (b, a)
            }
        };
        let (conv, rest) = states.split_at_mut(1);
        let state = &mut conv[0];
        let cw = &w[self.conv1d];
        let mut x = vec![0.0; cd];
        for c in 0..cd {
            let win: Vec<f32> = state[c * (kc - 1)..(c + 1) * (kc - 1)].iter().cloned().chain([qkv[c]]).collect();
            x[c] = silu((0..kc).map(|k| cw[c * kc + k] * win[k]).sum());
            state[c * (kc - 1)..(c + 1) * (kc - 1)].copy_from_slice(&win[1..]);
        }
        // L2-normalise the q and k heads
        for head in x[..2 * nk * s].chunks_exact_mut(s) {
            let ss: f64 = head.iter().map(|v| (*v as f64) * (*v as f64)).sum();
            let sc = 1.0 / (ss.sqrt() as f32).max(eps);
            head.iter_mut().for_each(|v| *v *= sc);
        }
        let (q, k, v) = (&x[..nk * s], &x[nk * s..2 * nk * s], &x[2 * nk * s..]);
        let st = &mut rest[0];
        let scale = 1.0 / (s as f32).sqrt();
        let mut o = vec![0.0; nv * s];
        for hh in 0..nv {
            let kh = p.khead(hh);
            let (qh, kh) = (&q[kh * s..(kh + 1) * s], &k[kh * s..(kh + 1) * s]);
            let beta = 1.0 / (1.0 + (-b[hh]).exp());
            let eg = (softplus(a[hh] + w[self.dt_b][hh]) * w[self.a][hh]).exp();
            for j in 0..s {
                let col = &mut st[(hh * s + j) * s..(hh * s + j + 1) * s];
                let mut kv = 0.0;
                for i in 0..s {
                    col[i] *= eg;
                    kv += col[i] * kh[i];
                }
                let d = (v[hh * s + j] - kv) * beta;
                let mut acc = 0.0;
                for i in 0..s {
                    col[i] += kh[i] * d;
                    acc += col[i] * qh[i];
                }
                o[hh * s + j] = acc * scale;
            }
        }
        let mut y = vec![];
        for hh in 0..nv {
            let normed = rms_norm(&o[hh * s..(hh + 1) * s], &w[self.norm], eps);
            y.extend(normed.iter().zip(&z[hh * s..(hh + 1) * s]).map(|(a, zz)| a * silu(*zz)));
        }
        matvec(&w[self.out], &y)
    }
}
