//! The checksum sidecar `blk_<id>.meta` written next to every finalized replica:
//!
//! ```text
//! magic "GRNMETA1" (8) | chunk size u32 BE | block length u64 BE | block digest (32)
//! | one SHA-256 per chunk (32 each, ceil(length / chunk size) of them)
//! ```
//!
//! The chunk digests are the ones that arrived in the frames, so serving a read re-sends them
//! without recomputing anything beyond the verification itself.

use granary_client::checksum::{BlockDigester, Digest, CHUNK_SIZE};

pub const MAGIC: &[u8; 8] = b"GRNMETA1";
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    #[error("not a sidecar (bad magic)")]
    BadMagic,
    #[error("sidecar truncated or has trailing bytes: {0} bytes for the declared length")]
    BadSize(usize),
    #[error("unsupported chunk size {0}")]
    ChunkSize(u32),
    #[error("block digest does not match the chunk digests")]
    DigestMismatch,
}

/// A decoded sidecar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    pub length: u64,
    pub block_digest: Digest,
    pub chunks: Vec<Digest>,
}

/// Chunks in a block of `length` bytes.
pub fn chunk_count(length: u64) -> u64 {
    length.div_ceil(CHUNK_SIZE as u64)
}

/// Length of chunk `index` of a block of `length` bytes.
pub fn chunk_len(length: u64, index: u64) -> usize {
    let start = index * CHUNK_SIZE as u64;
    (length.saturating_sub(start)).min(CHUNK_SIZE as u64) as usize
}

impl BlockMeta {
    /// The sidecar of a block of `length` bytes with these chunk digests; the block digest is
    /// derived from them.
    pub fn new(length: u64, chunks: Vec<Digest>) -> Self {
        let mut digester = BlockDigester::new();
        for (index, digest) in chunks.iter().enumerate() {
            digester.push(digest, chunk_len(length, index as u64));
        }
        BlockMeta {
            length,
            block_digest: digester.finish(),
            chunks,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 32 * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.block_digest.0);
        for digest in &self.chunks {
            out.extend_from_slice(&digest.0);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, MetaError> {
        if bytes.len() < HEADER_LEN {
            return Err(if bytes.starts_with(MAGIC) {
                MetaError::BadSize(bytes.len())
            } else {
                MetaError::BadMagic
            });
        }
        let (magic, rest) = bytes.split_at(8);
        if magic != MAGIC {
            return Err(MetaError::BadMagic);
        }
        let (chunk_size, rest) = rest.split_at(4);
        let chunk_size =
            u32::from_be_bytes([chunk_size[0], chunk_size[1], chunk_size[2], chunk_size[3]]);
        if chunk_size as usize != CHUNK_SIZE {
            return Err(MetaError::ChunkSize(chunk_size));
        }
        let (length, rest) = rest.split_at(8);
        let mut length_bytes = [0u8; 8];
        length_bytes.copy_from_slice(length);
        let length = u64::from_be_bytes(length_bytes);
        let (block_digest, rest) = rest.split_at(32);
        let expected = chunk_count(length).checked_mul(32);
        if expected != Some(rest.len() as u64) {
            return Err(MetaError::BadSize(bytes.len()));
        }
        let chunks = rest.chunks_exact(32).map(to_digest).collect();
        let meta = BlockMeta::new(length, chunks);
        if meta.block_digest != to_digest(block_digest) {
            return Err(MetaError::DigestMismatch);
        }
        Ok(meta)
    }
}

fn to_digest(bytes: &[u8]) -> Digest {
    let mut digest = [0u8; 32];
    digest.copy_from_slice(bytes);
    Digest(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use granary_client::checksum::block_digest_of;

    fn sample(length: usize) -> (Vec<u8>, BlockMeta) {
        let data: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
        let chunks = data.chunks(CHUNK_SIZE).map(Digest::of).collect();
        (data, BlockMeta::new(length as u64, chunks))
    }

    #[test]
    fn round_trip_keeps_every_field() {
        for length in [0, 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 17] {
            let (data, meta) = sample(length);
            assert_eq!(meta.block_digest, block_digest_of(&data));
            let encoded = meta.encode();
            assert_eq!(
                encoded.len(),
                HEADER_LEN + 32 * chunk_count(length as u64) as usize
            );
            assert_eq!(BlockMeta::decode(&encoded).unwrap(), meta);
        }
    }

    #[test]
    fn rejects_bad_magic_truncation_and_tampering() {
        let (_, meta) = sample(3 * CHUNK_SIZE);
        let encoded = meta.encode();
        let mut bad_magic = encoded.clone();
        bad_magic[0] = b'X';
        assert_eq!(BlockMeta::decode(&bad_magic), Err(MetaError::BadMagic));
        for cut in [0, 10, HEADER_LEN, encoded.len() - 1] {
            assert!(BlockMeta::decode(&encoded[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(matches!(
            BlockMeta::decode(&longer),
            Err(MetaError::BadSize(_))
        ));
        let mut tampered = encoded.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(BlockMeta::decode(&tampered), Err(MetaError::DigestMismatch));
        let mut huge_length = encoded;
        huge_length[12..20].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(BlockMeta::decode(&huge_length).is_err());
    }
}
