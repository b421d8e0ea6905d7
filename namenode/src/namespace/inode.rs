//! Inode records: what the namenode knows of each directory and file, exactly as persisted.

use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{BlockId, Digest, FsPath, InodeId};
use serde::{Deserialize, Serialize};

/// The root directory's id; it is its own parent.
pub const ROOT_ID: InodeId = InodeId(1);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inode {
    pub id: InodeId,
    /// Storing the parent and name here (rather than the path) is what makes a directory
    /// rename rewrite only the renamed entry.
    pub parent: InodeId,
    pub name: String,
    pub modified_ms: u64,
    pub kind: InodeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InodeKind {
    Dir,
    File(FileInode),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInode {
    pub replication: u16,
    pub block_size: u64,
    /// Allocated blocks while under construction; exactly the committed blocks once complete.
    pub blocks: Vec<BlockRecord>,
    pub under_construction: bool,
    pub length: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub id: BlockId,
    /// 0 until the file is complete.
    pub length: u64,
    /// `None` until the file is complete.
    pub sha256: Option<Digest>,
}

impl Inode {
    pub fn root(now_ms: u64) -> Self {
        Inode {
            id: ROOT_ID,
            parent: ROOT_ID,
            name: String::new(),
            modified_ms: now_ms,
            kind: InodeKind::Dir,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, InodeKind::Dir)
    }

    pub fn file(&self) -> Option<&FileInode> {
        match &self.kind {
            InodeKind::File(f) => Some(f),
            InodeKind::Dir => None,
        }
    }

    pub fn file_mut(&mut self) -> Option<&mut FileInode> {
        match &mut self.kind {
            InodeKind::File(f) => Some(f),
            InodeKind::Dir => None,
        }
    }

    /// A file still being written: hidden from stat, list and locate.
    pub fn is_under_construction(&self) -> bool {
        self.file().is_some_and(|f| f.under_construction)
    }

    pub fn status(&self, path: FsPath) -> FileStatus {
        match &self.kind {
            InodeKind::Dir => FileStatus {
                lease_holder: None,
                path,
                kind: FileKind::Directory,
                length: 0,
                replication: 0,
                block_size: 0,
                modified_ms: self.modified_ms,
            },
            InodeKind::File(f) => FileStatus {
                lease_holder: None,
                path,
                kind: FileKind::File,
                length: f.length,
                replication: f.replication,
                block_size: f.block_size,
                modified_ms: self.modified_ms,
            },
        }
    }
}
