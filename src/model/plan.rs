//! The layer plan: a model described as data. Each layer is a list of mixers run on the same
//! normed input (outputs summed: Falcon-H1 has attention ∥ Mamba2), an optional FFN with its
//! own norm, and a residual scale. The GPU forward (`forward.rs`) and the CPU reference
//! (`reference.rs`) are one loop each over this plan, calling the shared blocks in `blocks/`.
//! An architecture's file in `arch/` reads its metadata and tensors and builds the plan.

use std::collections::HashSet;

use super::arch;
use super::blocks::{attention::Attention, delta_net::DeltaNet, ffn::DenseFfn, mamba1::Mamba1, mamba2::Mamba2, moe::Moe, short_conv::ShortConv};
use super::hparams::{HParams, LayerKind, Meta, ModelError};
use crate::gguf::{GgmlType, GgufIndex};
use crate::memory::{LayerMemory, MemoryLayout};

/// Index into `GgufIndex::tensors`.
pub type T = usize;

/// A mixer: the part of a layer that mixes information across positions.
#[derive(Debug, Clone)]
pub enum Mixer {
    Attention(Attention),
    Mamba2(Mamba2),
    ShortConv(ShortConv),
    DeltaNet(DeltaNet),
    Mamba1(Mamba1),
}

impl Mixer {
    /// The name reports and the JS API use: `attention`, `mamba2`, `short_conv`,
    /// `delta_net`, `mamba1`.
    pub fn name(&self) -> &'static str {
        match self {
            Mixer::Attention(_) => "attention",
            Mixer::Mamba2(_) => "mamba2",
            Mixer::ShortConv(_) => "short_conv",
            Mixer::DeltaNet(_) => "delta_net",
            Mixer::Mamba1(_) => "mamba1",
        }
    }

    /// What the mixer keeps per sequence.
    pub fn memory(&self) -> LayerMemory {
        match self {
            Mixer::Attention(a) => a.memory(),
            Mixer::Mamba2(m) => m.memory(),
            Mixer::ShortConv(c) => c.memory(),
            Mixer::DeltaNet(d) => d.memory(),
            Mixer::Mamba1(m) => m.memory(),
        }
    }
}

/// A feed-forward block.
#[derive(Debug, Clone)]
pub enum Ffn {
    Dense(DenseFfn),
    Moe(Moe),
}

impl Ffn {
    /// The name reports and the JS API use: `gated`, `plain` (dense) or `moe`.
    pub fn name(&self) -> &'static str {
        match self {
            Ffn::Dense(f) if f.gate.is_some() => "gated",
            Ffn::Dense(_) => "plain",
            Ffn::Moe(_) => "moe",
        }
    }
}

/// An FFN with the RMSNorm before it.
#[derive(Debug, Clone)]
pub struct FfnPlan {
    pub norm: T,
    pub ffn: Ffn,
    /// RMSNorm weight applied to the FFN's output before it joins the residual (Gemma 3's
    /// `ffn_post_norm`).
    pub post_norm: Option<T>,
}

/// One layer: x += scale · post(Σ mixers(RMSNorm(x))); x += scale · post(FFN(RMSNorm(x))),
/// `post` an optional RMSNorm (Gemma 3) or nothing.
#[derive(Debug, Clone)]
pub struct LayerPlan {
    /// The RMSNorm weight before the mixers (llama.cpp's `attn_norm`); `None` when the layer
    /// has no mixer (Nemotron-H's MLP-only layers).
    pub mixer_norm: Option<T>,
    pub mixers: Vec<Mixer>,
    /// RMSNorm weight applied to the mixers' summed output before it joins the residual
    /// (Gemma 3's `post_attention_norm`, llama.cpp `attn_post_norm`).
    pub mixer_post_norm: Option<T>,
    pub ffn: Option<FfnPlan>,
    /// Multiplies each branch's output before it joins the residual (Granite's
    /// `residual_scale`; 1 elsewhere).
    pub residual_scale: f32,
}

impl LayerPlan {
    /// What the layer keeps per sequence: its mixers' memories together.
    pub fn memory(&self) -> LayerMemory {
        let mut m = LayerMemory::default();
        for mix in &self.mixers {
            let mm = mix.memory();
            m.kv = m.kv.or(mm.kv);
            m.states.extend(mm.states);
        }
        m
    }

    /// Index of mixer `i`'s first state tensor in the layer's state list.
    pub fn state_base(&self, i: usize) -> usize {
        self.mixers[..i].iter().map(|m| m.memory().states.len()).sum()
    }
}

/// How the forward pass reads a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A matrix multiplied (or looked up) in its stored type, rows of whole vec4s.
    Matrix,
    /// A vector read as F32 from one buffer (norms, biases, A, D, conv taps).
    F32,
}

/// A whole model as data.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    pub hp: HParams,
    pub token_embd: T,
    /// Multiplies the embedding rows (Granite's `embedding_scale`; 1 elsewhere).
    pub embed_scale: f32,
    pub layers: Vec<LayerPlan>,
    pub output_norm: T,
    /// `output.weight`, or the embedding table when tied.
    pub output: T,
    /// Multiplies the logits (Granite divides by `logit_scale`; 1 elsewhere).
    pub logit_scale: f32,
    /// Final logit soft-capping: logits = cap · tanh(logits / cap) (Gemma's
    /// `final_logit_softcapping`; 0: none).
    pub logit_softcap: f32,
    /// How each tensor is read (`None`: not read at all).
    pub roles: Vec<Option<Role>>,
}

impl ModelPlan {
    /// The plan of the model in `index`: its architecture's file reads metadata and tensors.
    /// Fails on an architecture Braid does not run, missing or misshapen tensors, and on any
    /// tensor the plan does not read (a bias or router ignored silently would give wrong
    /// logits).
    pub fn build(index: &GgufIndex) -> Result<ModelPlan, ModelError> {
        let name = index.architecture().ok_or_else(|| ModelError::MissingKey("general.architecture".into()))?;
        let a = arch::find(name).ok_or_else(|| ModelError::UnsupportedArch(name.into()))?;
        let meta = Meta::new(index, name);
        let mut t = Tensors::new(index);
        let mut plan = (a.build)(&meta, &mut t)?;
        plan.roles = t.finish()?;
        plan.hp.layers = plan
            .layers
            .iter()
            .map(|l| {
                let m = l.memory();
                LayerKind { attention: m.kv.is_some(), recurrent: !m.states.is_empty() }
            })
            .collect();
        if plan.layers.len() != plan.hp.n_layer as usize {
            return Err(ModelError::BadHparams(format!("{} layers planned for block_count {}", plan.layers.len(), plan.hp.n_layer)));
        }
        Ok(plan)
    }

    /// What every layer keeps per sequence.
    pub fn memory_layout(&self) -> MemoryLayout {
        let layers: Vec<_> = self.layers.iter().map(LayerPlan::memory).collect();
        let window = layers.iter().filter_map(|l| l.kv).map(|kv| kv.window).max().unwrap_or(0);
        // Window layers keep the window plus one step of rows: steps of about the window's
        // size (64 ..= WINDOW_STEP tokens) keep the ring near 2 W.
        let max_step = if window > 0 { (window as usize).next_multiple_of(16).clamp(64, super::forward::WINDOW_STEP) } else { super::forward::MAX_BATCH };
        MemoryLayout { layers, max_step: max_step as u32, kv_f16: false }
    }

    /// Every tensor index the plan reads.
    pub fn used(&self) -> impl Iterator<Item = T> + '_ {
        self.roles.iter().enumerate().filter(|(_, r)| r.is_some()).map(|(i, _)| i)
    }
}

/// Finds tensors by llama.cpp's names, checks their shapes and records how each is read; at
/// the end, any tensor nobody asked for fails the model.
pub struct Tensors<'a> {
    pub index: &'a GgufIndex,
    roles: Vec<Option<Role>>,
    /// Tensors the file may hold that the plan deliberately does not run (multi-token-
    /// prediction blocks): neither loaded nor an error.
    skipped: Vec<bool>,
}

impl<'a> Tensors<'a> {
    pub fn new(index: &'a GgufIndex) -> Tensors<'a> {
        Tensors { index, roles: vec![None; index.tensors.len()], skipped: vec![false; index.tensors.len()] }
    }

    /// Every tensor whose name starts with `prefix` is not run (and not loaded).
    pub fn skip_prefix(&mut self, prefix: &str) {
        for (i, t) in self.index.tensors.iter().enumerate() {
            if t.name.starts_with(prefix) {
                self.skipped[i] = true;
            }
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

    fn take(&mut self, name: &str, shape: &[u64], role: Role, required: bool) -> Result<Option<T>, ModelError> {
        match self.index.tensor_index(name) {
            Some(i) => {
                self.check(i, name, shape)?;
                // A tensor read both ways (a tied embedding is looked up and multiplied) is
                // a matrix.
                if self.roles[i] != Some(Role::Matrix) {
                    self.roles[i] = Some(role);
                }
                Ok(Some(i))
            }
            None if required => Err(ModelError::MissingTensor(name.into())),
            None => Ok(None),
        }
    }

    /// A required matrix.
    pub fn matrix(&mut self, name: &str, shape: &[u64]) -> Result<T, ModelError> {
        Ok(self.take(name, shape, Role::Matrix, true)?.unwrap_or_default())
    }

    /// A matrix that may be absent.
    pub fn opt_matrix(&mut self, name: &str, shape: &[u64]) -> Result<Option<T>, ModelError> {
        self.take(name, shape, Role::Matrix, false)
    }

    /// A required F32 vector (or small F32 table).
    pub fn f32(&mut self, name: &str, shape: &[u64]) -> Result<T, ModelError> {
        Ok(self.take(name, shape, Role::F32, true)?.unwrap_or_default())
    }

    /// An F32 vector that may be absent.
    pub fn opt_f32(&mut self, name: &str, shape: &[u64]) -> Result<Option<T>, ModelError> {
        self.take(name, shape, Role::F32, false)
    }

    /// Either name (Falcon-H1 writes `blk.N.ffn_norm` without `.weight`).
    pub fn f32_either(&mut self, a: &str, b: &str, shape: &[u64]) -> Result<T, ModelError> {
        match self.opt_f32(a, shape)? {
            Some(i) => Ok(i),
            None => self.f32(b, shape),
        }
    }

    /// `output.weight`, or the embedding table when the file ties them.
    pub fn output(&mut self, token_embd: T, n_embd: u32, n_vocab: u32) -> Result<T, ModelError> {
        Ok(self.opt_matrix("output.weight", &[n_embd as u64, n_vocab as u64])?.unwrap_or(token_embd))
    }

    /// The roles of every tensor; an unread tensor is an error.
    fn finish(self) -> Result<Vec<Option<Role>>, ModelError> {
        let unused: HashSet<usize> = self.roles.iter().enumerate().filter(|(i, r)| r.is_none() && !self.skipped[*i]).map(|(i, _)| i).collect();
        if let Some(i) = (0..self.index.tensors.len()).find(|i| unused.contains(i)) {
            return Err(ModelError::UnexpectedTensor(self.index.tensors[i].name.clone()));
        }
        Ok(self.roles)
    }

    /// The stored type of tensor `i`.
    pub fn ty(&self, i: T) -> GgmlType {
        self.index.tensors[i].ty
    }
}
