//! A map's split as readers. The file's bytes come block by block, each from this datanode's
//! own replica when it holds a readable one and from other datanodes otherwise, and each block
//! is opened only when the reader reaches it. Bytes are counted by where they came from, for
//! the `local_bytes_read` and `remote_bytes_read` counters.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::TryStreamExt;
use granary_client::protocol::InputSplit;
use granary_client::{BlockId, FileReader};
use tokio::runtime::Handle;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::LocalBlocks;
use crate::error::TaskError;
use crate::task::{InputReader, MapInput};

/// Where one block of the input file lies in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockExtent {
    pub id: BlockId,
    pub offset: u64,
    pub length: u64,
}

/// Reads byte ranges of the input file from other datanodes. Called on blocking threads.
pub(crate) trait RemoteRanges: Send + Sync + 'static {
    fn open_range(&self, offset: u64, length: u64) -> io::Result<InputReader>;
}

/// The input file of one map attempt.
pub(crate) struct InputFile {
    blocks: Vec<BlockExtent>,
    local: Arc<dyn LocalBlocks>,
    remote: Arc<dyn RemoteRanges>,
    local_bytes: AtomicU64,
    remote_bytes: AtomicU64,
}

impl InputFile {
    pub fn new(
        blocks: Vec<BlockExtent>,
        local: Arc<dyn LocalBlocks>,
        remote: Arc<dyn RemoteRanges>,
    ) -> Arc<Self> {
        Arc::new(InputFile {
            blocks,
            local,
            remote,
            local_bytes: AtomicU64::new(0),
            remote_bytes: AtomicU64::new(0),
        })
    }

    /// The split's head and its lazily opened tail (see [`MapInput`]). Refused when the
    /// file's blocks no longer match the split the tracker planned.
    pub fn map_input(self: &Arc<Self>, split: &InputSplit) -> Result<MapInput, TaskError> {
        let planned = BlockExtent {
            id: split.block,
            offset: split.offset,
            length: split.length,
        };
        if !self.blocks.contains(&planned) {
            return Err(TaskError::Invalid(format!(
                "{}: {} is no longer at offset {} (the file changed after the job was planned)",
                split.file, split.block, split.offset
            )));
        }
        let end = split.offset + split.length;
        let head = self.range(split.offset.saturating_sub(1), end);
        let file = Arc::clone(self);
        let open_tail = move || -> io::Result<InputReader> {
            let file_end = file.len();
            Ok(Box::new(file.range(end, file_end)))
        };
        Ok(MapInput {
            head: Box::new(head),
            open_tail: Box::new(open_tail),
        })
    }

    /// Bytes read so far: `(from local replicas, from other datanodes)`.
    pub fn bytes_read(&self) -> (u64, u64) {
        (
            self.local_bytes.load(Ordering::Relaxed),
            self.remote_bytes.load(Ordering::Relaxed),
        )
    }

    fn len(&self) -> u64 {
        self.blocks.last().map_or(0, |b| b.offset + b.length)
    }

    fn range(self: &Arc<Self>, start: u64, end: u64) -> RangeReader {
        RangeReader {
            file: Arc::clone(self),
            pos: start,
            end,
            piece: None,
        }
    }

    /// Opens `[pos, end)` cut at the end of the block holding `pos`: the local replica when
    /// there is a readable one, otherwise remotely.
    fn open_piece(&self, pos: u64, end: u64) -> io::Result<Piece> {
        let block = self
            .blocks
            .iter()
            .find(|b| b.offset <= pos && pos < b.offset + b.length)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("offset {pos} is past the end of the input file"),
                )
            })?;
        let piece_end = end.min(block.offset + block.length);
        match self
            .local
            .open(block.id, pos - block.offset, piece_end - pos)
        {
            Some(Ok(reader)) => {
                return Ok(Piece {
                    reader,
                    local: true,
                    end: piece_end,
                })
            }
            Some(Err(e)) => tracing::warn!(
                block = %block.id,
                "local replica unreadable ({e}); reading the block from another datanode"
            ),
            None => {}
        }
        self.open_remote(pos, piece_end)
    }

    fn open_remote(&self, pos: u64, end: u64) -> io::Result<Piece> {
        Ok(Piece {
            reader: self.remote.open_range(pos, end - pos)?,
            local: false,
            end,
        })
    }
}

/// The open part of a range: up to the end of one block.
struct Piece {
    reader: InputReader,
    local: bool,
    /// File offset where this piece ends.
    end: u64,
}

/// `[pos, end)` of the input file, one block at a time.
struct RangeReader {
    file: Arc<InputFile>,
    pos: u64,
    end: u64,
    piece: Option<Piece>,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if buf.is_empty() || self.pos >= self.end {
                return Ok(0);
            }
            let piece = match &mut self.piece {
                Some(piece) => piece,
                None => self.piece.insert(self.file.open_piece(self.pos, self.end)?),
            };
            let want =
                usize::try_from(piece.end - self.pos).map_or(buf.len(), |n| n.min(buf.len()));
            match piece.reader.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("input ended at offset {} of {}", self.pos, piece.end),
                    ))
                }
                Ok(n) => {
                    let counter = if piece.local {
                        &self.file.local_bytes
                    } else {
                        &self.file.remote_bytes
                    };
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    self.pos += n as u64;
                    if self.pos == piece.end {
                        self.piece = None;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A chunk of the local replica failed verification: go on from another replica.
                Err(e) if piece.local => {
                    tracing::warn!(
                        "local replica failed at offset {} ({e}); reading on from another datanode",
                        self.pos
                    );
                    let end = piece.end;
                    self.piece = Some(self.file.open_remote(self.pos, end)?);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Remote ranges through the client library (replica failover and checksums included),
/// bridged into blocking reads on `runtime`.
pub(crate) struct GranaryRanges {
    file: FileReader,
    runtime: Handle,
}

impl GranaryRanges {
    pub fn new(file: FileReader, runtime: Handle) -> Self {
        GranaryRanges { file, runtime }
    }
}

impl RemoteRanges for GranaryRanges {
    fn open_range(&self, offset: u64, length: u64) -> io::Result<InputReader> {
        // `read_range` spawns its fetcher on the current runtime; this is a blocking thread.
        let _runtime = self.runtime.enter();
        let stream = self
            .file
            .read_range(offset, length)
            .map_err(io::Error::other);
        Ok(Box::new(SyncIoBridge::new_with_handle(
            StreamReader::new(stream),
            self.runtime.clone(),
        )))
    }
}

/// The extents of the blocks of an open file.
pub(crate) fn extents(file: &FileReader) -> Vec<BlockExtent> {
    file.blocks()
        .iter()
        .map(|b| BlockExtent {
            id: b.id,
            offset: b.offset,
            length: b.length,
        })
        .collect()
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
