//! Writer-side mutations: the blocks of a file under construction, and completing it.

use granary_client::protocol::{CommittedBlock, FileStatus};
use granary_client::{BlockId, Error, ErrorKind, FsPath, InodeId};

use super::{BlockRecord, Changes, FileInode, Inode, Namespace};

impl Namespace {
    /// The file a writer holds: `path` must still name the inode `file`, under construction.
    pub fn writable_file(&self, path: &FsPath, file: InodeId) -> Result<&FileInode, Error> {
        let found = self
            .lookup(path)?
            .and_then(|id| self.inodes.get(&id))
            .filter(|i| i.id == file);
        let Some(inode) = found else {
            return Err(Error::not_found(format!(
                "{path}: no file with id {file} (deleted or replaced?)"
            )));
        };
        match inode.file() {
            Some(f) if f.under_construction => Ok(f),
            Some(_) => Err(Error::new(
                ErrorKind::UnderConstruction,
                format!("{path} is complete; it is no longer open for writing"),
            )),
            None => Err(Error::new(
                ErrorKind::IsADirectory,
                format!("{path} is a directory"),
            )),
        }
    }

    /// Appends a new block to a file under construction; the id is never reused.
    pub fn add_block(
        &mut self,
        path: &FsPath,
        file: InodeId,
        changes: &mut Changes,
    ) -> Result<BlockId, Error> {
        self.writable_file(path, file)?;
        let block = BlockId(self.next_block);
        let f = self.file_mut(file)?;
        f.blocks.push(BlockRecord {
            id: block,
            length: 0,
            sha256: None,
        });
        self.next_block += 1;
        changes.written.push(file);
        Ok(block)
    }

    /// Removes the last block of a file under construction. Abandoning a block the file no
    /// longer has succeeds, so a retried call is harmless.
    pub fn abandon_block(
        &mut self,
        path: &FsPath,
        file: InodeId,
        block: BlockId,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        let f = self.writable_file(path, file)?;
        match f.blocks.iter().position(|b| b.id == block) {
            None => Ok(()),
            Some(i) if i + 1 != f.blocks.len() => Err(Error::invalid_argument(format!(
                "{block} is not the last block of {path}; only the last can be abandoned"
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
        committed: &[CommittedBlock],
    ) -> Result<bool, Error> {
        if self.already_completed(path, file, committed).is_some() {
            return Ok(false);
        }
        validate_committed(path, self.writable_file(path, file)?, committed)?;
        Ok(true)
    }

    /// Makes the file visible with exactly `committed` as its blocks.
    pub fn complete(
        &mut self,
        path: &FsPath,
        file: InodeId,
        committed: &[CommittedBlock],
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<FileStatus, Error> {
        if let Some(status) = self.already_completed(path, file, committed) {
            return Ok(status);
        }
        let f = self.writable_file(path, file)?;
        validate_committed(path, f, committed)?;
        let kept: Vec<BlockRecord> = committed
            .iter()
            .map(|c| BlockRecord {
                id: c.id,
                length: c.length,
                sha256: Some(c.sha256),
            })
            .collect();
        let dropped = f
            .blocks
            .iter()
            .filter(|b| !committed.iter().any(|c| c.id == b.id))
            .map(|b| b.id);
        changes.dropped_blocks.extend(dropped);
        let f = self.file_mut(file)?;
        f.length = kept.iter().map(|b| b.length).sum();
        f.blocks = kept;
        f.under_construction = false;
        self.touch(file, now_ms, changes);
        self.stat(path)
    }

    /// A `complete` repeated after the retry cache forgot the first: same blocks, same answer.
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
        let same = f.blocks.len() == committed.len()
            && f.blocks
                .iter()
                .zip(committed)
                .all(|(b, c)| b.id == c.id && b.length == c.length);
        same.then(|| inode.status(path.clone()))
    }

    fn file_mut(&mut self, id: InodeId) -> Result<&mut FileInode, Error> {
        self.inodes
            .get_mut(&id)
            .and_then(Inode::file_mut)
            .ok_or_else(|| Error::internal(format!("inode {id} is not a file")))
    }
}

/// The committed blocks must be allocated blocks of the file, in allocation order, each full
/// except the last, none empty.
fn validate_committed(
    path: &FsPath,
    f: &FileInode,
    committed: &[CommittedBlock],
) -> Result<(), Error> {
    let bad = |msg: String| Err(Error::invalid_argument(format!("complete {path}: {msg}")));
    let mut next_allowed = 0;
    for (i, block) in committed.iter().enumerate() {
        let Some(pos) = f.blocks.iter().position(|b| b.id == block.id) else {
            return bad(format!("{} was not allocated to this file", block.id));
        };
        if pos < next_allowed {
            return bad(format!("{} is out of order or repeated", block.id));
        }
        next_allowed = pos + 1;
        let last = i + 1 == committed.len();
        if block.length == 0 {
            return bad(format!(
                "{} is empty; an empty file has no blocks",
                block.id
            ));
        }
        if block.length > f.block_size || (!last && block.length != f.block_size) {
            return bad(format!(
                "{} has {} bytes; every block but the last must hold exactly the block size ({})",
                block.id, block.length, f.block_size
            ));
        }
    }
    Ok(())
}
