//! Session blobs: a session's tokens and memory as bytes, tied to its model by the model's
//! fingerprint (a hash of the file's metadata and tensor table) and protected by a checksum.
//!
//! Layout (little-endian): magic `BRAIDSES`, u32 version, u64 fingerprint, u32 n_ctx, u32
//! token count n, n × u32 tokens, the memory rows ([`SequenceMemory::read`]: per attention
//! layer its K rows then its V rows — n of them, or the last min(n, W) of a sliding-window
//! layer — then every recurrent state in layout order), u64 FNV-1a of
//! everything before it. Version 2: the fingerprint hashes the file, not Braid's structs.

use super::{Session, SessionError};
use crate::model::forward::GpuModel;
use crate::memory::SequenceMemory;
use crate::model::forward::fnv1a64;

pub const SAVE_MAGIC: &[u8; 8] = b"BRAIDSES";
pub const SAVE_VERSION: u32 = 2;

const HEADER: usize = 8 + 4 + 8 + 4 + 4;

impl GpuModel {
    /// The session as bytes (format in the module docs).
    pub async fn save(&self, s: &Session) -> Result<Vec<u8>, SessionError> {
        let mut out = Vec::new();
        out.extend_from_slice(SAVE_MAGIC);
        out.extend_from_slice(&SAVE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.fingerprint().to_le_bytes());
        out.extend_from_slice(&s.n_ctx.to_le_bytes());
        out.extend_from_slice(&s.pos.to_le_bytes());
        for t in &s.tokens {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend(s.mem.read(s.pos).await?);
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// A new session from [`GpuModel::save`]'s bytes. A blob from another model, of another
    /// version, truncated or tampered with gives a typed error and creates nothing.
    pub fn restore(&self, blob: &[u8]) -> Result<Session, SessionError> {
        let bad = |m: &str| SessionError::BadBlob(m.to_string());
        if blob.len() < HEADER + 8 || &blob[..8] != SAVE_MAGIC {
            return Err(bad("missing header"));
        }
        let u32_at = |o: usize| u32::from_le_bytes([blob[o], blob[o + 1], blob[o + 2], blob[o + 3]]);
        let version = u32_at(8);
        if version != SAVE_VERSION {
            return Err(SessionError::Version(version));
        }
        let (body, tail) = blob.split_at(blob.len() - 8);
        let sum = u64::from_le_bytes(tail.try_into().map_err(|_| bad("no checksum"))?);
        if fnv1a64(body) != sum {
            return Err(SessionError::Checksum);
        }
        let found = u64::from_le_bytes(body[12..20].try_into().map_err(|_| bad("no fingerprint"))?);
        let want = self.fingerprint();
        if found != want {
            return Err(SessionError::WrongModel { found, want });
        }
        let (n_ctx, pos) = (u32_at(20), u32_at(24));
        if pos > n_ctx || n_ctx > 1 << 22 {
            return Err(bad("impossible token count or context"));
        }
        // Check the exact size before allocating anything.
        let layout = self.memory_layout();
        let rows = layout.serialized_len(pos);
        let need = HEADER as u64 + 4 * pos as u64 + rows;
        if body.len() as u64 != need {
            return Err(bad(&format!("{} bytes where {need} were expected", body.len())));
        }
        let tokens: Vec<u32> = (0..pos as usize).map(|i| u32_at(HEADER + 4 * i)).collect();
        if let Some(&t) = tokens.iter().find(|&&t| t >= self.hp.n_vocab) {
            return Err(bad(&format!("token id {t} is outside the vocabulary")));
        }
        let mut mem: SequenceMemory = self.new_memory();
        mem.reserve(0, pos);
        mem.write(pos, &body[HEADER + 4 * pos as usize..]);
        let mut s = self.new_session(n_ctx);
        s.mem = mem;
        s.pos = pos;
        s.tokens = tokens;
        self.checkpoint(&mut s);
        Ok(s)
    }
}
