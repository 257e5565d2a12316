//! Models as data. Reading order for someone new:
//! - [`plan`]: a model is a list of layers; a layer is mixers (attention, Mamba2, short conv)
//!   on one normed input, an optional FFN, a residual scale.
//! - [`arch`]: one file per architecture builds that plan from its GGUF metadata and tensors
//!   (and writes its synthetic files for `braid synth`).
//! - [`blocks`]: each mixer and FFN kind once — tensors, per-sequence memory, GPU recording,
//!   CPU reference.
//! - [`forward`] (GPU) and [`reference`] (CPU): one loop each over the plan.
//! - [`taps`]: named intermediates of both, for finding where they differ.

pub mod arch;
pub mod blocks;
pub mod forward;
pub(crate) mod graph;
pub mod hparams;
pub mod plan;
pub mod reference;
pub mod synth;
pub mod taps;

pub use hparams::{HParams, LayerKind, Meta, ModelError, SsmParams};
pub use plan::{LayerPlan, Mixer, ModelPlan};
