//! Models: hyperparameters, tensor roles, the CPU reference and the GPU forward.

pub mod forward;
pub mod hparams;
pub mod reference;
pub mod weights;

pub use hparams::{Arch, HParams, LayerKind, ModelError, RopeType, SsmParams};
pub use weights::ModelWeights;
