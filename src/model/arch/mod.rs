//! One file per architecture: its metadata keys, its tensors (through the blocks' resolvers),
//! how it builds its layer plan, and its `braid synth` presets. Adding an architecture means
//! one new file here (plus any block it needs in `blocks/`) and one line in [`ARCHS`]; the
//! list of supported architectures everywhere (error messages, `braid` help, the JS API's
//! `supportedArchitectures`, the README) comes from that list.

use std::io::{self, Write};

use super::hparams::{Meta, ModelError};
use super::plan::{ModelPlan, Tensors};
use super::synth::{Synth, SynthConfig, WeightType};

pub mod falcon_h1;
pub mod gemma3;
pub mod granitehybrid;
pub mod jamba;
pub mod lfm2;
pub mod lfm2moe;
pub mod llama;
pub mod mamba2;
pub mod nemotron_h;
pub mod nemotron_h_moe;
pub mod qwen2;
pub mod qwen3;
pub mod qwen35;
pub mod qwen35moe;
pub mod qwen3next;

/// An architecture Braid runs.
pub struct Arch {
    /// `general.architecture`.
    pub name: &'static str,
    /// One line for people: the models it covers and its layer kinds.
    pub about: &'static str,
    /// Read metadata and tensors, build the layer plan.
    pub build: fn(&Meta, &mut Tensors) -> Result<ModelPlan, ModelError>,
    /// `braid synth` presets: (name, shape).
    pub presets: fn() -> Vec<(&'static str, SynthConfig)>,
    /// Write a synthetic file's metadata and tensors as llama.cpp's converter does.
    pub synth: fn(&mut Synth),
}

/// Every architecture Braid runs.
pub static ARCHS: &[&Arch] = &[
    &llama::ARCH,
    &qwen2::ARCH,
    &qwen3::ARCH,
    &mamba2::ARCH,
    &granitehybrid::ARCH,
    &falcon_h1::ARCH,
    &lfm2::ARCH,
    &lfm2moe::ARCH,
    &nemotron_h::ARCH,
    &nemotron_h_moe::ARCH,
    &qwen35::ARCH,
    &qwen35moe::ARCH,
    &qwen3next::ARCH,
    &jamba::ARCH,
    &gemma3::ARCH,
];

pub fn find(name: &str) -> Option<&'static Arch> {
    ARCHS.iter().copied().find(|a| a.name == name)
}

/// `general.architecture` names Braid runs.
pub fn supported_names() -> Vec<&'static str> {
    ARCHS.iter().map(|a| a.name).collect()
}

impl SynthConfig {
    /// The preset `name` of any architecture.
    pub fn preset(name: &str) -> Option<SynthConfig> {
        ARCHS.iter().flat_map(|a| (a.presets)()).find(|(n, _)| *n == name).map(|(_, c)| c)
    }

    /// Every preset name, architecture by architecture.
    pub fn presets() -> Vec<&'static str> {
        ARCHS.iter().flat_map(|a| (a.presets)()).map(|(n, _)| n).collect()
    }
}

/// Write a synthetic model file for `cfg` (its architecture's keys and tensors), weights in
/// `wt`, random values from `seed`. Returns the bytes written.
pub fn write_model<W: Write>(cfg: &SynthConfig, wt: WeightType, seed: u64, w: &mut W) -> io::Result<u64> {
    let a = find(&cfg.arch).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no synthetic models of {:?}", cfg.arch)))?;
    let mut s = Synth::new(cfg, wt);
    (a.synth)(&mut s);
    s.write(seed, w)
}
