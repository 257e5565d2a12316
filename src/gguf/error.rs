use thiserror::Error;

/// Every way a GGUF file can be wrong. Each variant says where (byte offset in the file)
/// and what was found, so `braid inspect` and the JS error messages are actionable.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GgufError {
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    #[error("file is truncated: {context} needs bytes up to offset {needed}, but the file ends at {len}")]
    Truncated { context: String, needed: u64, len: u64 },
    #[error("{what} count {count} at offset {offset} is impossible: at most {max} fit")]
    CountTooLarge { what: &'static str, count: u64, max: u64, offset: u64 },
    #[error("string at offset {offset} has length {len}, above the limit of {max} bytes")]
    StringTooLong { offset: u64, len: u64, max: u64 },
    #[error("array at offset {offset} has {len} elements, above the limit of {max}")]
    ArrayTooLong { offset: u64, len: u64, max: u64 },
    #[error("metadata arrays nested deeper than {max} levels at offset {offset}")]
    NestingTooDeep { offset: u64, max: usize },
    #[error("metadata is larger than the limit of {max} bytes (at offset {offset})")]
    MetadataTooLarge { offset: u64, max: u64 },
    #[error("unknown metadata value type {ty} at offset {offset}")]
    UnknownValueType { ty: u32, offset: u64 },
    #[error("empty metadata key at offset {offset}")]
    EmptyKey { offset: u64 },
    #[error("duplicate metadata key {key:?} at offset {offset}")]
    DuplicateKey { key: String, offset: u64 },
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongValueType { key: String, expected: &'static str, found: &'static str },
    #[error("general.alignment = {0} is invalid: it must be a power of two between 1 and {max}", max = super::MAX_ALIGNMENT)]
    BadAlignment(u64),
    #[error("tensor name at offset {offset} is {len} bytes long; the limit is {max}")]
    TensorNameTooLong { offset: u64, len: u64, max: u64 },
    #[error("empty tensor name at offset {offset}")]
    EmptyTensorName { offset: u64 },
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    #[error("tensor {name:?} has {n_dims} dimensions; GGUF allows 1 to 4")]
    BadDimCount { name: String, n_dims: u32 },
    #[error("tensor {name:?} has a zero dimension: {dims:?}")]
    ZeroDim { name: String, dims: Vec<u64> },
    #[error("tensor {name:?} has unknown ggml type id {ty}")]
    UnknownTensorType { name: String, ty: u32 },
    #[error("tensor {name:?} of type {ty} has ne0 = {ne0}, not a multiple of the block size {block}")]
    RowNotBlockMultiple { name: String, ty: &'static str, ne0: u64, block: u64 },
    #[error("tensor {name:?}: size of shape {dims:?} overflows")]
    SizeOverflow { name: String, dims: Vec<u64> },
    #[error("tensor {name:?}: offset {offset} is not a multiple of the alignment {alignment}")]
    UnalignedOffset { name: String, offset: u64, alignment: u64 },
    #[error("tensor {name:?}: offset {offset} overlaps or precedes the previous tensor, which ends at {prev_end}")]
    OverlappingOffset { name: String, offset: u64, prev_end: u64 },
    #[error("tensor {name:?}: data ends at file offset {end}, past the end of the file ({len})")]
    TensorPastEnd { name: String, end: u64, len: u64 },
    #[error("the file's total size ({len}) is smaller than what has already been read ({read})")]
    LengthMismatch { len: u64, read: u64 },
    #[error("the parser already failed: {0}")]
    Poisoned(Box<GgufError>),
}
