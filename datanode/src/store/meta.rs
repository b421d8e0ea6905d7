//! The checksum sidecar `blk_<id>.meta` written next to every finalized replica (version 2):
//!
//! ```text
//! magic "GRNMETA2" (8) | chunk size u32 BE | generation u64 BE | block length u64 BE
//! | block digest (32) | one SHA-256 per chunk (32 each, ceil(length / chunk size) of them)
//! ```
//!
//! Version 1 (magic "GRNMETA1", no generation field) still decodes, as generation 0.
//!
//! The chunk digests are the ones that arrived in the frames, so serving a read re-sends them
//! without recomputing anything beyond the verification itself.

use granary_client::checksum::{BlockDigester, Digest, CHUNK_SIZE};
use granary_client::Generation;

pub const MAGIC: &[u8; 8] = b"GRNMETA2";
const MAGIC_V1: &[u8; 8] = b"GRNMETA1";
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 32;
const HEADER_LEN_V1: usize = 8 + 4 + 8 + 32;

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
    pub generation: Generation,
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
    pub fn new(generation: Generation, length: u64, chunks: Vec<Digest>) -> Self {
        let mut digester = BlockDigester::new();
        for (index, digest) in chunks.iter().enumerate() {
            digester.push(digest, chunk_len(length, index as u64));
        }
        BlockMeta {
            generation,
            length,
            block_digest: digester.finish(),
            chunks,
        }
    }

    /// The first `length` bytes of this replica at `generation`: its full chunks below
    /// `length`, then `partial`, the digest of the chunk `length` falls inside cut to its first
    /// `length % CHUNK_SIZE` bytes (`None` on a chunk boundary).
    pub fn cut(&self, generation: Generation, length: u64, partial: Option<Digest>) -> Self {
        let full = (length / CHUNK_SIZE as u64) as usize;
        let mut chunks: Vec<Digest> = self.chunks.iter().take(full).copied().collect();
        chunks.extend(partial.filter(|_| !length.is_multiple_of(CHUNK_SIZE as u64)));
        BlockMeta::new(generation, length, chunks)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 32 * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        out.extend_from_slice(&self.generation.0.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.block_digest.0);
        for digest in &self.chunks {
            out.extend_from_slice(&digest.0);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, MetaError> {
        let (v2, header_len) = match bytes.get(..8) {
            Some(magic) if magic == MAGIC => (true, HEADER_LEN),
            Some(magic) if magic == MAGIC_V1 => (false, HEADER_LEN_V1),
            _ => return Err(MetaError::BadMagic),
        };
        if bytes.len() < header_len {
            return Err(MetaError::BadSize(bytes.len()));
        }
        let chunk_size = read_u32(&bytes[8..12]);
        if chunk_size as usize != CHUNK_SIZE {
            return Err(MetaError::ChunkSize(chunk_size));
        }
        let (generation, rest) = if v2 {
            (Generation(read_u64(&bytes[12..20])), &bytes[20..])
        } else {
            (Generation(0), &bytes[12..])
        };
        let length = read_u64(&rest[..8]);
        let (block_digest, rest) = rest[8..].split_at(32);
        let expected = chunk_count(length).checked_mul(32);
        if expected != Some(rest.len() as u64) {
            return Err(MetaError::BadSize(bytes.len()));
        }
        let chunks = rest.chunks_exact(32).map(to_digest).collect();
        let meta = BlockMeta::new(generation, length, chunks);
        if meta.block_digest != to_digest(block_digest) {
            return Err(MetaError::DigestMismatch);
        }
        Ok(meta)
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(bytes);
    u32::from_be_bytes(out)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    u64::from_be_bytes(out)
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
        (data, BlockMeta::new(Generation(7), length as u64, chunks))
    }

    /// A sidecar as version 1 wrote it: no generation field.
    fn encode_v1(meta: &BlockMeta) -> Vec<u8> {
        let mut out = MAGIC_V1.to_vec();
        out.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        out.extend_from_slice(&meta.length.to_be_bytes());
        out.extend_from_slice(&meta.block_digest.0);
        for digest in &meta.chunks {
            out.extend_from_slice(&digest.0);
        }
        out
    }

    #[test]
    fn version_1_sidecars_decode_as_generation_0() {
        for length in [0, 5, CHUNK_SIZE, 3 * CHUNK_SIZE + 1] {
            let (_, meta) = sample(length);
            let decoded = BlockMeta::decode(&encode_v1(&meta)).unwrap();
            assert_eq!(decoded.generation, Generation(0));
            assert_eq!(
                (decoded.length, decoded.block_digest, &decoded.chunks),
                (meta.length, meta.block_digest, &meta.chunks)
            );
            let mut truncated = encode_v1(&meta);
            truncated.pop();
            assert!(BlockMeta::decode(&truncated).is_err());
        }
    }

    #[test]
    fn a_cut_keeps_full_chunks_and_takes_the_partial_digest() {
        let (data, meta) = sample(3 * CHUNK_SIZE + 10);
        let at = 2 * CHUNK_SIZE as u64 + 100;
        let partial = Digest::of(&data[2 * CHUNK_SIZE..at as usize]);
        let cut = meta.cut(Generation(9), at, Some(partial));
        assert_eq!(cut.generation, Generation(9));
        assert_eq!(cut.block_digest, block_digest_of(&data[..at as usize]));
        let boundary = meta.cut(Generation(9), CHUNK_SIZE as u64, Some(partial));
        assert_eq!(boundary.block_digest, block_digest_of(&data[..CHUNK_SIZE]));
        assert_eq!(meta.cut(Generation(9), 0, None).chunks, vec![]);
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
            assert_eq!(&encoded[..8], b"GRNMETA2");
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
        huge_length[20..28].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(BlockMeta::decode(&huge_length).is_err());
    }
}
