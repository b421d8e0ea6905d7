//! Changing a file's blocks without a writer: `truncate`, `concat`, and the namespace side
//! of a lease recovery (a new generation for the last block, closing the file at what the
//! recovery found).

use std::collections::HashSet;

use granary_client::protocol::FileStatus;
use granary_client::{BlockId, Digest, Error, ErrorKind, FsPath, Generation, InodeId, LeaseHolder};

use super::{Changes, FileInode, InodeKind, Namespace};

/// Where a truncate cuts: `block` (at index `index`) keeps `keep` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub index: usize,
    pub block: BlockId,
    pub keep: u64,
}

/// What a truncate did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncated {
    /// The length fell on a block boundary (or was the file's length): closed at once.
    Closed,
    /// `block` is being cut to `keep` bytes under `generation`; the file closes when the cut
    /// commits.
    Cutting {
        file: InodeId,
        block: BlockId,
        generation: Generation,
        keep: u64,
    },
}

impl Namespace {
    /// The closed file `truncate` would shorten to `length`, and the block it would cut
    /// (`None`: a block boundary, nothing to cut). Changes nothing.
    pub fn truncate_plan(
        &self,
        path: &FsPath,
        length: u64,
    ) -> Result<(InodeId, Option<Cut>), Error> {
        let (id, f) = self.appendable(path)?;
        if length > f.length {
            return Err(Error::invalid_argument(format!(
                "cannot truncate {path} to {length} bytes: it holds only {} bytes",
                f.length
            )));
        }
        Ok((id, cut_point(f, length)))
    }

    /// Shortens a closed file to `length` (see `truncate_plan`): whole blocks past it are
    /// dropped; a block it falls inside is left to be cut by a recovery, the file open
    /// (leased to `holder`) with its new length at once.
    pub fn truncate(
        &mut self,
        path: &FsPath,
        length: u64,
        holder: &LeaseHolder,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<Truncated, Error> {
        let (id, cut) = self.truncate_plan(path, length)?;
        let f = self.file_mut(id)?;
        if f.length == length {
            return Ok(Truncated::Closed);
        }
        let keep_blocks = match cut {
            Some(cut) => cut.index + 1,
            None => f
                .blocks
                .iter()
                .scan(0, |end, b| {
                    *end += b.length;
                    Some(*end)
                })
                .take_while(|&end| end <= length)
                .count(),
        };
        let dropped: Vec<BlockId> = f.blocks.drain(keep_blocks..).map(|b| b.id).collect();
        changes.dropped_blocks.extend(dropped);
        let outcome = match cut {
            None => {
                f.close();
                Truncated::Closed
            }
            Some(cut) => {
                f.under_construction = true;
                f.lease_holder = Some(holder.clone());
                f.opened_with = f.blocks.len();
                f.length = length;
                let last = &mut f.blocks[cut.index];
                last.cut_to = Some(cut.keep);
                Truncated::Cutting {
                    file: id,
                    block: cut.block,
                    generation: last.bump_generation(),
                    keep: cut.keep,
                }
            }
        };
        self.touch(id, now_ms, changes);
        Ok(outcome)
    }

    /// Moves the blocks of `sources` onto the end of `target`, in order, and removes the
    /// sources. All must be closed files in one directory, none repeated, `target` not among
    /// them. Answers the target's status and the blocks that moved.
    pub fn concat(
        &mut self,
        target: &FsPath,
        sources: &[FsPath],
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<(FileStatus, Vec<BlockId>), Error> {
        let bad = |msg: String| {
            Err(Error::invalid_argument(format!(
                "concat into {target}: {msg}"
            )))
        };
        if sources.is_empty() {
            return bad("no source files".into());
        }
        let target_id = self.closed_file(target)?;
        let parent = self.inodes.get(&target_id).map(|i| i.parent);
        let mut seen = HashSet::new();
        let mut source_ids = Vec::with_capacity(sources.len());
        for source in sources {
            let id = self.closed_file(source)?;
            if id == target_id {
                return bad(format!("{source} is the target itself"));
            }
            if !seen.insert(id) {
                return bad(format!("{source} is listed twice"));
            }
            if self.inodes.get(&id).map(|i| i.parent) != parent {
                return bad(format!("{source} is not in the target's directory"));
            }
            source_ids.push(id);
        }
        let mut moved = Vec::new();
        for id in source_ids {
            let blocks = std::mem::take(&mut self.file_mut(id)?.blocks);
            moved.extend(blocks.iter().map(|b| b.id));
            self.file_mut(target_id)?.blocks.extend(blocks);
            self.remove_subtree(id, changes);
        }
        let f = self.file_mut(target_id)?;
        f.length = f.committed_length();
        f.opened_with = f.blocks.len();
        self.touch(target_id, now_ms, changes);
        if let Some(parent) = parent {
            self.touch(parent, now_ms, changes);
        }
        Ok((self.stat(target)?, moved))
    }

    /// A lease recovery of the file's last block starts, or starts again with another
    /// primary: the block's next generation, journaled with the file.
    pub fn bump_last_generation(
        &mut self,
        file: InodeId,
        changes: &mut Changes,
    ) -> Result<Generation, Error> {
        let f = self.file_mut(file)?;
        let Some(last) = f.blocks.last_mut() else {
            return Err(Error::internal(format!(
                "inode {file} has no block to recover"
            )));
        };
        let generation = last.bump_generation();
        changes.written.push(file);
        Ok(generation)
    }

    /// Closes an open file without a recovery (nobody holds a byte of its last block): that
    /// block is dropped unless committed, when it keeps its committed state.
    pub fn close_now(
        &mut self,
        file: InodeId,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        let f = self.file_mut(file)?;
        if f.blocks.last().is_some_and(|b| !b.is_committed()) {
            if let Some(last) = f.blocks.pop() {
                changes.dropped_blocks.push(last.id);
            }
        }
        f.close();
        self.touch(file, now_ms, changes);
        Ok(())
    }

    /// The recovery of the file's last block ended: it holds `recovered` (length and digest)
    /// at `generation`, or nothing (dropped). The file closes.
    pub fn commit_recovered(
        &mut self,
        file: InodeId,
        block: BlockId,
        generation: Generation,
        recovered: Option<(u64, Digest)>,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        let f = self.file_mut(file)?;
        if f.blocks.last().map(|b| b.id) != Some(block) {
            return Err(Error::invalid_argument(format!(
                "{block} is not the last block of inode {file}"
            )));
        }
        match recovered {
            Some((length, sha256)) if length > 0 => {
                if let Some(last) = f.blocks.last_mut() {
                    last.commit(generation, length, sha256);
                }
            }
            _ => {
                f.blocks.pop();
                changes.dropped_blocks.push(block);
            }
        }
        f.close();
        self.touch(file, now_ms, changes);
        Ok(())
    }

    /// The closed file at `path`, for concat.
    fn closed_file(&self, path: &FsPath) -> Result<InodeId, Error> {
        let inode = self.inode_at(path)?;
        match &inode.kind {
            InodeKind::Dir => Err(Error::new(
                ErrorKind::IsADirectory,
                format!("{path} is a directory"),
            )),
            InodeKind::File(f) if f.under_construction => Err(Error::new(
                ErrorKind::UnderConstruction,
                format!("{path} is open for writing; close it first"),
            )),
            InodeKind::File(_) => Ok(inode.id),
        }
    }
}

/// The block `length` falls strictly inside, and the bytes of it to keep.
fn cut_point(f: &FileInode, length: u64) -> Option<Cut> {
    let mut offset = 0;
    for (index, b) in f.blocks.iter().enumerate() {
        if offset < length && length < offset + b.length {
            return Some(Cut {
                index,
                block: b.id,
                keep: length - offset,
            });
        }
        offset += b.length;
    }
    None
}
