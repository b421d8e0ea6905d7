//! An in-memory namespace behind [`TrackerNamespace`], for driving the whole tracker without a
//! namenode. Listings are cut into pages of at most `page_cap` entries, so callers must page.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures_util::FutureExt;
use granary_client::protocol::{DatanodeInfo, FileKind, FileStatus, LocatedBlock, LocatedFile};
use granary_client::{BlockId, DatanodeId, Digest, Error, ErrorKind, FsPath};

use crate::tracker::namespace::{ListPage, NsFuture, TrackerNamespace};

pub struct FakeNamespace {
    /// Every entry but the root; directories hold no bytes.
    entries: Mutex<BTreeMap<FsPath, (FileKind, Vec<u8>)>>,
    page_cap: usize,
    /// Refuses every change, as a namenode in safe mode does.
    safe_mode: AtomicBool,
}

/// The one datanode the fake knows, and where it registered.
pub const DATANODE: &str = "dn-1";
pub const DATANODE_ADDR: &str = "127.0.0.1:1";

impl FakeNamespace {
    pub fn new(page_cap: usize) -> Self {
        FakeNamespace {
            entries: Mutex::default(),
            page_cap,
            safe_mode: AtomicBool::new(false),
        }
    }

    pub fn set_safe_mode(&self, on: bool) {
        self.safe_mode.store(on, Ordering::Release);
    }

    /// The error of a change refused in safe mode.
    fn refused(&self) -> Option<Error> {
        self.safe_mode
            .load(Ordering::Acquire)
            .then(|| Error::new(ErrorKind::SafeMode, "the namespace is in safe mode"))
    }

    /// Writes a file, creating its parents.
    pub fn put(&self, path: &str, data: &[u8]) {
        let path = FsPath::parse(path).unwrap();
        let mut entries = self.lock();
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|p| !p.is_root()) {
            parent = dir.parent();
            entries.insert(dir, (FileKind::Directory, Vec::new()));
        }
        entries.insert(path, (FileKind::File, data.to_vec()));
    }

    /// Every path, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.lock().keys().map(|p| p.to_string()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<FsPath, (FileKind, Vec<u8>)>> {
        granary_client::sync::lock(&self.entries, "fake namespace")
    }

    fn status(path: &FsPath, kind: FileKind, data: &[u8]) -> FileStatus {
        let file = kind == FileKind::File;
        FileStatus {
            lease_holder: None,
            attrs: Default::default(),
            path: path.clone(),
            kind,
            length: data.len() as u64,
            replication: if file { 1 } else { 0 },
            block_size: if file { 1 << 20 } else { 0 },
            modified_ms: 0,
        }
    }

    fn stat_now(&self, path: &FsPath) -> Option<FileStatus> {
        if path.is_root() {
            return Some(Self::status(path, FileKind::Directory, &[]));
        }
        let entries = self.lock();
        let (kind, data) = entries.get(path)?;
        Some(Self::status(path, *kind, data))
    }

    fn is_dir(&self, path: &FsPath) -> bool {
        self.stat_now(path)
            .is_some_and(|s| s.kind == FileKind::Directory)
    }

    fn not_found(path: &FsPath) -> Error {
        Error::not_found(format!("no such file or directory: {path}"))
    }
}

fn ready<'a, T: Send + 'a>(result: Result<T, Error>) -> NsFuture<'a, T> {
    std::future::ready(result).boxed()
}

impl TrackerNamespace for FakeNamespace {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, Option<FileStatus>> {
        ready(Ok(self.stat_now(path)))
    }

    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
        limit: usize,
    ) -> NsFuture<'a, ListPage> {
        if !self.is_dir(dir) {
            if self.stat_now(dir).is_some() {
                let message = format!("{dir} is a file, not a directory");
                return ready(Err(Error::new(ErrorKind::NotADirectory, message)));
            }
            return ready(Err(Self::not_found(dir)));
        }
        let entries = self.lock();
        let mut children = entries
            .iter()
            .filter(|(p, _)| p.parent().as_ref() == Some(dir))
            .filter(|(p, _)| start_after.is_none_or(|after| p.file_name() > Some(after)))
            .map(|(p, (kind, data))| Self::status(p, *kind, data));
        let entries: Vec<FileStatus> = children.by_ref().take(limit.min(self.page_cap)).collect();
        let next_start_after = match children.next() {
            Some(_) => entries
                .last()
                .and_then(|e| e.path.file_name())
                .map(str::to_string),
            None => None,
        };
        ready(Ok(ListPage {
            entries,
            next_start_after,
        }))
    }

    fn locate<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, LocatedFile> {
        let entries = self.lock();
        let Some((FileKind::File, data)) = entries.get(path) else {
            return ready(Err(Self::not_found(path)));
        };
        let status = Self::status(path, FileKind::File, data);
        let block = LocatedBlock {
            generation: Default::default(),
            id: BlockId(path.as_str().len() as u64),
            offset: 0,
            length: data.len() as u64,
            sha256: Digest::of(data),
            locations: vec![DatanodeInfo {
                id: DatanodeId(DATANODE.into()),
                addr: DATANODE_ADDR.parse().unwrap(),
                rack: "/default-rack".into(),
            }],
        };
        let blocks = if data.is_empty() {
            Vec::new()
        } else {
            vec![block]
        };
        ready(Ok(LocatedFile { status, blocks }))
    }

    fn read_range<'a>(&'a self, path: &'a FsPath, offset: u64, len: u64) -> NsFuture<'a, Vec<u8>> {
        let entries = self.lock();
        let Some((FileKind::File, data)) = entries.get(path) else {
            return ready(Err(Self::not_found(path)));
        };
        let start = (offset as usize).min(data.len());
        let end = (offset.saturating_add(len) as usize).min(data.len());
        ready(Ok(data[start..end].to_vec()))
    }

    fn mkdirs<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, ()> {
        if let Some(e) = self.refused() {
            return ready(Err(e));
        }
        let mut entries = self.lock();
        let mut dir = Some(path.clone());
        while let Some(current) = dir.filter(|p| !p.is_root()) {
            dir = current.parent();
            if let Some((FileKind::File, _)) = entries.get(&current) {
                let message = format!("{current} is a file");
                return ready(Err(Error::new(ErrorKind::AlreadyExists, message)));
            }
            entries.insert(current, (FileKind::Directory, Vec::new()));
        }
        ready(Ok(()))
    }

    fn rename<'a>(&'a self, from: &'a FsPath, to: &'a FsPath) -> NsFuture<'a, ()> {
        if let Some(e) = self.refused() {
            return ready(Err(e));
        }
        if self.stat_now(from).is_none() {
            return ready(Err(Self::not_found(from)));
        }
        if self.stat_now(to).is_some() {
            let message = format!("{to} already exists");
            return ready(Err(Error::new(ErrorKind::AlreadyExists, message)));
        }
        if !to.parent().is_some_and(|p| self.is_dir(&p)) {
            return ready(Err(Self::not_found(to)));
        }
        let mut entries = self.lock();
        let moved: Vec<FsPath> = entries
            .keys()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in moved {
            let rest = &old.as_str()[from.as_str().len()..];
            let new = FsPath::parse(&format!("{to}{rest}")).unwrap();
            if let Some(entry) = entries.remove(&old) {
                entries.insert(new, entry);
            }
        }
        ready(Ok(()))
    }

    fn delete<'a>(&'a self, path: &'a FsPath, recursive: bool) -> NsFuture<'a, ()> {
        if let Some(e) = self.refused() {
            return ready(Err(e));
        }
        if self.stat_now(path).is_none() || path.is_root() {
            return ready(Err(Self::not_found(path)));
        }
        let mut entries = self.lock();
        let below: Vec<FsPath> = entries
            .keys()
            .filter(|p| p.starts_with(path))
            .cloned()
            .collect();
        if below.len() > 1 && !recursive {
            let message = format!("{path} is not empty");
            return ready(Err(Error::new(ErrorKind::DirectoryNotEmpty, message)));
        }
        for p in below {
            entries.remove(&p);
        }
        ready(Ok(()))
    }

    fn create_empty<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, ()> {
        if let Some(e) = self.refused() {
            return ready(Err(e));
        }
        if !path.parent().is_some_and(|p| self.is_dir(&p)) {
            return ready(Err(Self::not_found(path)));
        }
        if self.is_dir(path) {
            let message = format!("{path} is a directory");
            return ready(Err(Error::new(ErrorKind::IsADirectory, message)));
        }
        self.lock()
            .insert(path.clone(), (FileKind::File, Vec::new()));
        ready(Ok(()))
    }

    fn datanode_addr(&self, datanode: &DatanodeId) -> Option<SocketAddr> {
        (datanode.0 == DATANODE).then(|| DATANODE_ADDR.parse().unwrap())
    }
}
