//! GGUF: the streaming parser, metadata values, ggml types, CPU dequantizers and a writer.

pub mod error;
pub mod parser;
pub mod quant;
pub mod twin;
pub mod types;
pub mod value;
pub mod writer;

pub use error::GgufError;
pub use parser::{parse_index, read_index, Event, GgufIndex, GgufParser, ReadError, TensorInfo};
pub use types::GgmlType;
pub use value::{Array, Value, ValueType};

/// Largest accepted `general.alignment`.
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// Longest accepted metadata string (chat templates are a few tens of KiB).
pub const MAX_STRING_LEN: u64 = 16 << 20;
/// Most elements in one metadata array (vocabularies have up to ~260k tokens).
pub const MAX_ARRAY_LEN: u64 = 1 << 24;
/// Deepest array-of-array nesting accepted.
pub const MAX_NESTING: usize = 4;
/// Memory the parsed metadata may take, all values together.
pub const MAX_METADATA_BYTES: u64 = 256 << 20;
pub const MAX_TENSOR_COUNT: u64 = 1 << 20;
pub const MAX_KV_COUNT: u64 = 1 << 20;
/// ggml's GGML_MAX_NAME is 64 including the terminating NUL.
pub const MAX_TENSOR_NAME: u64 = 63;
