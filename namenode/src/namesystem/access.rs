//! The permission side of client calls: the reads' checks (stat, list, read), access times,
//! `set_permission` and `set_owner`, and the mode of new entries. The checks themselves are
//! `namespace::access`; the mutations' own checks sit in their calls (`client`, `writers`).

use granary_client::protocol::{FileStatus, SetOwnerRequest, SetPermissionRequest};
use granary_client::{Access, Error, FsPath, Permission};

use super::Namesystem;
use crate::namespace::{Caller, ListPage};
use crate::retry_cache::Op;

impl Namesystem {
    /// [`Self::stat`] for `caller`: x on every ancestor.
    pub fn stat_as(&self, caller: &Caller, path: &FsPath) -> Result<FileStatus, Error> {
        let state = self.lock();
        state.ns.check_traverse(caller, path)?;
        state.ns.stat(path)
    }

    /// [`Self::list`] for `caller`: r+x on a directory listed (a file: traverse only).
    pub fn list_as(
        &self,
        caller: &Caller,
        path: &FsPath,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListPage, Error> {
        let limit = limit.map_or(self.config.ls_limit, |l| l.clamp(1, self.config.ls_limit));
        let state = self.lock();
        match state.ns.inode_at(path).map(|i| i.is_dir()) {
            Ok(true) => state.ns.check_access(caller, path, Access::READ_EXECUTE)?,
            _ => state.ns.check_traverse(caller, path)?,
        }
        state.ns.list_page(path, start_after, limit)
    }

    /// What creating `path` (and any missing parents) needs: w+x on its deepest existing
    /// ancestor.
    pub fn check_create(&self, caller: &Caller, path: &FsPath) -> Result<(), Error> {
        self.lock()
            .ns
            .check_ancestor(caller, path, Access::WRITE_EXECUTE)
    }

    /// What reading `path` needs (open, locate, content summary): r on it.
    pub fn check_read(&self, caller: &Caller, path: &FsPath) -> Result<(), Error> {
        self.lock().ns.check_access(caller, path, Access::READ)
    }

    /// Records a read of `path` in its access time, at most once per
    /// `access_time_precision` (a journaled change, so skipped in safe mode).
    pub async fn record_access(&self, path: &FsPath) {
        let precision =
            u64::try_from(self.config.access_time_precision.as_millis()).unwrap_or(u64::MAX);
        if !self
            .lock()
            .ns
            .access_is_stale(path, precision, super::now_ms())
        {
            return;
        }
        let touched = self
            .mutate(None, |state, changes, now| {
                state.ns.touch_access(path, precision, now, changes)
            })
            .await;
        if let Err(e) = touched {
            tracing::debug!(%path, "access time not recorded: {}", e.message);
        }
    }

    /// Sets the mode of `path` (HDFS's `setPermission`): its owner or the superuser.
    pub async fn set_permission_as(
        &self,
        caller: &Caller,
        req: SetPermissionRequest,
    ) -> Result<FileStatus, Error> {
        self.mutate(
            Some((Op::SetAttributes, &req.request_id)),
            |state, changes, _now| {
                state.ns.check_owner(caller, &req.path)?;
                state
                    .ns
                    .set_permission(&req.path, req.permission, changes)?;
                state.ns.stat(&req.path)
            },
        )
        .await
    }

    /// Sets the owner and/or group of `path` (HDFS's `setOwner`).
    pub async fn set_owner_as(
        &self,
        caller: &Caller,
        req: SetOwnerRequest,
    ) -> Result<FileStatus, Error> {
        for (what, name) in [("user", &req.owner), ("group", &req.group)] {
            if let Some(name) = name {
                granary_client::permission::validate_name(what, name)?;
            }
        }
        if req.owner.is_none() && req.group.is_none() {
            return Err(Error::invalid_argument(
                "set_owner needs an owner, a group or both",
            ));
        }
        self.mutate(
            Some((Op::SetAttributes, &req.request_id)),
            |state, changes, _now| {
                state.ns.set_owner(
                    caller,
                    &req.path,
                    req.owner.as_deref(),
                    req.group.as_deref(),
                    changes,
                )?;
                state.ns.stat(&req.path)
            },
        )
        .await
    }

    /// A new entry's mode: the request's or HDFS's default, less the umask.
    pub(super) fn new_mode(&self, asked: Option<Permission>, default: Permission) -> Permission {
        asked
            .unwrap_or(default)
            .masked(self.config.umask_bits().unwrap_or(0o022))
    }

    /// One page of a listing (see `Namespace::list_page`): at most `limit` entries, never
    /// more than `ls_limit`. Callers walking a subtree page through directories one call at
    /// a time, so the lock is never held for a whole subtree.
    pub fn list(
        &self,
        path: &FsPath,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListPage, Error> {
        let limit = limit.map_or(self.config.ls_limit, |l| l.clamp(1, self.config.ls_limit));
        self.lock().ns.list_page(path, start_after, limit)
    }
}
