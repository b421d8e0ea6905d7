//! What the tracker needs of the namespace it runs next to, and what the namespace tells it.
//!
//! The namenode implements [`TrackerNamespace`] over its namesystem, in process: the tracker
//! never calls its own namenode over HTTP for a namespace change. Planning reads (stat, paged
//! listings, locate, and the bytes of the `sort` sample), commits rename, cleanups delete, and
//! `_SUCCESS` is an empty file created in one call. Tests put a fake behind the same trait.
//!
//! Facts the tracker must act on at once arrive as [`NamespaceEvent`]s on a channel rather than
//! by polling: a datanode declared dead (its executor is gone with it) and the namespace
//! leaving safe mode (output work refused meanwhile can be retried now).

use std::net::SocketAddr;

use futures_util::future::BoxFuture;
use granary_client::protocol::{FileStatus, LocatedFile};
use granary_client::{DatanodeId, Error, FsPath};

/// A namespace call's future.
pub type NsFuture<'a, T> = BoxFuture<'a, Result<T, Error>>;

/// Most entries the tracker asks for in one listing page.
pub const LIST_PAGE: usize = 1000;

/// One page of a directory's entries, in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    pub entries: Vec<FileStatus>,
    /// The name to list after for the next page; `None` when the listing is complete. It need
    /// not be the last entry's name: a namespace may skip names it does not show (files still
    /// being written), so a page can even be empty with more to come.
    pub next_start_after: Option<String>,
}

pub trait TrackerNamespace: Send + Sync + 'static {
    /// The status of `path`; `None` if nothing is there.
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, Option<FileStatus>>;

    /// Up to `limit` entries of directory `dir` (not recursive) whose names sort after
    /// `start_after` (from the start when `None`). A file is `NotADirectory`.
    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
        limit: usize,
    ) -> NsFuture<'a, ListPage>;

    /// A complete file's blocks and the datanodes holding each.
    fn locate<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, LocatedFile>;

    /// The verified bytes of `[offset, offset + len)` of a file, clamped to its end. The
    /// tracker reads small pieces only (the `sort` sample).
    fn read_range<'a>(&'a self, path: &'a FsPath, offset: u64, len: u64) -> NsFuture<'a, Vec<u8>>;

    /// Creates a directory and any missing parents; an existing directory is success.
    fn mkdirs<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, ()>;

    /// Renames `from` to `to` (which must not exist).
    fn rename<'a>(&'a self, from: &'a FsPath, to: &'a FsPath) -> NsFuture<'a, ()>;

    /// Deletes `path` (a directory with everything below it when `recursive`).
    fn delete<'a>(&'a self, path: &'a FsPath, recursive: bool) -> NsFuture<'a, ()>;

    /// Creates an empty, complete file at `path`, replacing a file already there.
    fn create_empty<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, ()>;

    /// Makes `user` the owner of a finished job's output directory and every entry in it
    /// (the tasks wrote them as the namespace's own user). A namespace without owners (the
    /// tests' fakes) does nothing.
    fn give_output<'a>(&'a self, output: &'a FsPath, user: &'a str) -> NsFuture<'a, ()> {
        let _ = (output, user);
        Box::pin(async { Ok(()) })
    }

    /// Refuses (`permission_denied`) a job whose submitter `user` may not read each of the
    /// `inputs` (the files the plan found) or create `output` (w+x on its deepest existing
    /// ancestor). A namespace without permissions (the tests' fakes) allows everything.
    fn check_submitter<'a>(
        &'a self,
        user: &'a str,
        inputs: Vec<FsPath>,
        output: &'a FsPath,
    ) -> NsFuture<'a, ()> {
        let _ = (user, inputs, output);
        Box::pin(async { Ok(()) })
    }

    /// Where a live registered datanode serves (and so its executor's shuffle server), as the
    /// namespace learned it at registration; `None` if no such datanode is alive. An
    /// executor's poll is not trusted with its own address.
    fn datanode_addr(&self, datanode: &DatanodeId) -> Option<SocketAddr>;
}

/// A fact of the namespace the tracker acts on at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceEvent {
    /// The namenode declared this datanode dead (lifeline broken, or heartbeats missed).
    DatanodeDead(DatanodeId),
    /// The namespace left safe mode: it accepts changes again.
    SafeModeLeft,
}
