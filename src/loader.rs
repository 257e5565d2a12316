//! Loading a model: stream GGUF bytes into GPU tensors.
