//! The block store: finalized replicas under `current/`, replicas being written under `tmp/`,
//! and an in-memory index of what is finalized (see ARCHITECTURE.md, "On disk").
//!
//! Paths are only ever built from a parsed [`BlockId`], never from request text.

mod clone;
mod corrupt;
mod cut;
mod fsutil;
mod grid;
mod marks;
pub mod meta;
mod reader;
mod reopen;
mod startup;
mod writeback;
mod writer;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use granary_client::protocol::{ReplicaReport, StorageReport};
use granary_client::{BlockId, DatanodeId, Digest, Error, ErrorKind, Generation};

pub use self::fsutil::write_atomically;
use self::fsutil::{fs_stats, ignore_not_found, sync_dir};
pub use self::grid::FrameGrid;
use self::marks::WriteMark;
pub use self::marks::{stopped, BlockMark};
pub use self::reader::{ChunkReader, VerifiedRead};
use self::startup::{clear_dir, load_or_create_id, lock_data_dir};
pub use self::writer::{BlockWriter, PreparedReplica};

const ID_FILE: &str = "datanode_id";

/// Replicas on local disk. Shared as `Arc<BlockStore>`; every method is blocking file I/O
/// except the index lookups, so async callers use `spawn_blocking` for the rest.
#[derive(Debug)]
pub struct BlockStore {
    root: PathBuf,
    id: DatanodeId,
    /// `None`: the size of the filesystem holding the data directory.
    capacity: Option<u64>,
    index: Mutex<Index>,
    next_nonce: AtomicU64,
    /// Holds the lock on the data directory.
    _lock: fs::File,
}

/// A finalized replica's generation, length and block digest (from its sidecar), what block
/// reports carry.
#[derive(Clone, Debug)]
struct Stored {
    generation: Generation,
    length: u64,
    digest: Digest,
    /// Bumped whenever a cut replaces the sidecar: bytes an earlier sidecar described may then
    /// be overwritten or gone, so a reader of that earlier state that fails to verify a chunk
    /// retries instead of calling the replica corrupt.
    cuts: Arc<AtomicU64>,
}

impl Stored {
    fn new(meta: &meta::BlockMeta) -> Self {
        Stored {
            generation: meta.generation,
            length: meta.length,
            digest: meta.block_digest,
            cuts: Arc::default(),
        }
    }

    /// The replica as block reports describe it.
    fn report(&self, block: BlockId) -> ReplicaReport {
        ReplicaReport {
            block,
            generation: self.generation,
            length: self.length,
            sha256: Some(self.digest),
        }
    }

    fn describes(&self, meta: &meta::BlockMeta) -> bool {
        (self.generation, self.length, self.digest)
            == (meta.generation, meta.length, meta.block_digest)
    }
}

#[derive(Debug, Default)]
struct Index {
    /// Finalized replicas, as their sidecars describe them.
    replicas: HashMap<BlockId, Stored>,
    /// Blocks with a write or a cut in progress, so two never race for one block.
    writing: HashMap<BlockId, WriteMark>,
    /// Finalized replicas found damaged, and why. Still listed in block reports (the namenode
    /// decides when to delete them) but never read from. Forgotten at restart, when the block
    /// scanner finds them again.
    corrupt: HashMap<BlockId, String>,
    used: u64,
}

impl BlockStore {
    /// Opens (creating if needed) the store in `data_dir`: reads or creates the datanode id,
    /// clears `tmp/`, drops data files without a valid sidecar and indexes the rest.
    pub fn open(data_dir: &Path, capacity: Option<u64>) -> Result<Self, Error> {
        let io_err =
            |what: &Path, e| Error::io(format!("opening block store at {}", what.display()), e);
        for dir in [
            data_dir.to_path_buf(),
            data_dir.join("current"),
            data_dir.join("tmp"),
        ] {
            fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        }
        let id = load_or_create_id(data_dir)?;
        let lock = lock_data_dir(data_dir)?;
        let store = BlockStore {
            root: data_dir.to_path_buf(),
            id,
            capacity,
            index: Mutex::new(Index::default()),
            next_nonce: AtomicU64::new(0),
            _lock: lock,
        };
        clear_dir(&store.tmp_dir()).map_err(|e| io_err(&store.tmp_dir(), e))?;
        let mut index = Index::default();
        for bucket in 0..=255u64 {
            let dir = store.bucket_dir(BlockId(bucket));
            if dir.is_dir() {
                store
                    .scan_bucket(&dir, bucket, &mut index)
                    .map_err(|e| io_err(&dir, e))?;
            }
        }
        tracing::info!(id = %store.id, replicas = index.replicas.len(), used = index.used, "block store opened");
        *store.lock() = index;
        Ok(store)
    }

    pub fn id(&self) -> &DatanodeId {
        &self.id
    }

    pub fn data_dir(&self) -> &Path {
        &self.root
    }

    /// Every finalized replica, sorted by block id.
    pub fn replicas(&self) -> Vec<ReplicaReport> {
        let mut out: Vec<ReplicaReport> = self
            .lock()
            .replicas
            .iter()
            .map(|(&block, stored)| stored.report(block))
            .collect();
        out.sort_by_key(|r| r.block);
        out
    }

    pub fn contains(&self, block: BlockId) -> bool {
        self.lock().replicas.contains_key(&block)
    }

    /// Length of a finalized replica.
    pub fn length(&self, block: BlockId) -> Option<u64> {
        self.lock().replicas.get(&block).map(|stored| stored.length)
    }

    /// A finalized replica as block reports describe it.
    pub fn replica(&self, block: BlockId) -> Option<ReplicaReport> {
        self.lock()
            .replicas
            .get(&block)
            .map(|stored| stored.report(block))
    }

    /// Removes a finalized replica. `Ok(false)` if there was none. The sidecar goes first: a
    /// data file without it is not a replica, whatever happens next. A segment being appended
    /// to it is stopped (its commit finds the replica gone and removes what it wrote).
    pub fn delete(&self, block: BlockId) -> Result<bool, Error> {
        {
            let mut index = self.lock();
            let Some(Stored { length, .. }) = index.replicas.remove(&block) else {
                return Ok(false);
            };
            if let Some(mark) = index.writing.get(&block) {
                mark.stop();
            }
            index.corrupt.remove(&block);
            index.used = index.used.saturating_sub(length);
        }
        for path in [self.meta_path(block), self.data_path(block)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_error(format!("deleting {}", path.display()), e)),
            }
        }
        tracing::info!(%block, "replica deleted");
        Ok(true)
    }

    /// Capacity, bytes used by finalized replicas, and what is left for new ones.
    pub fn storage_report(&self) -> StorageReport {
        let (used, blocks) = {
            let index = self.lock();
            (index.used, index.replicas.len() as u64)
        };
        let (fs_size, fs_available) = match fs_stats(&self.root) {
            Ok(stats) => stats,
            Err(e) => {
                tracing::warn!("statvfs {}: {e}", self.root.display());
                (0, 0)
            }
        };
        let capacity = self.capacity.unwrap_or(fs_size);
        let remaining = capacity.saturating_sub(used).min(fs_available);
        StorageReport {
            capacity,
            used,
            remaining,
            blocks,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        granary_client::sync::lock(&self.index, "block store index")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The block's `current/<xx>` directory, created (durably) on first use.
    fn ensure_bucket_dir(&self, block: BlockId) -> io::Result<PathBuf> {
        let dir = self.bucket_dir(block);
        if !dir.is_dir() {
            match fs::create_dir(&dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => sync_dir(&self.root.join("current"))?,
            }
        }
        Ok(dir)
    }

    fn bucket_dir(&self, block: BlockId) -> PathBuf {
        self.root
            .join("current")
            .join(format!("{:02x}", block.0 % 256))
    }

    fn data_path(&self, block: BlockId) -> PathBuf {
        self.bucket_dir(block).join(format!("blk_{}", block.0))
    }

    fn meta_path(&self, block: BlockId) -> PathBuf {
        self.bucket_dir(block).join(format!("blk_{}.meta", block.0))
    }

    /// Replaces the index entry of `block` with `meta` (a new segment or a cut), keeping its
    /// cut counter, bumped if `cut`. `false` if the replica is no longer indexed (deleted).
    fn update_replica(&self, block: BlockId, meta: &meta::BlockMeta, cut: bool) -> bool {
        let mut index = self.lock();
        let Some(stored) = index.replicas.get_mut(&block) else {
            return false;
        };
        let old_length = stored.length;
        stored.generation = meta.generation;
        stored.length = meta.length;
        stored.digest = meta.block_digest;
        if cut {
            stored.cuts.fetch_add(1, Ordering::AcqRel);
        }
        index.used = index.used.saturating_sub(old_length) + meta.length;
        true
    }

    /// A temporary file name in `tmp/` for `block`, never used before by this process.
    fn tmp_path(&self, block: BlockId, suffix: &str) -> PathBuf {
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        self.tmp_dir()
            .join(format!("blk_{}.{nonce}{suffix}", block.0))
    }

    fn unknown_block(&self, block: BlockId) -> Error {
        Error::new(
            ErrorKind::UnknownBlock,
            format!("no replica of {block} on {}", self.id),
        )
    }

    /// An I/O error on this node's disk, naming this node.
    fn io_error(&self, context: impl std::fmt::Display, e: io::Error) -> Error {
        Error::io(context, e).with_datanode(self.id.clone())
    }

    /// A replica whose bytes or sidecar do not check out.
    fn corrupt(&self, block: BlockId, what: impl std::fmt::Display) -> Error {
        tracing::error!(%block, "corrupt replica: {what}");
        Error::new(
            ErrorKind::ChecksumMismatch,
            format!("replica {block} on {} is corrupt: {what}", self.id),
        )
        .with_datanode(self.id.clone())
    }
}

#[cfg(test)]
mod append_tests;
#[cfg(test)]
mod clone_tests;
#[cfg(test)]
mod cut_tests;
#[cfg(test)]
mod tests;
