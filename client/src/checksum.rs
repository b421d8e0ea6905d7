//! Checksums: SHA-256 per chunk, and a per-block digest composed from the chunk digests.
//!
//! Blocks are checksummed in fixed [`CHUNK_SIZE`] chunks so a ranged read verifies only the
//! chunks it touches and a corrupt byte is pinned to one chunk. The block digest is SHA-256 over
//! the concatenated chunk digests (as HDFS's block checksum is MD5 over its chunk CRCs): it is
//! computable from the sidecar alone, without a second pass over the data.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Bytes per checksummed chunk. Part of the on-disk and wire formats.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// A SHA-256 digest, hex on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(data: &[u8]) -> Self {
        Digest(Sha256::digest(data).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl TryFrom<String> for Digest {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(|e| format!("bad sha256 {s:?}: {e}"))?;
        Ok(Digest(out))
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_hex()
    }
}

/// Accumulates chunk digests into the block digest, tracking the block length.
#[derive(Clone, Default)]
pub struct BlockDigester {
    hasher: Sha256,
    length: u64,
    chunks: u64,
}

impl BlockDigester {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk, given its digest and length. Every chunk but the last is `CHUNK_SIZE`.
    pub fn push(&mut self, chunk_digest: &Digest, chunk_len: usize) {
        self.hasher.update(chunk_digest.0);
        self.length += chunk_len as u64;
        self.chunks += 1;
    }

    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    pub fn finish(self) -> Digest {
        Digest(self.hasher.finalize().into())
    }
}

/// The block digest of `data`, computed the long way (for tests and tools).
pub fn block_digest_of(data: &[u8]) -> Digest {
    let mut digester = BlockDigester::new();
    for chunk in data.chunks(CHUNK_SIZE) {
        digester.push(&Digest::of(chunk), chunk.len());
    }
    digester.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_hex_round_trip() {
        let d = Digest::of(b"granary");
        let back: Digest = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"zz\"").is_err());
    }

    #[test]
    fn block_digest_depends_on_every_chunk() {
        let mut data = vec![7u8; CHUNK_SIZE * 2 + 10];
        let before = block_digest_of(&data);
        data[CHUNK_SIZE + 3] ^= 1;
        assert_ne!(block_digest_of(&data), before);
    }
}
