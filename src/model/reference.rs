//! A CPU reference forward pass: f32, plain loops, one token at a time, written to follow
//! spec §2 line by line. Tests compare the GPU forward and llama.cpp against it.

use super::hparams::{HParams, ModelError, RopeType};
use super::weights::{AttnWeights, ModelWeights, SsmWeights};
use crate::gguf::quant::dequantize;
use crate::gguf::{parse_index, GgufIndex};

pub struct RefModel {
    pub hp: HParams,
    pub w: ModelWeights,
    pub index: GgufIndex,
    t: Vec<Vec<f32>>,
}

/// One sequence's memory.
pub struct RefState {
    pub pos: usize,
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    conv: Vec<Vec<f32>>,
    ssm: Vec<Vec<f32>>,
}

pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / x.len() as f64;
    let s = 1.0 / ((ms as f32) + eps).sqrt();
    x.iter().zip(w).map(|(a, b)| a * s * b).collect()
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

pub fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// y = W·x for W of `rows` rows of `x.len()` values.
pub fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks_exact(x.len()).map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum()).collect()
}

/// Rotate the first `n_rot` dims of each `hd`-sized head in place (ggml's theta recurrence).
pub fn rope(x: &mut [f32], hd: usize, n_rot: usize, pos: usize, theta_base: f32, ty: RopeType) {
    let scale = theta_base.powf(-2.0 / n_rot as f32);
    for head in x.chunks_exact_mut(hd) {
        let mut theta = pos as f32;
        for i in 0..n_rot / 2 {
            let (c, s) = (theta.cos(), theta.sin());
            let (a, b) = match ty {
                RopeType::Norm => (2 * i, 2 * i + 1),
                RopeType::Neox => (i, i + n_rot / 2),
                RopeType::None => return,
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
            theta *= scale;
        }
    }
}

impl RefModel {
    /// Dequantize every tensor of an in-memory GGUF.
    pub fn from_bytes(bytes: &[u8]) -> Result<RefModel, ModelError> {
        let index = parse_index(bytes).map_err(|e| ModelError::BadHparams(e.to_string()))?;
        let hp = HParams::from_index(&index)?;
        let w = ModelWeights::resolve(&index, &hp)?;
        let mut t = vec![];
        for info in &index.tensors {
            let start = (index.data_start + info.offset) as usize;
            let mut v = vec![];
            dequantize(info.ty, &bytes[start..start + info.n_bytes as usize], &mut v)
                .map_err(|e| ModelError::BadHparams(e.to_string()))?;
            t.push(v);
        }
        Ok(RefModel { hp, w, index, t })
    }

    pub fn new_state(&self) -> RefState {
        let n = self.hp.n_layer as usize;
        let s = self.hp.ssm;
        RefState {
            pos: 0,
            k: vec![vec![]; n],
            v: vec![vec![]; n],
            conv: (0..n).map(|_| vec![0.0; s.map_or(0, |s| s.conv_state_len() as usize)]).collect(),
            ssm: (0..n).map(|_| vec![0.0; s.map_or(0, |s| s.ssm_state_len() as usize)]).collect(),
        }
    }

    /// Evaluate `tokens` after what `st` holds; logits for each.
    pub fn eval(&self, st: &mut RefState, tokens: &[u32]) -> Vec<Vec<f32>> {
        tokens.iter().map(|&tok| self.step(st, tok)).collect()
    }

    fn step(&self, st: &mut RefState, tok: u32) -> Vec<f32> {
        let hp = &self.hp;
        let e = hp.n_embd as usize;
        let t = &self.t;
        let mut x = t[self.w.token_embd][tok as usize * e..(tok as usize + 1) * e].to_vec();
        if hp.embedding_scale != 0.0 {
            x.iter_mut().for_each(|v| *v *= hp.embedding_scale);
        }
        for (il, lw) in self.w.layers.iter().enumerate() {
            let h = rms_norm(&x, &t[lw.attn_norm], hp.eps);
            let mut mix = vec![0.0; e];
            if let Some(a) = &lw.attn {
                add(&mut mix, &self.attention(st, il, a, &h));
            }
            if let Some(s) = &lw.ssm {
                add(&mut mix, &self.mamba2(st, il, s, &h));
            }
            if hp.residual_scale != 0.0 {
                mix.iter_mut().for_each(|v| *v *= hp.residual_scale);
            }
            add(&mut x, &mix);
            if let Some(f) = &lw.ffn {
                let h = rms_norm(&x, &t[f.norm], hp.eps);
                let g = matvec(&t[f.gate], &h);
                let u = matvec(&t[f.up], &h);
                let a: Vec<f32> = g.iter().zip(&u).map(|(g, u)| silu(*g) * u).collect();
                let mut o = matvec(&t[f.down], &a);
                if hp.residual_scale != 0.0 {
                    o.iter_mut().for_each(|v| *v *= hp.residual_scale);
                }
                add(&mut x, &o);
            }
        }
        st.pos += 1;
        let h = rms_norm(&x, &t[self.w.output_norm], hp.eps);
        let mut logits = matvec(&t[self.w.output], &h);
        if hp.logit_scale != 0.0 {
            logits.iter_mut().for_each(|v| *v /= hp.logit_scale);
        }
        logits
    }

    fn attention(&self, st: &mut RefState, il: usize, a: &AttnWeights, h: &[f32]) -> Vec<f32> {
        let hp = &self.hp;
        let t = &self.t;
        let (hd, nh, nkv) = (hp.head_dim as usize, hp.n_head as usize, hp.n_head_kv[il] as usize);
        let mut q = matvec(&t[a.wq], h);
        let mut k = matvec(&t[a.wk], h);
        let v = matvec(&t[a.wv], h);
        if hp.rope_type != RopeType::None {
            rope(&mut q, hd, hp.n_rot as usize, st.pos, hp.rope_theta, hp.rope_type);
            rope(&mut k, hd, hp.n_rot as usize, st.pos, hp.rope_theta, hp.rope_type);
        }
        st.k[il].extend_from_slice(&k);
        st.v[il].extend_from_slice(&v);
        let n = st.pos + 1;
        let scale = hp.kq_scale();
        let mut out = vec![0.0; nh * hd];
        for head in 0..nh {
            let kvh = head / (nh / nkv);
            let qh = &q[head * hd..(head + 1) * hd];
            let scores: Vec<f32> = (0..n)
                .map(|j| {
                    let kj = &st.k[il][(j * nkv + kvh) * hd..(j * nkv + kvh + 1) * hd];
                    qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale
                })
                .collect();
            let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let p: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
            let sum: f32 = p.iter().sum();
            for (j, pj) in p.iter().enumerate() {
                let vj = &st.v[il][(j * nkv + kvh) * hd..(j * nkv + kvh + 1) * hd];
                for d in 0..hd {
                    out[head * hd + d] += pj / sum * vj[d];
                }
            }
        }
        matvec(&t[a.wo], &out)
    }

    fn mamba2(&self, st: &mut RefState, il: usize, s: &SsmWeights, h: &[f32]) -> Vec<f32> {
        let p = self.hp.ssm.expect("recurrent layer has ssm params");
        let t = &self.t;
        let (di, n, g, nh, hdim, kc) = (
            p.d_inner as usize, p.d_state as usize, p.n_group as usize, p.n_head as usize,
            p.head_dim as usize, p.d_conv as usize,
        );
        let cdim = p.conv_dim() as usize;
        let u = matvec(&t[s.ssm_in], h);
        let z = &u[..di];
        let xbc = &u[di..di + cdim];
        let dt = &u[2 * di + 2 * g * n..2 * di + 2 * g * n + nh];
        // causal depthwise conv over [state | new]; state is [C][K-1], oldest first
        let w = &t[s.conv1d];
        let state = &mut st.conv[il];
        let mut y = vec![0.0; cdim];
        for c in 0..cdim {
            let win: Vec<f32> = state[c * (kc - 1)..(c + 1) * (kc - 1)].iter().cloned().chain([xbc[c]]).collect();
            let mut acc: f32 = (0..kc).map(|k| w[c * kc + k] * win[k]).sum();
            if let Some(b) = s.conv1d_b {
                acc += t[b][c];
            }
            y[c] = silu(acc);
            state[c * (kc - 1)..(c + 1) * (kc - 1)].copy_from_slice(&win[1..]);
        }
        let (x, bm, cm) = (&y[..di], &y[di..di + g * n], &y[di + g * n..di + 2 * g * n]);
        let ssm = &mut st.ssm[il];
        let mut out = vec![0.0; di];
        for hh in 0..nh {
            let gi = hh / (nh / g);
            let d = softplus(dt[hh] + t[s.dt_b][hh]);
            let da = (d * t[s.a][hh]).exp();
            for pp in 0..hdim {
                let idx = hh * hdim + pp;
                let xv = x[idx];
                let mut acc = 0.0;
                for k in 0..n {
                    let sidx = idx * n + k;
                    ssm[sidx] = ssm[sidx] * da + bm[gi * n + k] * xv * d;
                    acc += ssm[sidx] * cm[gi * n + k];
                }
                out[idx] = (acc + xv * t[s.d][hh]) * silu(z[idx]);
            }
        }
        if let Some(nw) = s.norm {
            let gs = di / g;
            let mut normed = vec![];
            for gi in 0..g {
                normed.extend(rms_norm(&out[gi * gs..(gi + 1) * gs], &t[nw][gi * gs..(gi + 1) * gs], self.hp.eps));
            }
            out = normed;
        }
        matvec(&t[s.out], &out)
    }
}

fn add(a: &mut [f32], b: &[f32]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
}
