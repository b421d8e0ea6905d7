//! Writing a replica. A new one: frames are verified and appended to `tmp/blk_<id>.<nonce>`,
//! the sidecar is written next to it, and [`BlockStore::commit`] renames both into
//! `current/`; dropping a writer or an uncommitted replica at any point removes its temporary
//! files. A reopened one (a new segment, see `reopen`): frames continue the data file in
//! place and the new sidecar replaces the old at commit.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use granary_client::checksum::Digest;
use granary_client::framing::Frame;
use granary_client::{BlockId, Error, ErrorKind, Generation};
use sha2::{Digest as _, Sha256};

use super::cut::write_sidecar;
use super::grid::FrameGrid;
use super::marks::BlockMark;
use super::meta::BlockMeta;
use super::reopen::Reopened;
use super::writeback::writeback;
use super::{sync_dir, BlockStore, Stored};

/// Bytes written between two writeback steps (see [`writeback`]).
const WRITEBACK_STEP: u64 = 8 << 20;

/// A replica being written. Blocking I/O: run it on a blocking thread.
pub struct BlockWriter {
    pub(super) target: Target,
    pub(super) file: File,
    pub(super) generation: Generation,
    /// Digests of the chunks before this segment, then of the chunks it wrote.
    pub(super) chunks: Vec<Digest>,
    /// Bytes of the whole replica so far.
    pub(super) length: u64,
    pub(super) grid: FrameGrid,
    /// The old bytes of the chunk a reopened segment starts inside (empty on a chunk
    /// boundary): the first frame's chunk digest covers them and the frame.
    pub(super) partial: Vec<u8>,
    pub(super) written_back: u64,
    pub(super) dropped: u64,
}

/// Where a writer's replica lives until it is committed.
pub(super) enum Target {
    New(TempReplica),
    Reopened(Reopened),
}

impl Target {
    /// The mark of the block, held until the target is dropped.
    fn mark(&self) -> &BlockMark {
        match self {
            Target::New(temp) => &temp.mark,
            Target::Reopened(reopened) => reopened.mark(),
        }
    }
}

/// A replica whose data and sidecar are written and fsynced, ready to commit.
pub struct PreparedReplica {
    target: Target,
    meta: BlockMeta,
}

/// Owns the temporary files and the mark of one new block.
pub(super) struct TempReplica {
    block: BlockId,
    data: PathBuf,
    meta: PathBuf,
    committed: bool,
    // Declared last: dropped after the files are removed.
    mark: BlockMark,
}

impl BlockStore {
    /// Starts writing a new replica of `block`, finalized at `generation`. Fails with
    /// `already_exists` if the replica is finalized or another write of it is in progress.
    pub fn begin_write(
        self: &Arc<Self>,
        block: BlockId,
        generation: Generation,
    ) -> Result<BlockWriter, Error> {
        let (temp, file) = self.begin_new(block)?;
        Ok(BlockWriter {
            target: Target::New(temp),
            file,
            generation,
            chunks: Vec::new(),
            length: 0,
            grid: FrameGrid::from_offset(0),
            partial: Vec::new(),
            written_back: 0,
            dropped: 0,
        })
    }

    /// The marked temporary files of a new replica of `block`, its data file created empty.
    /// `already_exists` if the replica is finalized or another write of it is in progress.
    pub(super) fn begin_new(
        self: &Arc<Self>,
        block: BlockId,
    ) -> Result<(TempReplica, File), Error> {
        let mark = {
            let mut index = self.lock();
            if index.replicas.contains_key(&block) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("replica {block} already exists"),
                ));
            }
            self.mark_in(&mut index, block)
                .ok_or_else(|| being_written(block))?
        };
        let temp = TempReplica {
            block,
            data: self.tmp_path(block, ""),
            meta: self.tmp_path(block, ".meta"),
            committed: false,
            mark,
        };
        let file = File::create_new(&temp.data)
            .map_err(|e| self.io_error(format!("creating {}", temp.data.display()), e))?;
        Ok((temp, file))
    }

    /// Makes a prepared replica visible. A new one: renames the data file, then the sidecar
    /// (whose presence marks the replica as finalized) into `current/`, and fsyncs the
    /// directory. A reopened one: its new sidecar replaces the old. Refused if a recovery
    /// stopped the write meanwhile.
    pub fn commit(&self, prepared: PreparedReplica) -> Result<(), Error> {
        let PreparedReplica { target, meta } = prepared;
        match target {
            Target::New(temp) => self.commit_new(temp, meta),
            Target::Reopened(reopened) => self.commit_reopened(reopened, &meta),
        }
    }

    fn commit_new(&self, mut temp: TempReplica, meta: BlockMeta) -> Result<(), Error> {
        let block = temp.block;
        temp.mark.check_not_stopped()?;
        self.ensure_bucket_dir(block)
            .map_err(|e| self.io_error(format!("finalizing {block}"), e))?;
        let (data, meta_path) = (self.data_path(block), self.meta_path(block));
        fs::rename(&temp.data, &data)
            .map_err(|e| self.io_error(format!("finalizing {block}"), e))?;
        fail::fail_point!("replica::rename");
        if let Err(e) = fs::rename(&temp.meta, &meta_path) {
            let _ = fs::remove_file(&data);
            return Err(self.io_error(format!("finalizing {block}"), e));
        }
        if let Err(e) = sync_dir(&self.bucket_dir(block)) {
            let _ = fs::remove_file(&meta_path);
            let _ = fs::remove_file(&data);
            return Err(self.io_error(format!("finalizing {block}"), e));
        }
        let mut index = self.lock();
        index.replicas.insert(block, Stored::new(&meta));
        index.used += meta.length;
        temp.committed = true;
        Ok(())
    }
}

pub(super) fn being_written(block: BlockId) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        format!("replica {block} is being written"),
    )
}

impl BlockWriter {
    pub fn block(&self) -> BlockId {
        self.target.mark().block()
    }

    /// Cancelled when a recovery of the block stops this write.
    pub fn cancellation(&self) -> tokio_util::sync::CancellationToken {
        self.target.mark().cancellation()
    }

    /// Verifies one frame and appends its payload, keeping to the chunk grid.
    pub fn append(&mut self, frame: &Frame) -> Result<(), Error> {
        self.grid.check(frame.data.len())?;
        // A chunk corrupted in transit names no datanode: the fault is upstream of us.
        frame.verify()?;
        self.file
            .write_all(&frame.data)
            .map_err(|e| self.disk_error(e))?;
        let digest = if self.partial.is_empty() {
            frame.digest
        } else {
            let mut hasher = Sha256::new();
            hasher.update(std::mem::take(&mut self.partial));
            hasher.update(&frame.data);
            Digest(hasher.finalize().into())
        };
        self.chunks.push(digest);
        self.length += frame.data.len() as u64;
        if self.length - self.written_back >= WRITEBACK_STEP {
            writeback(&self.file, self.dropped, self.written_back, self.length);
            self.dropped = self.written_back;
            self.written_back = self.length;
        }
        Ok(())
    }

    /// Fsyncs the data, writes and fsyncs the sidecar (in `tmp/`).
    pub fn prepare(mut self) -> Result<PreparedReplica, Error> {
        if !self.partial.is_empty() {
            // No frame came: the old partial chunk stays as it was.
            self.chunks
                .push(Digest::of(&std::mem::take(&mut self.partial)));
        }
        let meta_path = match &self.target {
            Target::New(temp) => {
                fail::fail_point!("replica::fsync");
                temp.meta.clone()
            }
            Target::Reopened(reopened) => {
                fail::fail_point!("replica::append_fsync");
                reopened.tmp_meta().clone()
            }
        };
        self.file.sync_data().map_err(|e| self.disk_error(e))?;
        let meta = BlockMeta::new(
            self.generation,
            self.length,
            std::mem::take(&mut self.chunks),
        );
        if let Err(e) = write_sidecar(&meta_path, &meta) {
            return Err(self.disk_error(e));
        }
        Ok(PreparedReplica {
            target: self.target,
            meta,
        })
    }

    fn disk_error(&self, e: io::Error) -> Error {
        self.target
            .mark()
            .store()
            .io_error(format!("writing {}", self.block()), e)
    }
}

impl PreparedReplica {
    /// A new replica whose data (fsynced) and sidecar (`meta`, not yet written) are in
    /// `temp`'s files: writes and fsyncs the sidecar, ready to commit.
    pub(super) fn new_replica(temp: TempReplica, meta: BlockMeta) -> Result<Self, Error> {
        if let Err(e) = write_sidecar(&temp.meta, &meta) {
            let block = temp.block;
            return Err(temp
                .mark
                .store()
                .io_error(format!("writing the sidecar of {block}"), e));
        }
        Ok(PreparedReplica {
            target: Target::New(temp),
            meta,
        })
    }

    pub fn block(&self) -> BlockId {
        self.target.mark().block()
    }

    pub fn generation(&self) -> Generation {
        self.meta.generation
    }

    /// The whole replica's length (for a segment, with the bytes before it).
    pub fn length(&self) -> u64 {
        self.meta.length
    }

    /// The block digest (SHA-256 over the chunk digests) of the whole replica.
    pub fn digest(&self) -> Digest {
        self.meta.block_digest
    }
}

impl TempReplica {
    pub(super) fn data_path(&self) -> &PathBuf {
        &self.data
    }
}

impl Drop for TempReplica {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for path in [&self.data, &self.meta] {
            if let Err(e) = fs::remove_file(path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!("removing {}: {e}", path.display());
                }
            }
        }
    }
}
