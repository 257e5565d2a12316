//! Synthetic models (random weights) of every supported architecture: the machinery lives in
//! `model::synth`, each architecture's presets and tensors in its file in `model::arch`.

pub use crate::model::arch::write_model;
pub use crate::model::synth::{random_tensor_bytes, Init, Synth, SynthConfig, WeightType};
pub use crate::rng::Rng;
pub use crate::tokenizer::byte_to_unicode;
