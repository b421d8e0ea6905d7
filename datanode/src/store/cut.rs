//! Cutting a replica to a prefix, crash-safely: the new sidecar is written to `tmp/`, fsynced
//! and renamed over the old (then the directory fsynced), and only then is the data file
//! truncated; a crash in between leaves bytes past the sidecar's length, which readers ignore
//! and start-up cuts off. Also what a recovery primary asks of a replica: its verified state,
//! possibly as if cut.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use granary_client::checksum::{Digest, CHUNK_SIZE};
use granary_client::{BlockId, Error, ErrorKind, Generation};

use super::marks::BlockMark;
use super::meta::{chunk_count, chunk_len, BlockMeta};
use super::{sync_dir, BlockStore};

impl BlockStore {
    /// The sidecar and the data file (open for reading and writing) of a replica whose mark
    /// the caller holds, checked against the index.
    pub(super) fn open_marked(&self, block: BlockId) -> Result<(BlockMeta, File), Error> {
        let stored = self
            .lock()
            .replicas
            .get(&block)
            .cloned()
            .ok_or_else(|| self.unknown_block(block))?;
        let open_error = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => self.unknown_block(block),
            _ => self.io_error(format!("opening {block}"), e),
        };
        let bytes = fs::read(self.meta_path(block)).map_err(open_error)?;
        let meta = BlockMeta::decode(&bytes).map_err(|e| self.corrupt(block, e))?;
        if !stored.describes(&meta) {
            return Err(self.corrupt(block, "the sidecar does not match the index"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.data_path(block))
            .map_err(open_error)?;
        Ok((meta, file))
    }

    /// The first `length % CHUNK_SIZE` bytes of the chunk `length` falls inside (empty on a
    /// chunk boundary), after verifying that whole chunk against `meta`.
    pub(super) fn read_partial(
        &self,
        block: BlockId,
        file: &File,
        meta: &BlockMeta,
        length: u64,
    ) -> Result<Vec<u8>, Error> {
        let within = (length % CHUNK_SIZE as u64) as usize;
        if within == 0 {
            return Ok(Vec::new());
        }
        let index = length / CHUNK_SIZE as u64;
        let mut chunk = self.read_verified_chunk(block, file, meta, index)?;
        chunk.truncate(within);
        Ok(chunk)
    }

    fn read_verified_chunk(
        &self,
        block: BlockId,
        file: &File,
        meta: &BlockMeta,
        index: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut chunk = vec![0u8; chunk_len(meta.length, index)];
        file.read_exact_at(&mut chunk, index * CHUNK_SIZE as u64)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    self.corrupt(block, "data file is shorter than its sidecar")
                }
                _ => self.io_error(format!("reading {block}"), e),
            })?;
        let expected = usize::try_from(index).ok().and_then(|i| meta.chunks.get(i));
        if expected != Some(&Digest::of(&chunk)) {
            return Err(self.corrupt(block, format!("chunk {index} does not match its checksum")));
        }
        Ok(chunk)
    }

    /// Writes `meta` to a new file in `tmp/`, fsynced.
    pub(super) fn write_sidecar_tmp(
        &self,
        block: BlockId,
        meta: &BlockMeta,
    ) -> Result<PathBuf, Error> {
        let path = self.tmp_path(block, ".meta");
        if let Err(e) = write_sidecar(&path, meta) {
            let _ = fs::remove_file(&path);
            return Err(self.io_error(format!("writing the sidecar of {block}"), e));
        }
        Ok(path)
    }

    /// Renames a sidecar from `tmp/` over the replica's and fsyncs its directory.
    pub(super) fn install_sidecar(&self, block: BlockId, tmp: &Path) -> Result<(), Error> {
        let installed =
            fs::rename(tmp, self.meta_path(block)).and_then(|()| sync_dir(&self.bucket_dir(block)));
        if let Err(e) = installed {
            let _ = fs::remove_file(tmp);
            return Err(self.io_error(format!("replacing the sidecar of {block}"), e));
        }
        Ok(())
    }

    /// Cuts a marked replica (`meta`, `file` from [`Self::open_marked`]) to `length` bytes at
    /// `generation` and returns the new sidecar, and the verified bytes of the chunk `length`
    /// falls inside (as [`Self::read_partial`]).
    pub(super) fn cut_open(
        &self,
        block: BlockId,
        meta: &BlockMeta,
        file: &File,
        generation: Generation,
        length: u64,
    ) -> Result<(BlockMeta, Vec<u8>), Error> {
        let partial = self.read_partial(block, file, meta, length)?;
        let digest = (!partial.is_empty()).then(|| Digest::of(&partial));
        let cut = meta.cut(generation, length, digest);
        let tmp = self.write_sidecar_tmp(block, &cut)?;
        self.install_sidecar(block, &tmp)?;
        if !self.update_replica(block, &cut, true) {
            return Err(self.unknown_block(block));
        }
        fail::fail_point!("replica::cut");
        // Past the new sidecar's length nobody reads; a crash before this is cut at start-up.
        file.set_len(length)
            .map_err(|e| self.io_error(format!("cutting {block}"), e))?;
        tracing::info!(%block, %generation, length, from = meta.length, "replica cut");
        Ok((cut, partial))
    }

    /// Cuts the replica whose mark is held to `length` bytes at `generation` (a recovery's
    /// cut). Already at `generation` or newer with that length: nothing to do. Refused
    /// `stale_replica` when it is at `generation` or newer with another length, or holds fewer
    /// than `length` bytes.
    pub fn cut_replica(
        &self,
        mark: &BlockMark,
        generation: Generation,
        length: u64,
    ) -> Result<BlockMeta, Error> {
        let block = mark.block();
        let (meta, file) = self.open_marked(block)?;
        if meta.generation >= generation {
            if meta.length == length {
                return Ok(meta);
            }
            return Err(self.stale(
                block,
                format!(
                    "is at {} with {} bytes, not {length} bytes at {generation}",
                    meta.generation, meta.length
                ),
            ));
        }
        if meta.length < length {
            return Err(self.stale(
                block,
                format!("holds {} bytes, fewer than {length}", meta.length),
            ));
        }
        self.cut_open(block, &meta, &file, generation, length)
            .map(|(cut, _)| cut)
    }

    /// The replica whose mark is held, every chunk verified: its state up to `at` (or all of
    /// it), with the chunk `at` falls inside hashed over its first bytes. Its length ends
    /// early, at the start of the first chunk that does not verify.
    pub fn replica_state(&self, mark: &BlockMark, at: Option<u64>) -> Result<BlockMeta, Error> {
        let block = mark.block();
        let (meta, file) = self.open_marked(block)?;
        let end = at.unwrap_or(meta.length).min(meta.length);
        let mut chunks = Vec::new();
        let mut verified = 0;
        for index in 0..chunk_count(end) {
            let chunk = match self.read_verified_chunk(block, &file, &meta, index) {
                Ok(chunk) => chunk,
                Err(e) if e.kind == ErrorKind::ChecksumMismatch => break,
                Err(e) => return Err(e),
            };
            let take = chunk.len().min((end - verified) as usize);
            chunks.push(if take == chunk.len() {
                meta.chunks[index as usize]
            } else {
                Digest::of(&chunk[..take])
            });
            verified += take as u64;
        }
        Ok(BlockMeta::new(meta.generation, verified, chunks))
    }

    pub(super) fn stale(&self, block: BlockId, what: String) -> Error {
        Error::new(
            ErrorKind::StaleReplica,
            format!("replica {block} on {} {what}", self.id),
        )
        .with_datanode(self.id.clone())
    }
}

/// Writes `meta` to a new file at `path`, fsynced.
pub(super) fn write_sidecar(path: &Path, meta: &BlockMeta) -> io::Result<()> {
    let mut file = File::create_new(path)?;
    io::Write::write_all(&mut file, &meta.encode())?;
    file.sync_data()
}
