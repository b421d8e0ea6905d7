//! Inode records: what the namenode knows of each directory and file, exactly as persisted.

use granary_client::protocol::{FileAttrs, FileKind, FileStatus};
use granary_client::{BlockId, Digest, FsPath, Generation, InodeId, LeaseHolder, Permission};
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
    /// Records from before owners have none (""): at load they get the superuser.
    #[serde(default)]
    pub owner: String,
    #[serde(default = "default_group")]
    pub group: String,
    /// `None` in records from before permissions: 755 for a directory, 644 for a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    /// Last open or locate for reading, at `access_time_precision`; 0: never recorded.
    #[serde(default)]
    pub accessed_ms: u64,
}

/// HDFS's default group (and that of records from before owners).
pub const SUPERGROUP: &str = "supergroup";

fn default_group() -> String {
    SUPERGROUP.to_string()
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
    /// What readers see: the committed blocks (for an open file, its last block up to its
    /// last flush; during a truncate's cut, the new length at once).
    pub length: u64,
    /// Who holds the lease while the file is open (records from before leases: none, so
    /// any writer may recover it at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
    /// Blocks the file had when it was opened (0 for a create): `complete` lists only the
    /// blocks written after them (an append's reopened block among them).
    #[serde(default)]
    pub opened_with: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub id: BlockId,
    /// The committed length: 0 until committed.
    pub length: u64,
    /// `None` until the block is committed (by `add_block`'s `previous`, a flush, a
    /// complete or a recovery); an uncommitted block is never located.
    pub sha256: Option<Digest>,
    /// The committed generation: replicas older than it are stale. Records from before
    /// generations: 0, as their replicas.
    #[serde(default)]
    pub generation: Generation,
    /// The newest generation handed out for the block (a writer's segment, a recovery),
    /// journaled so it is never handed out twice, even across a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Generation>,
    /// A truncate is cutting the block to this many bytes; it is not located meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_to: Option<u64>,
}

impl BlockRecord {
    /// A block just allocated by `add_block`, written at generation 1.
    pub fn allocated(id: BlockId) -> Self {
        BlockRecord {
            id,
            length: 0,
            sha256: None,
            generation: Generation(1),
            pending: Some(Generation(1)),
            cut_to: None,
        }
    }

    pub fn is_committed(&self) -> bool {
        self.sha256.is_some()
    }

    /// Readers may read it: committed and not being cut.
    pub fn is_readable(&self) -> bool {
        self.is_committed() && self.cut_to.is_none()
    }

    /// Hands out the next generation (newer than any handed out before) and records it.
    pub fn bump_generation(&mut self) -> Generation {
        let next = self
            .pending
            .unwrap_or(self.generation)
            .max(self.generation)
            .next();
        self.pending = Some(next);
        next
    }

    /// Commits the block at a state its datanodes hold.
    pub fn commit(&mut self, generation: Generation, length: u64, sha256: Digest) {
        self.generation = generation;
        self.length = length;
        self.sha256 = Some(sha256);
        self.pending = None;
        self.cut_to = None;
    }
}

impl FileInode {
    /// The sum of the committed blocks: what readers see once nothing is being cut.
    pub fn committed_length(&self) -> u64 {
        self.blocks
            .iter()
            .filter(|b| b.is_committed())
            .map(|b| b.length)
            .sum()
    }

    /// Closes the file: no holder, nothing pending, length as committed.
    pub fn close(&mut self) {
        self.under_construction = false;
        self.lease_holder = None;
        self.opened_with = self.blocks.len();
        for block in &mut self.blocks {
            block.pending = None;
            block.cut_to = None;
        }
        self.length = self.committed_length();
    }
}

impl Inode {
    pub fn root(now_ms: u64) -> Self {
        Inode {
            id: ROOT_ID,
            parent: ROOT_ID,
            name: String::new(),
            modified_ms: now_ms,
            kind: InodeKind::Dir,
            owner: String::new(),
            group: default_group(),
            permission: None,
            accessed_ms: 0,
        }
    }

    /// The mode bits; records from before permissions have HDFS's 755 / 644.
    pub fn permission(&self) -> Permission {
        self.permission.unwrap_or(match self.kind {
            InodeKind::Dir => Permission::new(0o755),
            InodeKind::File(_) => Permission::new(0o644),
        })
    }

    fn attrs(&self) -> FileAttrs {
        FileAttrs {
            owner: self.owner.clone(),
            group: self.group.clone(),
            permission: self.permission(),
            accessed_ms: self.accessed_ms,
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

    /// A file open for writing (created or appended, not yet closed).
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
                attrs: self.attrs(),
            },
            InodeKind::File(f) => FileStatus {
                lease_holder: f.lease_holder.clone().filter(|_| f.under_construction),
                path,
                kind: FileKind::File,
                length: f.length,
                replication: f.replication,
                block_size: f.block_size,
                modified_ms: self.modified_ms,
                attrs: self.attrs(),
            },
        }
    }
}
