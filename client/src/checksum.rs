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

/// A file's checksum (HDFS's `getFileChecksum`, `hdfs dfs -checksum`, WebHDFS's
/// `GETFILECHECKSUM`): SHA-256 over the concatenated block digests, in block order. Computed
/// from the digests the namenode keeps, so no byte of the file is read.
///
/// Like HDFS's `MD5-of-MD5`, it depends on how the file is cut into blocks: two files with the
/// same bytes have the same checksum when they were written with the same block size (and
/// appends that fill blocks the same way), not otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChecksum {
    /// The digest, hex on the wire (WebHDFS's `bytes`).
    pub bytes: Digest,
}

impl FileChecksum {
    /// The algorithm's name (WebHDFS's `algorithm`): SHA-256 of the block digests, each the
    /// SHA-256 of its 64 KiB chunks' SHA-256 digests.
    pub const ALGORITHM: &'static str = "SHA256-of-SHA256";
    /// Bytes in the checksum (WebHDFS's `length`).
    pub const LENGTH: usize = 32;

    /// The checksum of a file whose blocks have these digests, in order.
    pub fn of_blocks<'a>(block_digests: impl IntoIterator<Item = &'a Digest>) -> Self {
        let mut hasher = Sha256::new();
        for digest in block_digests {
            hasher.update(digest.0);
        }
        FileChecksum {
            bytes: Digest(hasher.finalize().into()),
        }
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
    fn file_checksum_is_sha256_of_the_block_digests_in_order() {
        let a = block_digest_of(b"first block");
        let b = block_digest_of(b"second block");
        let mut joined = Vec::new();
        joined.extend_from_slice(&a.0);
        joined.extend_from_slice(&b.0);
        assert_eq!(FileChecksum::of_blocks([&a, &b]).bytes, Digest::of(&joined));
        assert_ne!(
            FileChecksum::of_blocks([&a, &b]),
            FileChecksum::of_blocks([&b, &a])
        );
        assert_eq!(
            FileChecksum::of_blocks([]).bytes.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "an empty file: SHA-256 of nothing"
        );
    }

    #[test]
    fn block_digest_depends_on_every_chunk() {
        let mut data = vec![7u8; CHUNK_SIZE * 2 + 10];
        let before = block_digest_of(&data);
        data[CHUNK_SIZE + 3] ^= 1;
        assert_ne!(block_digest_of(&data), before);
    }
}
