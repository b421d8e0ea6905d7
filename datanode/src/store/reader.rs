//! Reading a replica: chunk by chunk, each verified against its sidecar digest before anyone
//! sees it. [`ChunkReader`] yields whole chunks as frames (what the network sends);
//! [`VerifiedRead`] trims them to an exact byte range (what local readers want).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use granary_client::checksum::{Digest, CHUNK_SIZE};
use granary_client::framing::{Frame, READ_FRAME_HEADER_LEN};
use granary_client::{BlockId, DatanodeId, Error, ErrorKind, Generation};

use super::meta::{chunk_len, BlockMeta};
use super::{BlockStore, Stored};

/// Times a reader looks again when the sidecar it read is not the one indexed (a segment or
/// a cut replaced it in between), a millisecond apart.
const INDEX_RACE_RETRIES: u32 = 20;

/// Verified frames of the chunks covering a byte range of one replica. Blocking I/O.
pub struct ChunkReader {
    block: BlockId,
    datanode: DatanodeId,
    file: File,
    meta: BlockMeta,
    next_chunk: u64,
    end_chunk: u64,
    /// The replica's cut counter, and its value when the sidecar was read.
    cuts: Arc<AtomicU64>,
    cuts_seen: u64,
}

/// The verified bytes of exactly `[offset, offset + length)` of a replica. Blocking I/O.
pub struct VerifiedRead {
    chunks: ChunkReader,
    skip: usize,
    remaining: u64,
    pending: Bytes,
}

impl BlockStore {
    /// Opens the chunks covering `[offset, offset + length)` (clamped to the replica), starting
    /// at the chunk boundary at or before `offset`. `offset` past the end is `invalid_argument`.
    pub fn open_chunks(
        &self,
        block: BlockId,
        offset: u64,
        length: u64,
    ) -> Result<ChunkReader, Error> {
        if let Some(reason) = self.corruption(block) {
            return Err(Error::new(
                ErrorKind::ChecksumMismatch,
                format!("replica {block} on {} is corrupt: {reason}", self.id),
            )
            .with_datanode(self.id.clone()));
        }
        let (stored, cuts_seen, file, meta) = self.open_consistent(block)?;
        if offset > meta.length {
            return Err(Error::invalid_argument(format!(
                "offset {offset} is past the end of {block} ({} bytes)",
                meta.length
            )));
        }
        let end = offset.saturating_add(length).min(meta.length);
        let chunk = CHUNK_SIZE as u64;
        let next_chunk = offset / chunk;
        let end_chunk = if end > offset {
            end.div_ceil(chunk)
        } else {
            next_chunk
        };
        Ok(ChunkReader {
            block,
            datanode: self.id.clone(),
            file,
            meta,
            next_chunk,
            end_chunk,
            cuts: stored.cuts,
            cuts_seen,
        })
    }

    /// The data file and the sidecar the index describes. A segment or a cut may replace the
    /// sidecar between the index lookup and the read; then the index is read again.
    pub(super) fn open_consistent(
        &self,
        block: BlockId,
    ) -> Result<(Stored, u64, File, BlockMeta), Error> {
        let open_error = |e: io::Error| match e.kind() {
            // Deleted between the index lookup and here.
            io::ErrorKind::NotFound => self.unknown_block(block),
            _ => self.io_error(format!("opening {block}"), e),
        };
        let lookup = || {
            let index = self.lock();
            let stored = index.replicas.get(&block).cloned();
            stored.map(|stored| {
                let cuts = stored.cuts.load(Ordering::Acquire);
                (stored, cuts)
            })
        };
        let (mut stored, mut cuts_seen) = lookup().ok_or_else(|| self.unknown_block(block))?;
        let file = File::open(self.data_path(block)).map_err(open_error)?;
        let meta_bytes = fs::read(self.meta_path(block)).map_err(open_error)?;
        let meta = BlockMeta::decode(&meta_bytes).map_err(|e| self.corrupt(block, e))?;
        for _ in 0..INDEX_RACE_RETRIES {
            if stored.describes(&meta) {
                return Ok((stored, cuts_seen, file, meta));
            }
            std::thread::sleep(Duration::from_millis(1));
            (stored, cuts_seen) = lookup().ok_or_else(|| self.unknown_block(block))?;
        }
        Err(self.corrupt(
            block,
            format!(
                "sidecar ({} bytes at {}) != index ({} bytes at {})",
                meta.length, meta.generation, stored.length, stored.generation
            ),
        ))
    }

    /// Opens exactly `[offset, offset + length)` of a local replica (clamped to its end), every
    /// byte verified against the sidecar before it is returned. For local readers such as the
    /// compute executor; implements `std::io::Read` and iterates over verified pieces.
    pub fn open_verified(
        &self,
        block: BlockId,
        offset: u64,
        length: u64,
    ) -> Result<VerifiedRead, Error> {
        let chunks = self.open_chunks(block, offset, length)?;
        let end = offset.saturating_add(length).min(chunks.meta.length);
        let skip = (offset % CHUNK_SIZE as u64) as usize;
        Ok(VerifiedRead {
            chunks,
            skip,
            remaining: end.saturating_sub(offset),
            pending: Bytes::new(),
        })
    }
}

impl ChunkReader {
    pub fn block(&self) -> BlockId {
        self.block
    }

    pub fn block_length(&self) -> u64 {
        self.meta.length
    }

    /// The generation recorded in the sidecar.
    pub fn generation(&self) -> Generation {
        self.meta.generation
    }

    /// The block digest recorded in the sidecar.
    pub fn block_digest(&self) -> Digest {
        self.meta.block_digest
    }

    /// Bytes of the framed stream still to come: headers plus payloads.
    pub fn remaining_wire_len(&self) -> u64 {
        (self.next_chunk..self.end_chunk)
            .map(|i| (READ_FRAME_HEADER_LEN + chunk_len(self.meta.length, i)) as u64)
            .sum()
    }

    fn read_chunk(&self, index: u64) -> Result<Frame, Error> {
        let mut data = vec![0u8; chunk_len(self.meta.length, index)];
        let corrupt = |what: String| {
            if self.cuts.load(Ordering::Acquire) != self.cuts_seen {
                return Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "replica {} on {} was cut while being read; read it again",
                        self.block, self.datanode
                    ),
                )
                .with_datanode(self.datanode.clone());
            }
            tracing::error!(block = %self.block, chunk = index, "corrupt replica: {what}");
            Error::new(
                ErrorKind::ChecksumMismatch,
                format!(
                    "replica {} on {} is corrupt: {what}",
                    self.block, self.datanode
                ),
            )
            .with_datanode(self.datanode.clone())
        };
        if let Err(e) = self
            .file
            .read_exact_at(&mut data, index * CHUNK_SIZE as u64)
        {
            return Err(match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    corrupt("data file is shorter than its sidecar".into())
                }
                _ => Error::io(format!("reading {}", self.block), e)
                    .with_datanode(self.datanode.clone()),
            });
        }
        let digest = Digest::of(&data);
        let expected = usize::try_from(index)
            .ok()
            .and_then(|i| self.meta.chunks.get(i));
        if expected != Some(&digest) {
            return Err(corrupt(format!(
                "chunk {index} does not match its checksum"
            )));
        }
        Ok(Frame {
            digest,
            data: Bytes::from(data),
        })
    }
}

impl Iterator for ChunkReader {
    type Item = Result<Frame, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_chunk >= self.end_chunk {
            return None;
        }
        let result = self.read_chunk(self.next_chunk);
        // After an error the stream ends: nothing past a bad chunk is served.
        self.next_chunk = if result.is_ok() {
            self.next_chunk + 1
        } else {
            self.end_chunk
        };
        Some(result)
    }
}

impl Iterator for VerifiedRead {
    type Item = Result<Bytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.pending.is_empty() {
            return Some(Ok(std::mem::take(&mut self.pending)));
        }
        if self.remaining == 0 {
            return None;
        }
        let mut data = match self.chunks.next()? {
            Ok(frame) => frame.data,
            Err(e) => {
                self.remaining = 0;
                return Some(Err(e));
            }
        };
        let skip = std::mem::take(&mut self.skip).min(data.len());
        data = data.slice(skip..);
        data.truncate(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.remaining -= data.len() as u64;
        Some(Ok(data))
    }
}

impl io::Read for VerifiedRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match Iterator::next(self) {
                None => return Ok(0),
                Some(Ok(piece)) => self.pending = piece,
                Some(Err(e)) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        bytes::Buf::advance(&mut self.pending, n);
        Ok(n)
    }
}
