//! Reopening a finalized replica for a new segment (an append, or a writer's next segment
//! after an hflush), in place: cut to the segment's start if the replica holds more, then the
//! frames continue the data file from there. Until [`BlockStore::commit`] renames the new
//! sidecar over the old, the old sidecar describes the replica, and bytes past its length are
//! ignored; so a crash or an interrupted segment at any point leaves the old state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use granary_client::checksum::CHUNK_SIZE;
use granary_client::{BlockId, Error, ErrorKind, Generation};

use super::grid::FrameGrid;
use super::marks::BlockMark;
use super::meta::BlockMeta;
use super::writer::{being_written, BlockWriter, Target};
use super::BlockStore;

/// A reopened replica's side of a [`BlockWriter`]: its mark, the new sidecar's temporary
/// path, and the length its data file is cut back to if the segment is not committed.
pub(super) struct Reopened {
    base_length: u64,
    tmp_meta: PathBuf,
    committed: bool,
    mark: BlockMark,
}

impl BlockStore {
    /// Reopens the finalized replica of `block` for a segment from byte `from`, finalized at
    /// `generation`. The replica must hold at least `from` bytes at an older generation
    /// (`stale_replica` otherwise), not be corrupt, and have no write in progress
    /// (`already_exists`). Blocking I/O.
    pub fn begin_append(
        self: &Arc<Self>,
        block: BlockId,
        generation: Generation,
        from: u64,
    ) -> Result<BlockWriter, Error> {
        let mark = {
            let mut index = self.lock();
            let stored = index
                .replicas
                .get(&block)
                .ok_or_else(|| self.unknown_block(block))?;
            if stored.generation >= generation {
                return Err(self.stale(
                    block,
                    format!(
                        "is at {}, not older than the segment's {generation}",
                        stored.generation
                    ),
                ));
            }
            if stored.length < from {
                return Err(self.stale(
                    block,
                    format!(
                        "holds {} bytes, the segment starts at byte {from}",
                        stored.length
                    ),
                ));
            }
            if index.corrupt.contains_key(&block) {
                return Err(self.corrupt(block, "marked corrupt; not reopened"));
            }
            self.mark_in(&mut index, block)
                .ok_or_else(|| being_written(block))?
        };
        let (meta, mut file) = self.open_marked(block)?;
        let (meta, partial) = if meta.length > from {
            // The cut leaves the data file at `from` bytes.
            self.cut_open(block, &meta, &file, meta.generation, from)?
        } else {
            let on_disk = file
                .metadata()
                .map_err(|e| self.io_error(format!("reopening {block}"), e))?
                .len();
            if on_disk > from {
                // Left by an interrupted segment: nobody reads it, and it is overwritten now.
                file.set_len(from)
                    .map_err(|e| self.io_error(format!("reopening {block}"), e))?;
            }
            let partial = self.read_partial(block, &file, &meta, from)?;
            (meta, partial)
        };
        file.seek(SeekFrom::Start(from))
            .map_err(|e| self.io_error(format!("reopening {block}"), e))?;
        let mut chunks = meta.chunks;
        chunks.truncate((from / CHUNK_SIZE as u64) as usize);
        tracing::debug!(%block, %generation, from, "replica reopened");
        Ok(BlockWriter {
            target: Target::Reopened(Reopened {
                base_length: from,
                tmp_meta: self.tmp_path(block, ".meta"),
                committed: false,
                mark,
            }),
            file,
            generation,
            chunks,
            length: from,
            grid: FrameGrid::from_offset(from),
            partial,
            written_back: from,
            dropped: from,
        })
    }

    /// Renames the new sidecar over the old, fsyncs the directory and indexes the new state.
    pub(super) fn commit_reopened(
        &self,
        mut reopened: Reopened,
        meta: &BlockMeta,
    ) -> Result<(), Error> {
        let block = reopened.block();
        reopened.mark.check_not_stopped()?;
        fail::fail_point!("replica::append_sidecar_rename");
        self.install_sidecar(block, &reopened.tmp_meta)?;
        reopened.committed = true;
        if !self.update_replica(block, meta, false) {
            // Deleted while the segment was written: what we just installed goes too.
            for path in [self.meta_path(block), self.data_path(block)] {
                let _ = fs::remove_file(path);
            }
            return Err(Error::new(
                ErrorKind::UnknownBlock,
                format!("replica {block} was deleted during the write"),
            ));
        }
        Ok(())
    }
}

impl Reopened {
    pub(super) fn block(&self) -> BlockId {
        self.mark.block()
    }

    pub(super) fn mark(&self) -> &BlockMark {
        &self.mark
    }

    pub(super) fn tmp_meta(&self) -> &PathBuf {
        &self.tmp_meta
    }
}

impl Drop for Reopened {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let store = self.mark.store();
        if let Err(e) = fs::remove_file(&self.tmp_meta) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", self.tmp_meta.display());
            }
        }
        // Tidiness only: the old sidecar already hides these bytes.
        let data = store.data_path(self.mark.block());
        let cut_back = OpenOptions::new()
            .write(true)
            .open(&data)
            .and_then(|file: File| file.set_len(self.base_length));
        if let Err(e) = cut_back {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("cutting back {}: {e}", data.display());
            }
        }
    }
}
