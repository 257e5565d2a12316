//! Feed-forward blocks (llama.cpp `build_ffn`): gated, down(act(gate·x) ⊙ up·x) with SiLU
//! (SwiGLU) or GELU (GeGLU); plain, down(act(up·x)) with ReLU² (Nemotron-H). Optional up/down biases.

use super::super::graph::{Graph, Out};
use crate::gpu::ops::{Act, Epilogue};
use super::super::hparams::ModelError;
use super::super::plan::{Tensors, T};
use super::super::reference::{gelu, matvec, silu, RefWeights};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// x·σ(x), gated (SwiGLU).
    Silu,
    /// max(x, 0)² (llama.cpp `LLM_FFN_RELU_SQR`).
    ReluSqr,
    /// GELU, tanh form, gated (GeGLU: Gemma), as ggml's CPU computes it (see
    /// [`crate::model::reference::gelu`]).
    Gelu,
}

#[derive(Debug, Clone)]
pub struct DenseFfn {
    pub act: Activation,
    /// [n_embd, n_ff] — present for gated FFNs
    pub gate: Option<T>,
    /// [n_embd, n_ff]
    pub up: T,
    /// [n_ff, n_embd]
    pub down: T,
    pub gate_b: Option<T>,
    pub up_b: Option<T>,
    pub down_b: Option<T>,
    pub n_ff: u32,
}

impl DenseFfn {
    /// `ffn_gate` / `ffn_up` / `ffn_down` of layer `il` (`gated`: with `ffn_gate`).
    pub fn resolve(t: &mut Tensors, il: usize, n_embd: u32, n_ff: u32, gated: bool, act: Activation) -> Result<DenseFfn, ModelError> {
        Self::resolve_named(t, il, n_embd, n_ff, gated, act, "")
    }

    /// As [`DenseFfn::resolve`] with a name suffix (`_shexp`: an MoE layer's shared expert).
    pub fn resolve_named(t: &mut Tensors, il: usize, n_embd: u32, n_ff: u32, gated: bool, act: Activation, suffix: &str) -> Result<DenseFfn, ModelError> {
        if n_ff == 0 {
            return Err(ModelError::BadHparams(format!("layer {il}: feed_forward_length is 0")));
        }
        // Gated FFNs use SiLU or GELU, plain ones ReLU² (the kinds llama.cpp's archs here use).
        if gated == (act == Activation::ReluSqr) {
            return Err(ModelError::UnsupportedFeature(format!("layer {il}: {} FFN with {act:?}", if gated { "gated" } else { "plain" })));
        }
        let b = |s: &str, kind: &str| format!("blk.{il}.{s}{suffix}.{kind}");
        let (e, f) = (n_embd as u64, n_ff as u64);
        Ok(DenseFfn {
            act,
            gate: if gated { Some(t.matrix(&b("ffn_gate", "weight"), &[e, f])?) } else { None },
            gate_b: if gated { t.opt_f32(&b("ffn_gate", "bias"), &[f])? } else { None },
            up: t.matrix(&b("ffn_up", "weight"), &[e, f])?,
            down: t.matrix(&b("ffn_down", "weight"), &[f, e])?,
            up_b: t.opt_f32(&b("ffn_up", "bias"), &[f])?,
            down_b: t.opt_f32(&b("ffn_down", "bias"), &[e])?,
            n_ff,
        })
    }

    pub(crate) fn record(&self, g: &mut Graph, h: &wgpu::Buffer, out: Out) {
        let ff = self.n_ff;
        let fresh = Out::fresh;
        let u = g.scratch(ff);
        // The activation runs in the up projection's epilogue (one dispatch less per layer);
        // only an up bias (it takes the gate's binding) keeps the separate elementwise pass.
        let act = match self.gate {
            // Gate and up of one type and shape in one dispatch (`Epilogue::Pair`).
            Some(gate) if self.up_b.is_none() && self.gate_b.is_none() && g.pairable(gate, self.up) => {
                let second = g.t(self.up);
                g.linear_epi(gate, h, fresh(&u), ff, Epilogue::Pair { second, gelu: self.act == Activation::Gelu });
                u
            }
            Some(gate) if self.up_b.is_none() => {
                let gt = g.scratch(ff);
                g.linear(gate, self.gate_b, h, fresh(&gt), ff);
                let a = if self.act == Activation::Gelu { Act::GeluGate(&gt) } else { Act::SiluGate(&gt) };
                g.linear_act(self.up, None, h, fresh(&u), ff, a);
                u
            }
            Some(gate) => {
                g.linear(self.up, self.up_b, h, fresh(&u), ff);
                let gt = g.scratch(ff);
                g.linear(gate, self.gate_b, h, fresh(&gt), ff);
                g.elementwise(if self.act == Activation::Gelu { "gelu_mul" } else { "silu_mul" }, &gt, Some(&u), g.n * ff, 1.0);
                gt
            }
            None => {
                g.linear_act(self.up, self.up_b, h, fresh(&u), ff, Act::ReluSqr);
                u
            }
        };
        g.linear(self.down, self.down_b, &act, out, g.t(self.down).info.n_rows() as u32);
    }

    pub(crate) fn reference(&self, w: &RefWeights, h: &[f32]) -> Vec<f32> {
        let mut u = matvec(&w[self.up], h);
        if let Some(b) = self.up_b {
            u.iter_mut().zip(&w[b]).for_each(|(a, b)| *a += b);
        }
        let a: Vec<f32> = match (self.gate, self.act) {
            (Some(gate), _) => {
                let mut g = matvec(&w[gate], h);
                if let Some(b) = self.gate_b {
                    g.iter_mut().zip(&w[b]).for_each(|(a, b)| *a += b);
                }
                let act = if self.act == Activation::Gelu { gelu } else { silu };
                g.iter().zip(&u).map(|(g, u)| act(*g) * u).collect()
            }
            (None, _) => u.iter().map(|v| v.max(0.0) * v.max(0.0)).collect(),
        };
        let mut y = matvec(&w[self.down], &a);
        if let Some(b) = self.down_b {
            y.iter_mut().zip(&w[b]).for_each(|(a, b)| *a += b);
        }
        y
    }
}
