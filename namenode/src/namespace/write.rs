//! Writer-side mutations: the blocks of a file open for writing, and completing it. Every
//! call names the lease holder; only the file's holder may write it.

use granary_client::protocol::{CommittedBlock, FileStatus};
use granary_client::{BlockId, Error, ErrorKind, FsPath, Generation, InodeId, LeaseHolder};

use super::{BlockRecord, Changes, FileInode, Inode, Namespace};

impl Namespace {
    /// The file a writer holds: `path` must still name the inode `file`, open for writing,
    /// with `holder` holding its lease (`lease_expired` otherwise).
    pub fn writable_file(
        &self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
    ) -> Result<&FileInode, Error> {
        let found = self
            .lookup(path)?
            .and_then(|id| self.inodes.get(&id))
            .filter(|i| i.id == file);
        let Some(inode) = found else {
            return Err(Error::not_found(format!(
                "{path}: no file with id {file} (deleted or replaced?)"
            )));
        };
        let Some(f) = inode.file() else {
            return Err(Error::new(
                ErrorKind::IsADirectory,
                format!("{path} is a directory"),
            ));
        };
        if !f.under_construction {
            return Err(Error::new(
                ErrorKind::LeaseExpired,
                format!("{path} is closed; {holder} holds no lease on it"),
            ));
        }
        match &f.lease_holder {
            Some(h) if h == holder => Ok(f),
            Some(h) => Err(Error::new(
                ErrorKind::LeaseExpired,
                format!("{path}: the lease is held by {h}, not {holder}"),
            )),
            None => Err(Error::new(
                ErrorKind::LeaseExpired,
                format!("{path}: nobody holds its lease; recover it"),
            )),
        }
    }

    /// Appends a new block to a file open for writing (the id is never reused), after
    /// committing the writer's `previous` block at the state its pipeline acknowledged.
    /// Answers the block and the generation to write it at.
    pub fn add_block(
        &mut self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
        previous: Option<&CommittedBlock>,
        changes: &mut Changes,
    ) -> Result<(BlockId, Generation), Error> {
        let f = self.writable_file(path, file, holder)?;
        if let Some(previous) = previous {
            check_previous(path, f, previous)?;
        }
        let block = BlockId(self.next_block);
        let f = self.file_mut(file)?;
        if let Some(previous) = previous {
            if let Some(last) = f.blocks.last_mut() {
                last.commit(previous.generation, previous.length, previous.sha256);
            }
            f.length = f.committed_length();
        }
        let record = BlockRecord::allocated(block);
        let generation = record.generation;
        f.blocks.push(record);
        self.next_block += 1;
        changes.written.push(file);
        Ok((block, generation))
    }

    /// Removes the last block of a file open for writing, unless it is committed (a
    /// reopened block keeps its bytes: reopen it instead). Abandoning a block the file no
    /// longer has succeeds, so a retried call is harmless.
    pub fn abandon_block(
        &mut self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
        block: BlockId,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        let f = self.writable_file(path, file, holder)?;
        match f.blocks.iter().position(|b| b.id == block) {
            None => Ok(()),
            Some(i) if i + 1 != f.blocks.len() => Err(Error::invalid_argument(format!(
                "{block} is not the last block of {path}; only the last can be abandoned"
            ))),
            Some(i) if f.blocks[i].is_committed() => Err(Error::invalid_argument(format!(
                "{block} of {path} holds committed bytes; reopen it instead of abandoning it"
            ))),
            Some(_) => {
                self.file_mut(file)?.blocks.pop();
                changes.written.push(file);
                changes.dropped_blocks.push(block);
                Ok(())
            }
        }
    }

    /// Whether `complete` with these blocks still has work to do: `false` when the file was
    /// completed with them already, an error when it cannot be completed with them.
    pub fn needs_completion(
        &self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
        committed: &[CommittedBlock],
    ) -> Result<bool, Error> {
        if self.already_completed(path, file, committed).is_some() {
            return Ok(false);
        }
        validate_committed(path, self.writable_file(path, file, holder)?, committed)?;
        Ok(true)
    }

    /// Closes the file: the blocks it had when opened, then exactly `committed` (an append's
    /// first entry may be its reopened last block), and releases the lease.
    pub fn complete(
        &mut self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
        committed: &[CommittedBlock],
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<FileStatus, Error> {
        if let Some(status) = self.already_completed(path, file, committed) {
            return Ok(status);
        }
        let f = self.writable_file(path, file, holder)?;
        let kept_before = validate_committed(path, f, committed)?;
        let mut blocks: Vec<BlockRecord> = f.blocks[..kept_before].to_vec();
        for c in committed {
            let mut record = f
                .blocks
                .iter()
                .find(|b| b.id == c.id)
                .cloned()
                .unwrap_or_else(|| BlockRecord::allocated(c.id));
            record.commit(c.generation, c.length, c.sha256);
            blocks.push(record);
        }
        let dropped = f
            .blocks
            .iter()
            .filter(|b| !blocks.iter().any(|k| k.id == b.id))
            .map(|b| b.id);
        changes.dropped_blocks.extend(dropped);
        let f = self.file_mut(file)?;
        f.blocks = blocks;
        f.close();
        self.touch(file, now_ms, changes);
        self.stat(path)
    }

    /// A `complete` repeated after the retry cache forgot the first: the closed file ends
    /// with the same blocks, so the same answer.
    fn already_completed(
        &self,
        path: &FsPath,
        file: InodeId,
        committed: &[CommittedBlock],
    ) -> Option<FileStatus> {
        let inode = self
            .inodes
            .get(&self.lookup(path).ok()??)
            .filter(|i| i.id == file)?;
        let f = inode.file().filter(|f| !f.under_construction)?;
        let tail = f.blocks.len().checked_sub(committed.len())?;
        if committed.is_empty() && !f.blocks.is_empty() {
            return None;
        }
        let same = f.blocks[tail..]
            .iter()
            .zip(committed)
            .all(|(b, c)| b.id == c.id && b.length == c.length && b.generation == c.generation);
        same.then(|| inode.status(path.clone()))
    }

    pub(super) fn file_mut(&mut self, id: InodeId) -> Result<&mut FileInode, Error> {
        self.inodes
            .get_mut(&id)
            .and_then(Inode::file_mut)
            .ok_or_else(|| Error::internal(format!("inode {id} is not a file")))
    }
}

/// `add_block`'s `previous` must be the file's last block, not empty, within the block size.
fn check_previous(path: &FsPath, f: &FileInode, previous: &CommittedBlock) -> Result<(), Error> {
    let bad = |msg: String| Err(Error::invalid_argument(format!("add_block {path}: {msg}")));
    match f.blocks.last() {
        Some(last) if last.id == previous.id => {}
        Some(last) => {
            return bad(format!(
                "previous block {} is not the last block ({})",
                previous.id, last.id
            ))
        }
        None => {
            return bad(format!(
                "previous block {} but the file has none",
                previous.id
            ))
        }
    }
    if previous.length == 0 || previous.length > f.block_size {
        return bad(format!(
            "previous block {} has {} bytes; a block holds 1 to {} bytes",
            previous.id, previous.length, f.block_size
        ));
    }
    Ok(())
}

/// The committed blocks must be blocks of the file allocated since it was opened (or its
/// reopened last block, first), in allocation order, none empty or over the block size.
/// Returns how many of the blocks the file had when opened it keeps before them.
fn validate_committed(
    path: &FsPath,
    f: &FileInode,
    committed: &[CommittedBlock],
) -> Result<usize, Error> {
    let bad = |msg: String| Err(Error::invalid_argument(format!("complete {path}: {msg}")));
    let opened = f.opened_with.min(f.blocks.len());
    let reopened = opened > 0
        && committed
            .first()
            .is_some_and(|c| c.id == f.blocks[opened - 1].id);
    let kept_before = if reopened { opened - 1 } else { opened };
    let mut next_allowed = kept_before;
    for block in committed {
        let Some(pos) = f.blocks.iter().position(|b| b.id == block.id) else {
            return bad(format!("{} was not allocated to this file", block.id));
        };
        if pos < next_allowed {
            return bad(format!(
                "{} is out of order, repeated, or was closed before this writer opened the file",
                block.id
            ));
        }
        next_allowed = pos + 1;
        if block.length == 0 {
            return bad(format!(
                "{} is empty; an empty file has no blocks",
                block.id
            ));
        }
        if block.length > f.block_size {
            return bad(format!(
                "{} has {} bytes, more than the block size ({})",
                block.id, block.length, f.block_size
            ));
        }
    }
    Ok(kept_before)
}
