//! LFM2's short-convolution mixer (spec §2.3, llama.cpp `build_shortconv_block`):
//! bcx = in_proj·h split into B | C | x; y = C ⊙ conv(B ⊙ x), a causal depthwise convolution of
//! `l_cache` taps over the carried window — no bias, no activation; out_proj. Keeps only the
//! last l_cache − 1 inputs of the convolution per sequence.

use super::super::graph::{Graph, Out};
use super::super::hparams::ModelError;
use super::super::plan::{Tensors, T};
use super::super::reference::{matvec, RefWeights};
use crate::gpu::ops::Shader;
use crate::gpu::params;
use crate::memory::{LayerMemory, StateTensor};

#[derive(Debug, Clone)]
pub struct ShortConv {
    pub n_embd: u32,
    /// Taps of the convolution (`shortconv.l_cache`).
    pub l_cache: u32,
    /// [n_embd, 3·n_embd], rows B | C | x
    pub in_proj: T,
    /// [l_cache, n_embd]: channel c's taps are row c, oldest first
    pub conv: T,
    /// [n_embd, n_embd]
    pub out_proj: T,
}

impl ShortConv {
    /// The `shortconv.*` tensors of layer `il` under llama.cpp's names.
    pub fn resolve(t: &mut Tensors, il: usize, n_embd: u32, l_cache: u32) -> Result<ShortConv, ModelError> {
        if !(2..=16).contains(&l_cache) {
            return Err(ModelError::BadHparams(format!("shortconv.l_cache {l_cache} (2..=16 supported)")));
        }
        let b = |s: &str| format!("blk.{il}.{s}");
        let e = n_embd as u64;
        Ok(ShortConv {
            n_embd,
            l_cache,
            in_proj: t.matrix(&b("shortconv.in_proj.weight"), &[e, 3 * e])?,
            conv: t.f32(&b("shortconv.conv.weight"), &[l_cache as u64, e])?,
            out_proj: t.matrix(&b("shortconv.out_proj.weight"), &[e, e])?,
        })
    }

    pub fn memory(&self) -> LayerMemory {
        LayerMemory { kv: None, states: vec![StateTensor { name: "conv", floats: (self.l_cache - 1) * self.n_embd }] }
    }

    /// `states[0]`: the conv window pool [slots, n_embd, l_cache − 1].
    pub(crate) fn record(&self, g: &mut Graph, states: &[wgpu::Buffer], h: &wgpu::Buffer, out: Out) {
        use params::short_conv as s;
        let [state] = states else { return };
        let e = self.n_embd;
        let bcx = g.scratch(3 * e);
        g.linear(self.in_proj, None, h, Out::fresh(&bcx), 3 * e);
        let y = g.scratch(e);
        let p = s::Params { n_tok: g.n, n_embd: e, l_cache: self.l_cache, _pad: 0 };
        let (w, batch) = (g.vec(self.conv), g.batch);
        g.r.dispatch(
            Shader::ShortConv,
            "short_conv",
            &[(s::bcx, &bcx), (s::w, w), (s::state, state), (s::y, &y), (s::seqs, &batch.seqs)],
            &p,
            (e.div_ceil(64), batch.n_seqs, 1),
        );
        g.linear(self.out_proj, None, &y, out, e);
    }

    /// One token with plain loops; `states[0]` is [n_embd, l_cache − 1], oldest first.
    pub(crate) fn reference(&self, w: &RefWeights, states: &mut [Vec<f32>], h: &[f32]) -> Vec<f32> {
        let (e, k) = (self.n_embd as usize, self.l_cache as usize);
        let bcx = matvec(&w[self.in_proj], h);
        let (bm, cm, x) = (&bcx[..e], &bcx[e..2 * e], &bcx[2 * e..]);
        let state = &mut states[0];
        let cw = &w[self.conv];
        let mut y = vec![0.0; e];
        for c in 0..e {
            let win: Vec<f32> = state[c * (k - 1)..(c + 1) * (k - 1)].iter().cloned().chain([bm[c] * x[c]]).collect();
            let acc: f32 = (0..k).map(|i| cw[c * k + i] * win[i]).sum();
            y[c] = cm[c] * acc;
            state[c * (k - 1)..(c + 1) * (k - 1)].copy_from_slice(&win[1..]);
        }
        matvec(&w[self.out_proj], &y)
    }
}
