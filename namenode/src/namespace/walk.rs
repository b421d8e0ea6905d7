//! Whole-subtree operations for operators: visiting every entry below a path (fsck), and
//! changing a file's replication (setrep).

use granary_client::protocol::FileStatus;
use granary_client::{BlockId, Error, ErrorKind, FsPath};

use super::{not_found, Changes, Inode, InodeKind, Namespace};

impl Namespace {
    /// Calls `visit` for the entry at `path` and, for a directory, every visible entry below
    /// it, parents before children, siblings in name order. Files under construction are
    /// skipped (a path naming one is not found).
    pub fn walk(&self, path: &FsPath, mut visit: impl FnMut(&FsPath, &Inode)) -> Result<(), Error> {
        let top = self.lookup_visible(path)?;
        let mut pending = vec![(path.clone(), top)];
        while let Some((entry_path, inode)) = pending.pop() {
            visit(&entry_path, inode);
            let Some(children) = self.children.get(&inode.id) else {
                continue;
            };
            // Reversed onto the stack, so they come off in name order.
            for (name, child_id) in children.iter().rev() {
                let Some(child) = self.inodes.get(child_id) else {
                    continue;
                };
                if !child.is_under_construction() {
                    pending.push((entry_path.join(name)?, child));
                }
            }
        }
        Ok(())
    }

    /// Sets a complete file's replication; returns its status and its blocks.
    pub fn set_replication(
        &mut self,
        path: &FsPath,
        replication: u16,
        changes: &mut Changes,
    ) -> Result<(FileStatus, Vec<BlockId>), Error> {
        let id = self.lookup(path)?.ok_or_else(|| not_found(path))?;
        let inode = self.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        match &mut inode.kind {
            InodeKind::Dir => Err(Error::new(
                ErrorKind::IsADirectory,
                format!("{path} is a directory; set the replication of the files in it"),
            )),
            InodeKind::File(f) if f.under_construction => Err(Error::new(
                ErrorKind::UnderConstruction,
                format!("{path} is still being written; set its replication once it is complete"),
            )),
            InodeKind::File(f) => {
                f.replication = replication;
                let blocks = f.blocks.iter().map(|b| b.id).collect();
                changes.written.push(id);
                Ok((inode.status(path.clone()), blocks))
            }
        }
    }
}
