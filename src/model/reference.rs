//! The CPU reference forward pass: f32, plain loops, one token at a time. It walks the same
//! layer plan as the GPU forward, calling each block's own `reference` (written to follow
//! spec §2 line by line). Tests compare the GPU forward and llama.cpp against it, and
//! `braid diff` compares its taps with the GPU's.

use super::hparams::ModelError;
use super::plan::{Ffn, Mixer, ModelPlan};
use super::taps::{tap_name, Tap, Taps};
use crate::gguf::quant::dequantize;
use crate::gguf::{parse_index, GgufIndex};

/// Every tensor of the file dequantized to f32, in `GgufIndex::tensors` order.
pub type RefWeights = Vec<Vec<f32>>;

pub struct RefModel {
    pub plan: ModelPlan,
    pub index: GgufIndex,
    w: RefWeights,
}

/// One layer's memory of one sequence: K and V rows of every position (attention) and the
/// layer's recurrent states in layout order.
#[derive(Debug, Clone, Default)]
pub struct RefLayer {
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub states: Vec<Vec<f32>>,
}

/// One sequence's memory.
#[derive(Debug, Clone)]
pub struct RefState {
    pub pos: usize,
    pub layers: Vec<RefLayer>,
}

pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / x.len() as f64;
    let s = 1.0 / ((ms as f32) + eps).sqrt();
    x.iter().zip(w).map(|(a, b)| a * s * b).collect()
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU (tanh form) as ggml's CPU computes it: through `ggml_table_gelu_f16`, i.e. of the
/// input rounded to f16, the result rounded to f16; 0 at or below −10, x at or above 10
/// (ggml-cpu `vec.h`, `ggml_vec_geglu_f32` with `GGML_GELU_FP16`).
#[allow(clippy::excessive_precision)]
pub fn gelu(x: f32) -> f32 {
    use half::f16;
    const SQRT_2_OVER_PI: f32 = 0.797_884_560_802_865_355_879_892_119_868_76;
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    let h = f16::from_f32(x).to_f32();
    f16::from_f32(0.5 * h * (1.0 + (SQRT_2_OVER_PI * h * (1.0 + 0.044715 * h * h)).tanh())).to_f32()
}

pub fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// y = W·x for W of `rows` rows of `x.len()` values.
pub fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks_exact(x.len()).map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum()).collect()
}

fn add_scaled(a: &mut [f32], b: &[f32], s: f32) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x += s * y);
}

impl RefModel {
    /// Dequantize every tensor of an in-memory GGUF.
    pub fn from_bytes(bytes: &[u8]) -> Result<RefModel, ModelError> {
        let index = parse_index(bytes).map_err(|e| ModelError::BadHparams(e.to_string()))?;
        let plan = ModelPlan::build(&index)?;
        let mut w = vec![];
        for info in &index.tensors {
            let start = (index.data_start + info.offset) as usize;
            let data = bytes.get(start..start + info.n_bytes as usize).ok_or_else(|| ModelError::BadHparams(format!("tensor {} is cut off", info.name)))?;
            let mut v = vec![];
            dequantize(info.ty, data, &mut v).map_err(|e| ModelError::BadHparams(e.to_string()))?;
            w.push(v);
        }
        Ok(RefModel { plan, index, w })
    }

    /// An empty sequence: no KV rows, all-zero states.
    pub fn new_state(&self) -> RefState {
        let layout = self.plan.memory_layout();
        RefState {
            pos: 0,
            layers: layout
                .layers
                .iter()
                .map(|l| RefLayer { k: vec![], v: vec![], states: l.states.iter().map(|s| vec![0.0; s.floats as usize]).collect() })
                .collect(),
        }
    }

    /// Evaluate `tokens` after what `st` holds; logits for each.
    pub fn eval(&self, st: &mut RefState, tokens: &[u32]) -> Vec<Vec<f32>> {
        tokens.iter().map(|&tok| self.step(st, tok, None)).collect()
    }

    /// As [`RefModel::eval`], also collecting the taps of every token (each tap's rows are the
    /// tokens, as on the GPU).
    pub fn eval_taps(&self, st: &mut RefState, tokens: &[u32]) -> (Vec<Vec<f32>>, Taps) {
        let mut taps: Taps = vec![];
        let mut logits = vec![];
        for &tok in tokens {
            let mut t = vec![];
            logits.push(self.step(st, tok, Some(&mut t)));
            if taps.is_empty() {
                taps = t;
            } else {
                for (a, b) in taps.iter_mut().zip(t) {
                    a.values.extend(b.values);
                }
            }
        }
        (logits, taps)
    }

    fn step(&self, st: &mut RefState, tok: u32, mut taps: Option<&mut Taps>) -> Vec<f32> {
        let plan = &self.plan;
        let w = &self.w;
        let eps = plan.hp.eps;
        let e = plan.hp.n_embd as usize;
        let mut tap = |name: &str, il: Option<usize>, v: &[f32]| {
            if let Some(t) = taps.as_deref_mut() {
                t.push(Tap { name: tap_name(name, il), width: v.len() as u32, values: v.to_vec() });
            }
        };
        // ---- token embedding (× embed_scale)
        let mut x: Vec<f32> = w[plan.token_embd][tok as usize * e..(tok as usize + 1) * e].iter().map(|v| v * plan.embed_scale).collect();
        tap("inp_embd", None, &x);
        for (il, layer) in plan.layers.iter().enumerate() {
            let ls = &mut st.layers[il];
            // ---- x += scale · Σ mixer(RMSNorm(x))
            if let Some(norm) = layer.mixer_norm {
                let h = rms_norm(&x, &w[norm], eps);
                tap("attn_norm", Some(il), &h);
                let mut mix = vec![0.0; e];
                for (i, m) in layer.mixers.iter().enumerate() {
                    let base = layer.state_base(i);
                    let o = match m {
                        Mixer::Attention(a) => a.reference(w, ls, st.pos, &h, eps),
                        Mixer::Mamba2(m) => m.reference(w, &mut ls.states[base..], &h, eps),
                        Mixer::ShortConv(c) => c.reference(w, &mut ls.states[base..], &h),
                        Mixer::DeltaNet(d) => d.reference(w, &mut ls.states[base..], &h, eps),
                        Mixer::Mamba1(m) => m.reference(w, &mut ls.states[base..], &h, eps),
                    };
                    tap(mixer_tap(m), Some(il), &o);
                    add_scaled(&mut mix, &o, 1.0);
                }
                if let Some(pn) = layer.mixer_post_norm {
                    mix = rms_norm(&mix, &w[pn], eps);
                    tap("attn_post_norm", Some(il), &mix);
                }
                add_scaled(&mut x, &mix, layer.residual_scale);
            }
            tap("ffn_inp", Some(il), &x);
            // ---- x += scale · FFN(RMSNorm(x))
            if let Some(f) = &layer.ffn {
                let h = rms_norm(&x, &w[f.norm], eps);
                tap("ffn_norm", Some(il), &h);
                let o = match &f.ffn {
                    Ffn::Dense(d) => d.reference(w, &h),
                    Ffn::Moe(m) => m.reference(w, &h),
                };
                tap("ffn_out", Some(il), &o);
                let o = match f.post_norm {
                    Some(pn) => {
                        let o = rms_norm(&o, &w[pn], eps);
                        tap("ffn_post_norm", Some(il), &o);
                        o
                    }
                    None => o,
                };
                add_scaled(&mut x, &o, layer.residual_scale);
            }
            tap("l_out", Some(il), &x);
        }
        st.pos += 1;
        // ---- final norm, LM head (× logit_scale)
        let h = rms_norm(&x, &w[plan.output_norm], eps);
        tap("result_norm", None, &h);
        let mut logits: Vec<f32> = matvec(&w[plan.output], &h).into_iter().map(|v| v * plan.logit_scale).collect();
        if plan.logit_softcap > 0.0 {
            let c = plan.logit_softcap;
            logits.iter_mut().for_each(|l| *l = c * (*l * (1.0 / c)).tanh());
        }
        tap("result_output", None, &logits);
        logits
    }
}

/// The tap name of a mixer's output.
pub fn mixer_tap(m: &Mixer) -> &'static str {
    match m {
        Mixer::Attention(_) => "attn_out",
        Mixer::Mamba2(_) => "ssm_out",
        Mixer::ShortConv(_) => "shortconv_out",
        Mixer::DeltaNet(_) => "linear_attn_out",
        Mixer::Mamba1(_) => "ssm_out",
    }
}
