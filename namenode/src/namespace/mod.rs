//! The namespace: directories and files, held in memory as the authority for reads and
//! persisted write-through by [`store`] (an edit log, [`journal`], in front of sled), with
//! [`durability`] group-committing the journal syncs.
//!
//! Each inode knows its parent and name; the children index is derived from that at load time.
//! Mutations (`ops`; the writer's `write` and `append`; `reshape`: truncate, concat and the
//! end of a lease recovery) change the in-memory state and list what they changed in [`Changes`],
//! which the store writes as one atomic batch.

mod access;
mod append;
pub mod durability;
pub mod inode;
pub mod journal;
mod ops;
mod replication;
mod reshape;
pub mod store;
mod summary;
#[cfg(test)]
mod tests;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use granary_client::protocol::FileStatus;
use granary_client::{BlockId, Error, ErrorKind, FsPath, InodeId};

pub use access::{mode_string, Caller};
pub use append::{Appended, ReopenedBlock};
pub use inode::{BlockRecord, FileInode, Inode, InodeKind, ROOT_ID, SUPERGROUP};
pub use ops::FileParams;
pub use reshape::{Cut, Truncated};
pub use summary::SummaryWalk;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Entries in name order.
    pub entries: Vec<FileStatus>,
    /// The name to start after for the next page; `None` when the listing is complete.
    pub next_start_after: Option<String>,
}

/// What one mutation changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Inodes to (re)write; may repeat.
    pub written: Vec<InodeId>,
    pub removed: Vec<InodeId>,
    /// Blocks that left the namespace. Their replicas are deleted only once the change is
    /// durable, so a crash cannot leave a surviving file with deleted replicas.
    pub dropped_blocks: Vec<BlockId>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty() && self.dropped_blocks.is_empty()
    }
}

#[derive(Debug)]
pub struct Namespace {
    inodes: HashMap<InodeId, Inode>,
    /// Directory id → name → child id. Every directory has an entry, files have none.
    children: HashMap<InodeId, BTreeMap<String, InodeId>>,
    next_inode: u64,
    next_block: u64,
}

impl Namespace {
    /// An empty namespace holding only the root directory.
    pub fn new(now_ms: u64) -> Self {
        let root = Inode::root(now_ms);
        Namespace {
            inodes: HashMap::from([(ROOT_ID, root)]),
            children: HashMap::from([(ROOT_ID, BTreeMap::new())]),
            next_inode: ROOT_ID.0 + 1,
            next_block: 1,
        }
    }

    /// Rebuilds the namespace from persisted records. The counters never go below the ids in
    /// use, so an id can never be handed out twice.
    pub fn from_records(
        records: Vec<Inode>,
        next_inode: u64,
        next_block: u64,
    ) -> Result<Self, Error> {
        let mut ns = Namespace {
            inodes: HashMap::with_capacity(records.len()),
            children: HashMap::new(),
            next_inode: next_inode.max(ROOT_ID.0 + 1),
            next_block: next_block.max(1),
        };
        for inode in records {
            ns.next_inode = ns.next_inode.max(inode.id.0 + 1);
            if let Some(f) = inode.file() {
                if let Some(max) = f.blocks.iter().map(|b| b.id.0).max() {
                    ns.next_block = ns.next_block.max(max + 1);
                }
            } else {
                ns.children.entry(inode.id).or_default();
            }
            ns.inodes.insert(inode.id, inode);
        }
        if !ns.inodes.get(&ROOT_ID).is_some_and(Inode::is_dir) {
            return Err(Error::internal(
                "corrupt metadata: the root directory record is missing",
            ));
        }
        for inode in ns.inodes.values().filter(|i| i.id != ROOT_ID) {
            let siblings = ns.children.get_mut(&inode.parent).ok_or_else(|| {
                Error::internal(format!(
                    "corrupt metadata: inode {} ({:?}) has missing or non-directory parent {}",
                    inode.id, inode.name, inode.parent
                ))
            })?;
            siblings.insert(inode.name.clone(), inode.id);
        }
        Ok(ns)
    }

    pub fn get(&self, id: InodeId) -> Option<&Inode> {
        self.inodes.get(&id)
    }

    pub fn inodes(&self) -> impl Iterator<Item = &Inode> {
        self.inodes.values()
    }

    /// `(next_inode, next_block)`: the next ids to hand out.
    pub fn counters(&self) -> (u64, u64) {
        (self.next_inode, self.next_block)
    }

    /// Files (open ones included) and directories (the root included).
    pub fn counts(&self) -> (u64, u64) {
        let dirs = self.children.len() as u64;
        (self.inodes.len() as u64 - dirs, dirs)
    }

    /// The id of the inode at `path`, open for writing or not; `None` when the last component is
    /// missing, `NotADirectory` when a file sits where a directory is needed.
    pub fn lookup(&self, path: &FsPath) -> Result<Option<InodeId>, Error> {
        let mut current = ROOT_ID;
        for (depth, name) in path.components().enumerate() {
            let Some(entries) = self.children.get(&current) else {
                let prefix: Vec<&str> = path.components().take(depth).collect();
                return Err(Error::new(
                    ErrorKind::NotADirectory,
                    format!("{path}: /{} is not a directory", prefix.join("/")),
                ));
            };
            match entries.get(name) {
                Some(&id) => current = id,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The inode at `path` (files open for writing included: readers see what is committed).
    pub fn inode_at(&self, path: &FsPath) -> Result<&Inode, Error> {
        self.lookup(path)?
            .and_then(|id| self.inodes.get(&id))
            .ok_or_else(|| not_found(path))
    }

    pub fn stat(&self, path: &FsPath) -> Result<FileStatus, Error> {
        Ok(self.inode_at(path)?.status(path.clone()))
    }

    /// One page of a directory's children in name order, starting after the child named
    /// `start_after`; or, for a file, the file itself. At most `limit` children are looked at,
    /// so a call's work under the namesystem lock is bounded whatever the directory holds.
    pub fn list_page(
        &self,
        path: &FsPath,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, Error> {
        let inode = self.inode_at(path)?;
        let Some(children) = self.children.get(&inode.id) else {
            return Ok(ListPage {
                entries: vec![inode.status(path.clone())],
                next_start_after: None,
            });
        };
        let from = match start_after {
            Some(name) => Bound::Excluded(name),
            None => Bound::Unbounded,
        };
        let mut scanned = children.range::<str, _>((from, Bound::Unbounded));
        let mut entries = Vec::new();
        let mut last = None;
        for (name, child_id) in scanned.by_ref().take(limit.max(1)) {
            last = Some(name);
            let Some(child) = self.inodes.get(child_id) else {
                continue;
            };
            entries.push(child.status(path.join(name)?));
        }
        let more = scanned.next().is_some();
        Ok(ListPage {
            entries,
            next_start_after: last.filter(|_| more).cloned(),
        })
    }

    /// The directory at `path`, for operations that put something inside it.
    fn resolve_dir(&self, path: &FsPath) -> Result<InodeId, Error> {
        match self.lookup(path)? {
            Some(id) if self.children.contains_key(&id) => Ok(id),
            Some(_) => Err(Error::new(
                ErrorKind::NotADirectory,
                format!("{path} is not a directory"),
            )),
            None => Err(Error::not_found(format!(
                "parent directory {path} does not exist"
            ))),
        }
    }
}

pub(crate) fn not_found(path: &FsPath) -> Error {
    Error::not_found(format!("{path}: no such file or directory"))
}
