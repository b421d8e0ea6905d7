//! Reopening files and blocks: `append` (the file is leased again, its last block reopened
//! if it has room), `reopen_block` (a new segment of the last block, under a new
//! generation) and `flush` (readers see the last block up to what the pipeline
//! acknowledged).

use granary_client::protocol::CommittedBlock;
use granary_client::{BlockId, Error, ErrorKind, FsPath, Generation, InodeId, LeaseHolder};

use super::{Changes, FileInode, Namespace};

/// A file opened for appending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub file: InodeId,
    pub replication: u16,
    pub block_size: u64,
    /// The file's length when opened.
    pub length: u64,
    /// The last block when it has room: reopened at the new generation, holding
    /// `length` bytes.
    pub last_block: Option<ReopenedBlock>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReopenedBlock {
    pub block: BlockId,
    pub generation: Generation,
    /// The block's committed generation: the replicas at it (or newer) hold its bytes.
    pub committed: Generation,
    pub length: u64,
}

impl Namespace {
    /// The closed file at `path` for appending: `is_a_directory`, `not_found`, or
    /// `lease_held` when it is open (the namesystem recovers an expired lease first).
    pub fn appendable(&self, path: &FsPath) -> Result<(InodeId, &FileInode), Error> {
        let inode = self.inode_at(path)?;
        let Some(f) = inode.file() else {
            return Err(Error::new(
                ErrorKind::IsADirectory,
                format!("cannot append to {path}: it is a directory"),
            ));
        };
        if f.under_construction {
            let by = f.lease_holder.as_ref().map_or("a writer", |h| h.as_str());
            return Err(Error::new(
                ErrorKind::LeaseHeld,
                format!("{path} is open for writing by {by}"),
            ));
        }
        Ok((inode.id, f))
    }

    /// Opens a closed file for appending, leased to `holder`. A last block with room (more
    /// than 0 and fewer than `block_size` bytes) is reopened under a new generation.
    pub fn append(
        &mut self,
        path: &FsPath,
        holder: &LeaseHolder,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<Appended, Error> {
        let (id, _) = self.appendable(path)?;
        let f = self.file_mut(id)?;
        f.under_construction = true;
        f.lease_holder = Some(holder.clone());
        f.opened_with = f.blocks.len();
        let block_size = f.block_size;
        let last_block = f
            .blocks
            .last_mut()
            .filter(|b| b.is_committed() && b.length > 0 && b.length < block_size)
            .map(|b| ReopenedBlock {
                block: b.id,
                committed: b.generation,
                generation: b.bump_generation(),
                length: b.length,
            });
        let appended = Appended {
            file: id,
            replication: f.replication,
            block_size,
            length: f.length,
            last_block,
        };
        self.touch(id, now_ms, changes);
        Ok(appended)
    }

    /// A new segment of the last block of a file `holder` writes, from its committed state:
    /// a new generation. The block must be committed (flushed, or reopened by an append);
    /// a block never committed is abandoned and allocated again instead.
    pub fn reopen_block(
        &mut self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
        block: BlockId,
        changes: &mut Changes,
    ) -> Result<ReopenedBlock, Error> {
        let f = self.writable_file(path, file, holder)?;
        match f.blocks.last() {
            Some(last) if last.id == block && last.is_committed() => {}
            Some(last) if last.id == block => {
                return Err(Error::invalid_argument(format!(
                    "reopen {block} of {path}: nothing of it is committed yet; abandon it and \
                     add a new block"
                )))
            }
            _ => {
                return Err(Error::invalid_argument(format!(
                    "reopen {block} of {path}: only the file's last block can be reopened"
                )))
            }
        }
        let f = self.file_mut(file)?;
        let Some(last) = f.blocks.last_mut() else {
            return Err(Error::internal("the last block vanished"));
        };
        let reopened = ReopenedBlock {
            block,
            committed: last.generation,
            generation: last.bump_generation(),
            length: last.length,
        };
        changes.written.push(file);
        Ok(reopened)
    }

    /// Commits the last block of a file `holder` writes at the state its pipeline
    /// acknowledged, at the generation it was written at: new readers see that length.
    /// Repeating a flush already committed changes nothing.
    pub fn flush(
        &mut self,
        path: &FsPath,
        file: InodeId,
        holder: &LeaseHolder,
        block: &CommittedBlock,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        let f = self.writable_file(path, file, holder)?;
        let bad = |msg: String| Err(Error::invalid_argument(format!("flush {path}: {msg}")));
        let Some(last) = f.blocks.last().filter(|b| b.id == block.id) else {
            return bad(format!("{} is not the file's last block", block.id));
        };
        let writing = last.pending.unwrap_or(last.generation);
        let repeated = last.generation == block.generation
            && last.length == block.length
            && last.sha256 == Some(block.sha256);
        if repeated {
            return Ok(());
        }
        if block.generation != writing {
            return bad(format!(
                "{} was written at {}, but the block is being written at {writing}",
                block.id, block.generation
            ));
        }
        if block.length == 0 || block.length > f.block_size || block.length < last.length {
            return bad(format!(
                "{} has {} bytes; a flush holds {} to {} bytes",
                block.id,
                block.length,
                last.length.max(1),
                f.block_size
            ));
        }
        let f = self.file_mut(file)?;
        if let Some(last) = f.blocks.last_mut() {
            last.commit(block.generation, block.length, block.sha256);
        }
        f.length = f.committed_length();
        changes.written.push(file);
        Ok(())
    }
}
