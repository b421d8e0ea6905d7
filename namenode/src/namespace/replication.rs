//! Changing a file's replication (setrep; a directory's files are set one by one by the
//! client, which walks the directory through paged listings).

use granary_client::protocol::FileStatus;
use granary_client::{BlockId, Error, ErrorKind, FsPath};

use super::{not_found, Changes, InodeKind, Namespace};

impl Namespace {
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
