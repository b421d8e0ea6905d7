//! Namespace mutations (the writer's are in `write`). Each validates fully before changing
//! anything, so a failed call leaves the namespace as it was, and records what it changed in
//! [`Changes`].

use std::collections::BTreeMap;

use granary_client::protocol::{DeleteResponse, FileStatus};
use granary_client::{Error, ErrorKind, FsPath, InodeId, LeaseHolder};

use super::{not_found, Changes, FileInode, Inode, InodeKind, Namespace, ROOT_ID};

/// Replication and block size of a new file, already resolved against the cluster defaults
/// and validated, and whether it starts complete.
#[derive(Clone, Copy, Debug)]
pub struct FileParams {
    pub replication: u16,
    pub block_size: u64,
    /// Created complete (and so empty, and closed to writers) instead of under construction.
    pub complete: bool,
}

impl Namespace {
    /// A new empty file: open for writing, leased to `holder`, or complete at once if
    /// `params.complete`. A file open by another holder is `lease_held` (the namesystem
    /// recovers it first once that lease is past its soft limit); its own holder may
    /// overwrite it.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        path: &FsPath,
        params: FileParams,
        holder: &LeaseHolder,
        overwrite: bool,
        create_parents: bool,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<InodeId, Error> {
        let (Some(parent_path), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::invalid_argument(
                "cannot create /: it is the root directory",
            ));
        };
        let replaced = match self.lookup(path)?.and_then(|id| self.inodes.get(&id)) {
            None => None,
            Some(existing) => match &existing.kind {
                InodeKind::Dir => {
                    return Err(Error::new(
                        ErrorKind::IsADirectory,
                        format!("{path} is a directory"),
                    ))
                }
                InodeKind::File(f)
                    if f.under_construction && f.lease_holder.as_ref() != Some(holder) =>
                {
                    let by = f.lease_holder.as_ref().map_or("a writer", |h| h.as_str());
                    return Err(Error::new(
                        ErrorKind::LeaseHeld,
                        format!("{path} is open for writing by {by}"),
                    ));
                }
                InodeKind::File(_) if !overwrite => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{path} already exists"),
                    ))
                }
                InodeKind::File(_) => Some(existing.id),
            },
        };
        let parent = if create_parents {
            self.ensure_dirs(&parent_path, now_ms, changes)?
        } else {
            self.resolve_dir(&parent_path)?
        };
        if let Some(old) = replaced {
            self.remove_subtree(old, changes);
        }
        let id = self.allocate_inode();
        let file = FileInode {
            replication: params.replication,
            block_size: params.block_size,
            blocks: Vec::new(),
            under_construction: !params.complete,
            length: 0,
            lease_holder: (!params.complete).then(|| holder.clone()),
            opened_with: 0,
        };
        self.insert(
            Inode {
                id,
                parent,
                name: name.to_string(),
                modified_ms: now_ms,
                kind: InodeKind::File(file),
                ..Inode::root(now_ms)
            },
            changes,
        );
        self.touch(parent, now_ms, changes);
        Ok(id)
    }

    pub fn mkdir(
        &mut self,
        path: &FsPath,
        parents: bool,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<FileStatus, Error> {
        if let Some(existing) = self.lookup(path)?.and_then(|id| self.inodes.get(&id)) {
            return match existing.is_dir() {
                true if parents => Ok(existing.status(path.clone())),
                true => Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("directory {path} already exists"),
                )),
                false => Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{path} already exists as a file"),
                )),
            };
        }
        let id = if parents {
            self.ensure_dirs(path, now_ms, changes)?
        } else {
            let (Some(parent_path), Some(name)) = (path.parent(), path.file_name()) else {
                return Err(Error::internal("the root directory is missing"));
            };
            let parent = self.resolve_dir(&parent_path)?;
            self.new_dir(parent, name, now_ms, changes)
        };
        let inode = self
            .inodes
            .get(&id)
            .ok_or_else(|| Error::internal("new directory vanished"))?;
        Ok(inode.status(path.clone()))
    }

    pub fn delete(
        &mut self,
        path: &FsPath,
        recursive: bool,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<DeleteResponse, Error> {
        if path.is_root() {
            return Err(Error::invalid_argument(
                "cannot delete /: it is the root directory",
            ));
        }
        let id = self.lookup(path)?.ok_or_else(|| not_found(path))?;
        let non_empty = self.children.get(&id).is_some_and(|c| !c.is_empty());
        if non_empty && !recursive {
            return Err(Error::new(
                ErrorKind::DirectoryNotEmpty,
                format!("{path} is a non-empty directory; delete it recursively"),
            ));
        }
        let parent = self.inodes.get(&id).map_or(ROOT_ID, |i| i.parent);
        let blocks_before = changes.dropped_blocks.len();
        let files = self.remove_subtree(id, changes);
        self.touch(parent, now_ms, changes);
        Ok(DeleteResponse {
            files,
            blocks: (changes.dropped_blocks.len() - blocks_before) as u64,
        })
    }

    /// Moves one entry: only its own record and its parents' modification times change, however
    /// large the subtree below it.
    pub fn rename(
        &mut self,
        src: &FsPath,
        dst: &FsPath,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<FileStatus, Error> {
        if src.is_root() {
            return Err(Error::invalid_argument(
                "cannot rename /: it is the root directory",
            ));
        }
        let src_inode = self.inode_at(src)?;
        let id = src_inode.id;
        if src_inode.is_dir() && dst.starts_with(src) {
            return Err(Error::invalid_argument(format!(
                "cannot move directory {src} into itself ({dst})"
            )));
        }
        if dst.is_root() || self.lookup(dst)?.is_some() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{dst} already exists"),
            ));
        }
        let (Some(dst_parent_path), Some(dst_name)) = (dst.parent(), dst.file_name()) else {
            return Err(Error::internal("destination has no parent"));
        };
        let new_parent = self.resolve_dir(&dst_parent_path)?;
        let inode = self.inodes.get_mut(&id).ok_or_else(|| not_found(src))?;
        let old_parent = inode.parent;
        let old_name = std::mem::replace(&mut inode.name, dst_name.to_string());
        inode.parent = new_parent;
        let status = inode.status(dst.clone());
        if let Some(siblings) = self.children.get_mut(&old_parent) {
            siblings.remove(&old_name);
        }
        self.children
            .entry(new_parent)
            .or_default()
            .insert(dst_name.to_string(), id);
        changes.written.push(id);
        self.touch(old_parent, now_ms, changes);
        self.touch(new_parent, now_ms, changes);
        Ok(status)
    }

    fn allocate_inode(&mut self) -> InodeId {
        let id = InodeId(self.next_inode);
        self.next_inode += 1;
        id
    }

    fn insert(&mut self, inode: Inode, changes: &mut Changes) {
        if inode.is_dir() {
            self.children.insert(inode.id, BTreeMap::new());
        }
        self.children
            .entry(inode.parent)
            .or_default()
            .insert(inode.name.clone(), inode.id);
        changes.written.push(inode.id);
        self.inodes.insert(inode.id, inode);
    }

    fn new_dir(
        &mut self,
        parent: InodeId,
        name: &str,
        now_ms: u64,
        changes: &mut Changes,
    ) -> InodeId {
        let id = self.allocate_inode();
        self.insert(
            Inode {
                id,
                parent,
                name: name.to_string(),
                ..Inode::root(now_ms)
            },
            changes,
        );
        self.touch(parent, now_ms, changes);
        id
    }

    /// `mkdir -p`: the directory at `path`, creating what is missing. Fails before creating
    /// anything if a file is in the way.
    fn ensure_dirs(
        &mut self,
        path: &FsPath,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<InodeId, Error> {
        self.lookup(path)?;
        let mut current = ROOT_ID;
        for name in path.components() {
            current = match self.children.get(&current).and_then(|c| c.get(name)) {
                Some(&id) if self.children.contains_key(&id) => id,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::NotADirectory,
                        format!("{path}: {name} is a file"),
                    ))
                }
                None => self.new_dir(current, name, now_ms, changes),
            };
        }
        Ok(current)
    }

    pub(super) fn touch(&mut self, id: InodeId, now_ms: u64, changes: &mut Changes) {
        if let Some(inode) = self.inodes.get_mut(&id) {
            inode.modified_ms = now_ms;
            changes.written.push(id);
        }
    }

    /// Detaches `id` from its parent and removes it and everything below it. Returns the
    /// number of files removed; their blocks go to `changes.dropped_blocks`.
    pub(super) fn remove_subtree(&mut self, id: InodeId, changes: &mut Changes) -> u64 {
        if let Some(inode) = self.inodes.get(&id) {
            if let Some(siblings) = self.children.get_mut(&inode.parent) {
                siblings.remove(&inode.name);
            }
        }
        let mut files = 0;
        let mut pending = vec![id];
        while let Some(next) = pending.pop() {
            let Some(inode) = self.inodes.remove(&next) else {
                continue;
            };
            changes.removed.push(next);
            match inode.kind {
                InodeKind::Dir => pending.extend(
                    self.children
                        .remove(&next)
                        .into_iter()
                        .flat_map(|c| c.into_values()),
                ),
                InodeKind::File(f) => {
                    files += 1;
                    changes.dropped_blocks.extend(f.blocks.iter().map(|b| b.id));
                }
            }
        }
        files
    }
}
