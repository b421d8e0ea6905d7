//! The trash, as HDFS's `TrashPolicyDefault` has it: what `fs rm` deletes is moved to
//! `/user/<user>/.Trash/Current/<original path>`; a *checkpoint* renames `Current` to the time
//! it was made (`yyMMddHHmmss`), and checkpoints older than the namenode's `trash_interval` are
//! deleted, by `fs expunge` or by the namenode's emptier.
//!
//! A policy of the CLI, as in Hadoop (where `FileSystem.delete` is permanent and `FsShell`
//! moves to the trash): [`crate::Granary::delete`] never uses it, and neither do jobs. The
//! operations run over a [`TrashNamespace`]: the client library for the CLI, the namesystem
//! itself for the namenode's emptier.

pub mod names;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::Granary;
use crate::path::FsPath;
use crate::protocol::{FileKind, FileStatus};
pub use names::{checkpoint_expired, checkpoint_name, checkpoint_time_ms, trash_root};

/// Most tries to find a free name (a clash suffix, a checkpoint's `-N`), as HDFS.
const MAX_NAME_ATTEMPTS: u32 = 1000;

pub type TrashFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The namespace calls the trash needs.
pub trait TrashNamespace: Send + Sync {
    /// `None` when nothing is at `path`.
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, Option<FileStatus>>;
    /// Every child of the directory `dir` (a trash root holds few: its checkpoints).
    fn children<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, Vec<FileStatus>>;
    /// Creates `dir` and its missing parents.
    fn mkdirs<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, ()>;
    /// Renames `src` to `dst`, which must not exist (`already_exists` otherwise).
    fn rename<'a>(&'a self, src: &'a FsPath, dst: &'a FsPath) -> TrashFuture<'a, ()>;
    /// Deletes `path` and everything below it, for real.
    fn delete_all<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, ()>;
}

impl TrashNamespace for Granary {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, Option<FileStatus>> {
        Box::pin(Granary::try_stat(self, path))
    }

    fn children<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, Vec<FileStatus>> {
        Box::pin(self.list(dir, false))
    }

    fn mkdirs<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, ()> {
        Box::pin(async move { self.mkdir(dir, true).await.map(drop) })
    }

    fn rename<'a>(&'a self, src: &'a FsPath, dst: &'a FsPath) -> TrashFuture<'a, ()> {
        Box::pin(async move { Granary::rename(self, src, dst).await.map(drop) })
    }

    fn delete_all<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, ()> {
        Box::pin(async move { self.delete(path, true).await.map(drop) })
    }
}

/// What an expunge (or one pass of the emptier) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Expunged {
    /// The checkpoint `Current` became, if there was anything in it.
    pub created: Option<FsPath>,
    /// The checkpoints deleted.
    pub deleted: Vec<FsPath>,
}

/// One user's trash.
pub struct Trash<'a, N: TrashNamespace + ?Sized> {
    ns: &'a N,
    root: FsPath,
    current: FsPath,
    interval: Duration,
}

impl<'a, N: TrashNamespace + ?Sized> Trash<'a, N> {
    /// The trash at `root` (`/user/<user>/.Trash`), keeping things for `interval`
    /// (0: the trash is off, [`Trash::move_to_trash`] moves nothing).
    pub fn new(ns: &'a N, root: FsPath, interval: Duration) -> Result<Self> {
        let current = root.join(names::CURRENT)?;
        Ok(Trash {
            ns,
            root,
            current,
            interval,
        })
    }

    pub fn root(&self) -> &FsPath {
        &self.root
    }

    pub fn is_enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// True when `path` is inside this trash (deleting it there is for real).
    pub fn contains(&self, path: &FsPath) -> bool {
        path.starts_with(&self.root)
    }

    /// Moves `path` to `Current` under its original path and answers where it went, with a
    /// suffix when that name is taken; `None` when the trash is off or `path` is already in
    /// the trash: the caller deletes it. A path that contains the trash is refused.
    pub async fn move_to_trash(&self, path: &FsPath) -> Result<Option<FsPath>> {
        if !self.is_enabled() || self.contains(path) {
            return Ok(None);
        }
        if self.root.starts_with(path) {
            return Err(Error::invalid_argument(format!(
                "cannot move {path} to the trash, as it contains the trash; use -skipTrash to \
                 delete it"
            )));
        }
        let wanted = names::path_in_current(&self.current, path)?;
        let mut target = self.make_parent(wanted).await?;
        let original = target.clone();
        let last = original.components().count().saturating_sub(1);
        for _ in 0..MAX_NAME_ATTEMPTS {
            if self.ns.try_stat(&target).await?.is_none() {
                match self.ns.rename(path, &target).await {
                    Ok(()) => return Ok(Some(target)),
                    Err(e) if e.kind == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            target = names::with_suffix(&original, last, &names::now_ms().to_string())?;
        }
        Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("no free name in the trash for {path} near {original}"),
        ))
    }

    /// Creates the directory `target` goes in. Where a file has the name one of its
    /// directories needs (a file deleted earlier under that name), that directory gets the
    /// name plus the time, as HDFS; answers `target` with that change. A file at `Current` or
    /// above it is refused: renaming around it (as HDFS does) would put `target` outside the
    /// trash, where no expunge ever deletes it.
    async fn make_parent(&self, target: FsPath) -> Result<FsPath> {
        let parent = target.parent().unwrap_or_else(FsPath::root);
        match self.ns.mkdirs(&parent).await {
            Ok(()) => return Ok(target),
            Err(e) if matches!(e.kind, ErrorKind::AlreadyExists | ErrorKind::NotADirectory) => {}
            Err(e) => return Err(e),
        }
        let mut at = FsPath::root();
        for (index, name) in parent.components().enumerate() {
            at = at.join(name)?;
            if let Some(status) = self.ns.try_stat(&at).await? {
                if status.kind == FileKind::File && self.current.starts_with(&at) {
                    return Err(Error::new(
                        ErrorKind::NotADirectory,
                        format!(
                            "cannot move to the trash: {at} is a file, where the trash {} needs \
                             a directory; remove or rename it, or use -skipTrash",
                            self.root
                        ),
                    ));
                }
                if status.kind == FileKind::File {
                    let suffix = names::now_ms().to_string();
                    let moved = names::with_suffix(&target, index, &suffix)?;
                    self.ns
                        .mkdirs(&moved.parent().unwrap_or_else(FsPath::root))
                        .await?;
                    return Ok(moved);
                }
            }
        }
        Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("cannot create {parent} in the trash"),
        ))
    }

    /// `fs expunge`, as HDFS: deletes the checkpoints older than the interval, then
    /// checkpoints `Current`.
    pub async fn expunge(&self, now_ms: u64) -> Result<Expunged> {
        let deleted = self.delete_checkpoints(now_ms, false).await?;
        let created = self.checkpoint(now_ms).await?;
        Ok(Expunged { created, deleted })
    }

    /// `fs expunge -immediate`: checkpoints `Current`, then deletes every checkpoint.
    pub async fn expunge_immediately(&self, now_ms: u64) -> Result<Expunged> {
        let created = self.checkpoint(now_ms).await?;
        let deleted = self.delete_checkpoints(now_ms, true).await?;
        Ok(Expunged { created, deleted })
    }

    /// Renames `Current` to the checkpoint named for `now_ms` (`-1`, `-2`, ... when taken).
    /// `None` when there is no `Current`.
    pub async fn checkpoint(&self, now_ms: u64) -> Result<Option<FsPath>> {
        if self.ns.try_stat(&self.current).await?.is_none() {
            return Ok(None);
        }
        let base = names::checkpoint_name(now_ms);
        for attempt in 0..MAX_NAME_ATTEMPTS {
            let checkpoint = self.root.join(&names::checkpoint_attempt(&base, attempt))?;
            match self.ns.rename(&self.current, &checkpoint).await {
                Ok(()) => return Ok(Some(checkpoint)),
                Err(e) if e.kind == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "failed to checkpoint the trash {}: every name taken",
                self.root
            ),
        ))
    }

    /// Deletes the checkpoints older than the interval at `now_ms` (every checkpoint with
    /// `all`); anything in the trash root that is not a checkpoint is left alone.
    pub async fn delete_checkpoints(&self, now_ms: u64, all: bool) -> Result<Vec<FsPath>> {
        match self.ns.try_stat(&self.root).await? {
            Some(status) if status.kind == FileKind::Directory => {}
            _ => return Ok(Vec::new()),
        }
        let mut deleted = Vec::new();
        for entry in self.ns.children(&self.root).await? {
            let Some(name) = entry.path.file_name() else {
                continue;
            };
            let expired = match all {
                true => names::checkpoint_time_ms(name).is_some(),
                false => checkpoint_expired(name, now_ms, self.interval),
            };
            if entry.kind == FileKind::Directory && expired {
                match self.ns.delete_all(&entry.path).await {
                    Ok(()) => deleted.push(entry.path),
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(deleted)
    }
}
