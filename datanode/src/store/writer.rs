//! Writing a replica: frames are verified and appended to `tmp/blk_<id>.<nonce>`, the sidecar
//! is written next to it, and [`BlockStore::commit`] renames both into `current/`. Dropping a
//! writer or an uncommitted replica at any point removes its temporary files.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use granary_client::checksum::{Digest, CHUNK_SIZE};
use granary_client::framing::Frame;
use granary_client::{BlockId, Error, ErrorKind};

use super::meta::BlockMeta;
use super::{sync_dir, BlockStore, Stored};

/// Bytes written between two writeback steps (see [`writeback`]).
const WRITEBACK_STEP: u64 = 8 << 20;

/// A replica being written. Blocking I/O: run it on a blocking thread.
pub struct BlockWriter {
    temp: TempReplica,
    file: File,
    chunks: Vec<Digest>,
    length: u64,
    written_back: u64,
    dropped: u64,
    saw_short_frame: bool,
}

/// A replica whose data and sidecar are written and fsynced in `tmp/`, ready to commit.
pub struct PreparedReplica {
    temp: TempReplica,
    meta: BlockMeta,
}

/// Owns the temporary files and the "being written" mark of one block.
struct TempReplica {
    store: Arc<BlockStore>,
    block: BlockId,
    data: PathBuf,
    meta: PathBuf,
    committed: bool,
}

impl BlockStore {
    /// Starts writing `block`. Fails with `already_exists` if the replica is finalized or
    /// another write of it is in progress.
    pub fn begin_write(self: &Arc<Self>, block: BlockId) -> Result<BlockWriter, Error> {
        {
            let mut index = self.lock();
            if index.replicas.contains_key(&block) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("replica {block} already exists"),
                ));
            }
            if !index.writing.insert(block) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("replica {block} is being written"),
                ));
            }
        }
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        let temp = TempReplica {
            store: Arc::clone(self),
            block,
            data: self.tmp_dir().join(format!("blk_{}.{nonce}", block.0)),
            meta: self.tmp_dir().join(format!("blk_{}.{nonce}.meta", block.0)),
            committed: false,
        };
        let file = File::create_new(&temp.data)
            .map_err(|e| self.io_error(format!("creating {}", temp.data.display()), e))?;
        Ok(BlockWriter {
            temp,
            file,
            chunks: Vec::new(),
            length: 0,
            written_back: 0,
            dropped: 0,
            saw_short_frame: false,
        })
    }

    /// Makes a prepared replica visible: renames the data file, then the sidecar (whose
    /// presence marks the replica as finalized) into `current/`, and fsyncs the directory.
    pub fn commit(&self, mut prepared: PreparedReplica) -> Result<(), Error> {
        let block = prepared.temp.block;
        self.ensure_bucket_dir(block)
            .map_err(|e| self.io_error(format!("finalizing {block}"), e))?;
        let (data, meta) = (self.data_path(block), self.meta_path(block));
        fs::rename(&prepared.temp.data, &data)
            .map_err(|e| self.io_error(format!("finalizing {block}"), e))?;
        fail::fail_point!("replica::rename");
        if let Err(e) = fs::rename(&prepared.temp.meta, &meta) {
            let _ = fs::remove_file(&data);
            return Err(self.io_error(format!("finalizing {block}"), e));
        }
        if let Err(e) = sync_dir(&self.bucket_dir(block)) {
            let _ = fs::remove_file(&meta);
            let _ = fs::remove_file(&data);
            return Err(self.io_error(format!("finalizing {block}"), e));
        }
        let mut index = self.lock();
        index.writing.remove(&block);
        let stored = Stored {
            length: prepared.meta.length,
            digest: prepared.meta.block_digest,
        };
        index.replicas.insert(block, stored);
        index.used += prepared.meta.length;
        prepared.temp.committed = true;
        Ok(())
    }
}

impl BlockWriter {
    pub fn block(&self) -> BlockId {
        self.temp.block
    }

    /// Verifies one frame and appends its payload. Every frame but the last must be a whole
    /// chunk, so chunk `i` of the file is always bytes `[i * CHUNK_SIZE, ...)`.
    pub fn append(&mut self, frame: &Frame) -> Result<(), Error> {
        check_frame_order(self.saw_short_frame, frame.data.len())?;
        // A chunk corrupted in transit names no datanode: the fault is upstream of us.
        frame.verify()?;
        self.file
            .write_all(&frame.data)
            .map_err(|e| self.disk_error(e))?;
        self.chunks.push(frame.digest);
        self.length += frame.data.len() as u64;
        self.saw_short_frame = frame.data.len() < CHUNK_SIZE;
        if self.length - self.written_back >= WRITEBACK_STEP {
            writeback(&self.file, self.dropped, self.written_back, self.length);
            self.dropped = self.written_back;
            self.written_back = self.length;
        }
        Ok(())
    }

    /// Fsyncs the data, writes and fsyncs the sidecar.
    pub fn prepare(self) -> Result<PreparedReplica, Error> {
        fail::fail_point!("replica::fsync");
        self.file.sync_data().map_err(|e| self.disk_error(e))?;
        let meta = BlockMeta::new(self.length, self.chunks);
        let write_meta = || -> io::Result<()> {
            let mut file = File::create_new(&self.temp.meta)?;
            file.write_all(&meta.encode())?;
            file.sync_data()
        };
        if let Err(e) = write_meta() {
            return Err(self
                .temp
                .store
                .io_error(format!("writing sidecar of {}", self.temp.block), e));
        }
        Ok(PreparedReplica {
            temp: self.temp,
            meta,
        })
    }

    fn disk_error(&self, e: io::Error) -> Error {
        self.temp
            .store
            .io_error(format!("writing {}", self.temp.block), e)
    }
}

/// Rejects empty or oversized frames and any frame after a short one.
pub(crate) fn check_frame_order(saw_short_frame: bool, len: usize) -> Result<(), Error> {
    if len == 0 || len > CHUNK_SIZE {
        return Err(Error::invalid_argument(format!("bad frame length {len}")));
    }
    if saw_short_frame {
        return Err(Error::invalid_argument(
            "only the last frame of a block may be shorter than a chunk",
        ));
    }
    Ok(())
}

impl PreparedReplica {
    pub fn block(&self) -> BlockId {
        self.temp.block
    }

    pub fn length(&self) -> u64 {
        self.meta.length
    }

    /// The block digest (SHA-256 over the chunk digests).
    pub fn digest(&self) -> Digest {
        self.meta.block_digest
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
        self.store.lock().writing.remove(&self.block);
    }
}

/// Starts writeback of `[started, written)`, then waits for `[dropped, started)` (started one
/// step earlier, so normally done) and drops it from the page cache. Replicas are rarely read
/// right after being written, and recycling the same few pages instead of filling the cache with
/// fresh ones makes writes markedly cheaper (as HDFS's drop-behind); the final fsync then has only
/// the last step left to flush.
#[cfg(target_os = "linux")]
fn writeback(file: &File, dropped: u64, started: u64, written: u64) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let range =
        |from: u64, to: u64| Some((i64::try_from(from).ok()?, i64::try_from(to - from).ok()?));
    if let Some((offset, len)) = range(started, written) {
        // SAFETY: a plain syscall on a file descriptor we own.
        if unsafe { libc::sync_file_range(fd, offset, len, libc::SYNC_FILE_RANGE_WRITE) } != 0 {
            tracing::debug!("sync_file_range: {}", io::Error::last_os_error());
        }
    }
    if started == dropped {
        return;
    }
    if let Some((offset, len)) = range(dropped, started) {
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: as above; then a hint that the written range will not be read soon.
        unsafe {
            if libc::sync_file_range(fd, offset, len, flags) == 0 {
                libc::posix_fadvise(fd, offset, len, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn writeback(_file: &File, _dropped: u64, _started: u64, _written: u64) {}
