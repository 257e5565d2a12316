//! Session memory on the GPU, composed per layer (the seed's lesson from llama.cpp's hybrid
//! memory): each layer's mixers declare what they keep per sequence ([`layout`]: KV rows per
//! token, fixed-size recurrent states), the [`pool`]s are sized from that, and a
//! [`sequence::SequenceMemory`] holds one sequence's KV blocks (shared copy-on-write with
//! forks) and state slot. [`checkpoint`]s snapshot the recurrent state so a sequence can be
//! rewound; the [`prefix`] cache keeps sequences' memory at checkpoint positions for others
//! that begin with the same tokens. Nothing here knows models, tokens or architectures: fork, rewind, save/restore
//! and byte accounting work for every memory kind by walking the layout.

pub mod checkpoint;
pub mod layout;
pub mod pool;
pub mod prefix;
pub mod sequence;

pub use checkpoint::{Checkpoint, CheckpointPolicy, Checkpoints, Snapshot};
pub use layout::{KvRows, LayerMemory, MemoryLayout, StateTensor};
pub use pool::{Pools, KV_BLOCK};
pub use prefix::{PrefixCache, PrefixCacheReport};
pub use sequence::{SequenceBytes, SequenceMemory};
