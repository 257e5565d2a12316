//! Which tensor plays which role, per layer, with shapes checked against the hparams.
//! Shared by the CPU reference and the GPU forward (both index `GgufIndex::tensors`).

use super::hparams::{Arch, HParams, ModelError};
use crate::gguf::GgufIndex;

/// Index into `GgufIndex::tensors`.
pub type T = usize;

#[derive(Debug, Clone, Default)]
pub struct AttnWeights {
    pub wq: T,
    pub wk: T,
    pub wv: T,
    pub wo: T,
}

#[derive(Debug, Clone, Default)]
pub struct SsmWeights {
    pub ssm_in: T,
    pub conv1d: T,
    pub conv1d_b: Option<T>,
    pub dt_b: T,
    pub a: T,
    pub d: T,
    pub norm: Option<T>,
    pub out: T,
}

#[derive(Debug, Clone, Default)]
pub struct FfnWeights {
    pub norm: T,
    pub gate: T,
    pub up: T,
    pub down: T,
}

#[derive(Debug, Clone, Default)]
pub struct LayerWeights {
    pub attn_norm: T,
    pub attn: Option<AttnWeights>,
    pub ssm: Option<SsmWeights>,
    pub ffn: Option<FfnWeights>,
}

#[derive(Debug, Clone)]
pub struct ModelWeights {
    pub token_embd: T,
    pub output_norm: T,
    /// `output.weight`, or the embedding table when tied.
    pub output: T,
    pub layers: Vec<LayerWeights>,
}

struct Resolver<'a> {
    index: &'a GgufIndex,
}

impl Resolver<'_> {
    fn get(&self, name: &str, shape: &[u64]) -> Result<T, ModelError> {
        let i = self.index.tensor_index(name).ok_or_else(|| ModelError::MissingTensor(name.into()))?;
        self.check(i, name, shape)
    }
    fn opt(&self, name: &str, shape: &[u64]) -> Result<Option<T>, ModelError> {
        match self.index.tensor_index(name) {
            Some(i) => self.check(i, name, shape).map(Some),
            None => Ok(None),
        }
    }
    /// Either name (Falcon-H1 writes `blk.N.ffn_norm` without `.weight`).
    fn either(&self, a: &str, b: &str, shape: &[u64]) -> Result<T, ModelError> {
        match self.opt(a, shape)? {
            Some(i) => Ok(i),
            None => self.get(b, shape),
        }
    }
    fn check(&self, i: T, name: &str, shape: &[u64]) -> Result<T, ModelError> {
        let got = &self.index.tensors[i].dims;
        // Trailing 1s are equivalent ([E] == [E, 1]).
        let trim = |v: &[u64]| {
            let mut v = v.to_vec();
            while v.len() > 1 && v.last() == Some(&1) {
                v.pop();
            }
            v
        };
        if trim(got) != trim(shape) {
            return Err(ModelError::BadShape { name: name.into(), got: got.clone(), want: shape.to_vec() });
        }
        Ok(i)
    }
}

impl ModelWeights {
    pub fn resolve(index: &GgufIndex, hp: &HParams) -> Result<ModelWeights, ModelError> {
        let r = Resolver { index };
        let (e, v) = (hp.n_embd as u64, hp.n_vocab as u64);
        let token_embd = r.get("token_embd.weight", &[e, v])?;
        let output_norm = r.get("output_norm.weight", &[e])?;
        let output = r.opt("output.weight", &[e, v])?.unwrap_or(token_embd);
        let mut layers = vec![];
        for (il, kind) in hp.layers.iter().enumerate() {
            let b = |s: &str| format!("blk.{il}.{s}");
            let mut lw = LayerWeights { attn_norm: r.get(&b("attn_norm.weight"), &[e])?, ..Default::default() };
            if kind.attention {
                let hd = hp.head_dim as u64;
                let (q, kv) = (hp.n_head as u64 * hd, hp.n_head_kv[il] as u64 * hd);
                lw.attn = Some(AttnWeights {
                    wq: r.get(&b("attn_q.weight"), &[e, q])?,
                    wk: r.get(&b("attn_k.weight"), &[e, kv])?,
                    wv: r.get(&b("attn_v.weight"), &[e, kv])?,
                    wo: r.get(&b("attn_output.weight"), &[q, e])?,
                });
            }
            if kind.recurrent {
                let s = hp.ssm.ok_or_else(|| ModelError::MissingKey("ssm.inner_size".into()))?;
                let (nh, di) = (s.n_head as u64, s.d_inner as u64);
                let conv_dim = s.conv_dim() as u64;
                lw.ssm = Some(SsmWeights {
                    ssm_in: r.get(&b("ssm_in.weight"), &[e, s.d_in_proj() as u64])?,
                    conv1d: r.get(&b("ssm_conv1d.weight"), &[s.d_conv as u64, conv_dim])?,
                    conv1d_b: if hp.arch == Arch::Mamba2 {
                        Some(r.get(&b("ssm_conv1d.bias"), &[conv_dim])?)
                    } else {
                        r.opt(&b("ssm_conv1d.bias"), &[conv_dim])?
                    },
                    dt_b: r.get(&b("ssm_dt.bias"), &[nh])?,
                    a: r.get(&b("ssm_a"), &[1, nh])?,
                    d: r.get(&b("ssm_d"), &[1, nh])?,
                    norm: r.opt(&b("ssm_norm.weight"), &[di / s.n_group as u64, s.n_group as u64])?,
                    out: r.get(&b("ssm_out.weight"), &[di, e])?,
                });
                // mamba2 and granitehybrid always have the gated norm; Falcon-H1 may not.
                if hp.arch != Arch::FalconH1 && lw.ssm.as_ref().is_some_and(|s| s.norm.is_none()) {
                    return Err(ModelError::MissingTensor(b("ssm_norm.weight")));
                }
            }
            if hp.arch != Arch::Mamba2 {
                let f = hp.n_ff as u64;
                lw.ffn = Some(FfnWeights {
                    norm: r.either(&b("ffn_norm.weight"), &b("ffn_norm"), &[e])?,
                    gate: r.get(&b("ffn_gate.weight"), &[e, f])?,
                    up: r.get(&b("ffn_up.weight"), &[e, f])?,
                    down: r.get(&b("ffn_down.weight"), &[f, e])?,
                });
            }
            layers.push(lw);
        }
        let mw = ModelWeights { token_embd, output_norm, output, layers };
        // A tensor nobody reads (a bias, a router, a rope_freqs table) would be silently
        // ignored and give wrong logits: refuse the file instead.
        let used = mw.used();
        if let Some(t) = index.tensors.iter().enumerate().find(|(i, _)| !used.contains(i)) {
            return Err(ModelError::UnexpectedTensor(t.1.name.clone()));
        }
        Ok(mw)
    }

    /// Every tensor index this model reads.
    pub fn used(&self) -> std::collections::HashSet<T> {
        let mut u: std::collections::HashSet<T> = [self.token_embd, self.output_norm, self.output].into();
        for l in &self.layers {
            u.insert(l.attn_norm);
            if let Some(a) = &l.attn {
                u.extend([a.wq, a.wk, a.wv, a.wo]);
            }
            if let Some(s) = &l.ssm {
                u.extend([s.ssm_in, s.conv1d, s.dt_b, s.a, s.d, s.out]);
                u.extend(s.conv1d_b);
                u.extend(s.norm);
            }
            if let Some(f) = &l.ffn {
                u.extend([f.norm, f.gate, f.up, f.down]);
            }
        }
        u
    }
}
