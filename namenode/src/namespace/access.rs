//! Permission checks, as HDFS's `FSPermissionChecker`: run under the namesystem lock before a
//! call changes or reveals anything, so a refused call changes nothing. Owners, groups and
//! modes of new entries, and their changes (`chmod`, `chown`), are here too.

use granary_client::{Access, Error, ErrorKind, FsPath, InodeId, Permission};

use super::{not_found, Changes, Inode, Namespace, ROOT_ID};

/// Who makes a call: the user, its groups on the namenode host, and whether it is the
/// superuser (the namenode's own user, or a member of `superuser_group`), who passes every
/// check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub groups: Vec<String>,
    pub superuser: bool,
}

impl Caller {
    /// The namenode acting for itself (its trash emptier, its job tracker, tests).
    pub fn superuser(user: &str) -> Self {
        Caller {
            user: user.to_string(),
            groups: Vec::new(),
            superuser: true,
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

impl Namespace {
    /// Gives records from before owners the superuser as owner (their group already defaults
    /// to `supergroup`, their mode to 755 / 644).
    pub fn assign_unowned(&mut self, superuser: &str) {
        for inode in self.inodes.values_mut().filter(|i| i.owner.is_empty()) {
            inode.owner = superuser.to_string();
        }
    }

    /// The first inode id the next mutation will hand out: after it, [`Self::own_new`] gives
    /// what it created to its caller.
    pub fn next_inode_id(&self) -> u64 {
        self.next_inode
    }

    /// Entries created since `first_new` (see [`Self::next_inode_id`]) get `owner`, their
    /// parent's group (as HDFS) and `dir_mode` or `file_mode`.
    pub fn own_new(
        &mut self,
        first_new: u64,
        owner: &str,
        dir_mode: Permission,
        file_mode: Permission,
    ) {
        for id in first_new..self.next_inode {
            let Some(parent) = self.inodes.get(&InodeId(id)).map(|i| i.parent) else {
                continue;
            };
            let group = self.inodes.get(&parent).map(|p| p.group.clone());
            if let Some(inode) = self.inodes.get_mut(&InodeId(id)) {
                inode.owner = owner.to_string();
                if let Some(group) = group {
                    inode.group = group;
                }
                inode.permission = Some(match inode.is_dir() {
                    true => dir_mode,
                    false => file_mode,
                });
            }
        }
    }

    /// x on every directory passed through to reach `path` (not `path` itself). A missing
    /// or non-directory component ends the walk: the call then reports that itself.
    pub fn check_traverse(&self, caller: &Caller, path: &FsPath) -> Result<(), Error> {
        self.walk_ancestors(caller, path).map(|_| ())
    }

    /// Traverse, then `access` on `path` itself when it exists.
    pub fn check_access(
        &self,
        caller: &Caller,
        path: &FsPath,
        access: Access,
    ) -> Result<(), Error> {
        self.check_traverse(caller, path)?;
        match self
            .lookup(path)
            .ok()
            .flatten()
            .and_then(|id| self.inodes.get(&id))
        {
            Some(inode) => check_inode(caller, inode, path, access),
            None => Ok(()),
        }
    }

    /// Traverse, then `access` on the deepest existing ancestor of `path` (its parent when it
    /// exists): what creating `path`, with any missing parents, needs.
    pub fn check_ancestor(
        &self,
        caller: &Caller,
        path: &FsPath,
        access: Access,
    ) -> Result<(), Error> {
        let Some((ancestor, ancestor_path)) = self.walk_ancestors(caller, path)? else {
            return Ok(());
        };
        match self.inodes.get(&ancestor) {
            Some(inode) => check_inode(caller, inode, &ancestor_path, access),
            None => Ok(()),
        }
    }

    /// What deleting or renaming away `path` needs: w+x on its parent, the sticky bit's rule,
    /// and, when `subtree` (a recursive delete), rwx on every non-empty directory below.
    pub fn check_remove(&self, caller: &Caller, path: &FsPath, subtree: bool) -> Result<(), Error> {
        let Some(parent_path) = path.parent() else {
            return Ok(());
        };
        self.check_access(caller, &parent_path, Access::WRITE_EXECUTE)?;
        if caller.superuser {
            return Ok(());
        }
        let (Some(parent), Some(id)) = (
            self.lookup(&parent_path).ok().flatten(),
            self.lookup(path).ok().flatten(),
        ) else {
            return Ok(());
        };
        let (Some(dir), Some(entry)) = (self.inodes.get(&parent), self.inodes.get(&id)) else {
            return Ok(());
        };
        if dir.permission().sticky() && caller.user != dir.owner && caller.user != entry.owner {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "Permission denied by sticky bit: user={}, path=\"{path}\":{}:{}:{}, \
                     parent=\"{parent_path}\":{}:{}:{}",
                    caller.user,
                    entry.owner,
                    entry.group,
                    mode_string(entry),
                    dir.owner,
                    dir.group,
                    mode_string(dir)
                ),
            ));
        }
        if subtree {
            self.check_subtree(caller, id, path)?;
        }
        Ok(())
    }

    /// The owner of `path`, or the superuser: what `chmod` and `chown` of a group need.
    pub fn check_owner(&self, caller: &Caller, path: &FsPath) -> Result<(), Error> {
        self.check_traverse(caller, path)?;
        let inode = self.inode_at(path)?;
        if caller.superuser || caller.user == inode.owner {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "Permission denied. user={} is not the owner of inode={path}",
                caller.user
            ),
        ))
    }

    /// Sets the mode of `path` (after [`Self::check_owner`]).
    pub fn set_permission(
        &mut self,
        path: &FsPath,
        permission: Permission,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        let id = self.lookup(path)?.ok_or_else(|| not_found(path))?;
        let inode = self.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        inode.permission = Some(permission);
        changes.written.push(id);
        Ok(())
    }

    /// Sets the owner and/or group of `path`: the owner only by the superuser; the group by
    /// the superuser, or by the owner to one of its own groups.
    pub fn set_owner(
        &mut self,
        caller: &Caller,
        path: &FsPath,
        owner: Option<&str>,
        group: Option<&str>,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        self.check_owner(caller, path)?;
        let inode = self.inode_at(path)?;
        if !caller.superuser {
            if owner.is_some_and(|o| o != inode.owner) {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "Permission denied: user={} is not the superuser, so cannot change the \
                         owner of {path}",
                        caller.user
                    ),
                ));
            }
            if let Some(group) = group.filter(|g| !caller.in_group(g)) {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "Permission denied: user={} does not belong to {group}",
                        caller.user
                    ),
                ));
            }
        }
        let id = inode.id;
        let inode = self.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        if let Some(owner) = owner {
            inode.owner = owner.to_string();
        }
        if let Some(group) = group {
            inode.group = group.to_string();
        }
        changes.written.push(id);
        Ok(())
    }

    /// Records a read of `path` when its access time is older than `precision_ms` (0: never),
    /// as HDFS.
    pub fn touch_access(
        &mut self,
        path: &FsPath,
        precision_ms: u64,
        now_ms: u64,
        changes: &mut Changes,
    ) -> Result<(), Error> {
        if precision_ms == 0 {
            return Ok(());
        }
        let id = self.lookup(path)?.ok_or_else(|| not_found(path))?;
        if let Some(inode) = self.inodes.get_mut(&id) {
            if now_ms >= inode.accessed_ms.saturating_add(precision_ms) {
                inode.accessed_ms = now_ms;
                changes.written.push(id);
            }
        }
        Ok(())
    }

    /// Whether a read now would move `path`'s access time (so the read must be journaled).
    pub fn access_is_stale(&self, path: &FsPath, precision_ms: u64, now_ms: u64) -> bool {
        precision_ms != 0
            && self
                .inode_at(path)
                .is_ok_and(|i| now_ms >= i.accessed_ms.saturating_add(precision_ms))
    }

    /// Walks `path`'s ancestors checking x on each directory passed through; returns the
    /// deepest existing directory above `path` and its path (`None` when a file is in the
    /// way: the call reports that itself).
    fn walk_ancestors(
        &self,
        caller: &Caller,
        path: &FsPath,
    ) -> Result<Option<(InodeId, FsPath)>, Error> {
        let names: Vec<&str> = path.components().collect();
        let mut current = ROOT_ID;
        let mut current_path = FsPath::root();
        for (depth, name) in names.iter().enumerate() {
            let Some(dir) = self.inodes.get(&current).filter(|i| i.is_dir()) else {
                return Ok(None);
            };
            check_inode(caller, dir, &current_path, Access::EXECUTE)?;
            match self.children.get(&current).and_then(|c| c.get(*name)) {
                Some(_) if depth + 1 == names.len() => break,
                Some(&next) => {
                    current = next;
                    current_path = current_path.join(name)?;
                }
                None => break,
            }
        }
        Ok(Some((current, current_path)))
    }

    /// rwx on every non-empty directory at or below `id`, as HDFS's recursive delete.
    fn check_subtree(&self, caller: &Caller, id: InodeId, path: &FsPath) -> Result<(), Error> {
        let mut pending = vec![(id, path.clone())];
        while let Some((next, next_path)) = pending.pop() {
            let Some(children) = self.children.get(&next).filter(|c| !c.is_empty()) else {
                continue;
            };
            if let Some(inode) = self.inodes.get(&next) {
                check_inode(caller, inode, &next_path, Access::ALL)?;
            }
            for (name, &child) in children {
                if self.children.contains_key(&child) {
                    pending.push((child, next_path.join(name)?));
                }
            }
        }
        Ok(())
    }
}

/// `access` on one inode: the owner's bits if the caller owns it, else the group's if it is
/// in its group, else the others' (as POSIX and HDFS: no fall-through to a wider class).
fn check_inode(caller: &Caller, inode: &Inode, path: &FsPath, access: Access) -> Result<(), Error> {
    if caller.superuser {
        return Ok(());
    }
    let permission = inode.permission();
    let shift = if caller.user == inode.owner {
        6
    } else if caller.in_group(&inode.group) {
        3
    } else {
        0
    };
    if permission.class(shift).0 & access.0 == access.0 {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "Permission denied: user={}, access={}, inode=\"{path}\":{}:{}:{}",
            caller.user,
            access.name(),
            inode.owner,
            inode.group,
            mode_string(inode)
        ),
    ))
}

/// `drwxr-xr-x`, as HDFS's messages and `ls` show a mode.
pub fn mode_string(inode: &Inode) -> String {
    let kind = if inode.is_dir() { 'd' } else { '-' };
    format!("{kind}{}", inode.permission().symbolic())
}
