//! Namespace semantics, in memory.

use granary_client::protocol::{CommittedBlock, FileKind, FileStatus};
use granary_client::{BlockId, Digest, Error, ErrorKind, FsPath, Generation, InodeId, LeaseHolder};

use super::{Changes, FileParams, Namespace};

const BS: u64 = 1 << 20;

fn p(path: &str) -> FsPath {
    FsPath::parse(path).unwrap()
}

impl Namespace {
    /// A directory's children (every descendant when `recursive`), sorted by path, read
    /// through `list_page` in small pages, as clients do.
    pub(crate) fn list(&self, path: &FsPath, recursive: bool) -> Result<Vec<FileStatus>, Error> {
        let mut entries = Vec::new();
        let mut dirs = vec![path.clone()];
        while let Some(dir) = dirs.pop() {
            let mut cursor: Option<String> = None;
            loop {
                let page = self.list_page(&dir, cursor.as_deref(), 3)?;
                for entry in page.entries {
                    if recursive && entry.kind == FileKind::Directory {
                        dirs.push(entry.path.clone());
                    }
                    entries.push(entry);
                }
                match page.next_start_after {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }
}

/// The writer every test file is leased to.
fn w() -> LeaseHolder {
    "test-writer".parse().unwrap()
}

fn params() -> FileParams {
    FileParams {
        replication: 3,
        block_size: BS,
        complete: false,
    }
}

fn kind<T: std::fmt::Debug>(result: Result<T, granary_client::Error>) -> ErrorKind {
    result.unwrap_err().kind
}

fn committed(id: BlockId, length: u64) -> CommittedBlock {
    CommittedBlock {
        generation: Generation(1),
        id,
        length,
        sha256: Digest::of(&id.0.to_be_bytes()),
        persisted_on: Vec::new(),
    }
}

/// Creates and completes an empty file.
fn touch_file(ns: &mut Namespace, path: &str) -> InodeId {
    let mut changes = Changes::default();
    let id = ns
        .create(&p(path), params(), &w(), false, false, 1, &mut changes)
        .unwrap();
    ns.complete(&p(path), id, &w(), &[], 2, &mut changes)
        .unwrap();
    id
}

fn mkdirs(ns: &mut Namespace, path: &str) {
    ns.mkdir(&p(path), true, 1, &mut Changes::default())
        .unwrap();
}

#[test]
fn create_checks_parent_and_existing_entries() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    assert_eq!(
        kind(ns.create(&p("/a/f"), params(), &w(), false, false, 1, c)),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(ns.create(&p("/"), params(), &w(), false, false, 1, c)),
        ErrorKind::InvalidArgument
    );
    mkdirs(&mut ns, "/a");
    touch_file(&mut ns, "/a/f");
    assert_eq!(
        kind(ns.create(&p("/a/f/g"), params(), &w(), false, true, 1, c)),
        ErrorKind::NotADirectory
    );
    assert_eq!(
        kind(ns.create(&p("/a"), params(), &w(), true, false, 1, c)),
        ErrorKind::IsADirectory
    );
    assert_eq!(
        kind(ns.create(&p("/a/f"), params(), &w(), false, false, 1, c)),
        ErrorKind::AlreadyExists
    );

    let uc = ns
        .create(&p("/a/uc"), params(), &w(), false, false, 1, c)
        .unwrap();
    let other: LeaseHolder = "other-writer".parse().unwrap();
    assert_eq!(
        kind(ns.create(&p("/a/uc"), params(), &other, true, false, 1, c)),
        ErrorKind::LeaseHeld
    );
    assert!(ns.writable_file(&p("/a/uc"), uc, &w()).is_ok());
    assert_eq!(
        kind(ns.writable_file(&p("/a/uc"), uc, &other)),
        ErrorKind::LeaseExpired,
        "only the holder writes"
    );
    assert_eq!(
        kind(ns.create(&p("/a/uc"), params(), &w(), false, false, 1, c)),
        ErrorKind::AlreadyExists,
        "the holder itself overwrites only when asked"
    );
    let again = ns
        .create(&p("/a/uc"), params(), &w(), true, false, 1, c)
        .unwrap();
    assert_ne!(again, uc, "the holder may overwrite its own open file");

    let deep = ns
        .create(&p("/x/y/z"), params(), &w(), false, true, 1, c)
        .unwrap();
    assert!(ns.lookup(&p("/x/y")).unwrap().is_some());
    assert_eq!(ns.lookup(&p("/x/y/z")).unwrap(), Some(deep));
}

#[test]
fn overwrite_replaces_the_file_and_drops_its_blocks() {
    let mut ns = Namespace::new(0);
    let mut c = Changes::default();
    let old = ns
        .create(&p("/f"), params(), &w(), false, false, 1, &mut c)
        .unwrap();
    let b = ns.add_block(&p("/f"), old, &w(), None, &mut c).unwrap().0;
    ns.complete(&p("/f"), old, &w(), &[committed(b, 10)], 2, &mut c)
        .unwrap();

    let mut c = Changes::default();
    let new = ns
        .create(&p("/f"), params(), &w(), true, false, 3, &mut c)
        .unwrap();
    assert_ne!(new, old);
    assert_eq!(c.removed, vec![old]);
    assert_eq!(c.dropped_blocks, vec![b]);
    assert!(ns.get(old).is_none());
}

#[test]
fn open_files_are_visible_with_their_holder_and_committed_length() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    mkdirs(&mut ns, "/d");
    let id = ns
        .create(&p("/d/f"), params(), &w(), false, false, 1, c)
        .unwrap();
    let open = ns.stat(&p("/d/f")).unwrap();
    assert_eq!((open.lease_holder, open.length), (Some(w()), 0));
    assert_eq!(ns.list(&p("/d"), false).unwrap().len(), 1);
    assert_eq!(ns.counts(), (1, 2));
    let (b1, generation) = ns.add_block(&p("/d/f"), id, &w(), None, c).unwrap();
    assert_eq!(
        generation,
        Generation(1),
        "a new block is written at generation 1"
    );
    let first = committed(b1, BS);
    let (b2, _) = ns.add_block(&p("/d/f"), id, &w(), Some(&first), c).unwrap();
    assert_eq!(
        ns.stat(&p("/d/f")).unwrap().length,
        BS,
        "the previous block is committed"
    );

    let status = ns
        .complete(&p("/d/f"), id, &w(), &[first, committed(b2, 5)], 5, c)
        .unwrap();
    assert_eq!((status.length, &status.lease_holder), (BS + 5, &None));
    assert_eq!(status.modified_ms, 5);
    assert_eq!(ns.stat(&p("/d/f")).unwrap(), status);
    assert_eq!(ns.list(&p("/d/f"), false).unwrap(), vec![status]);
}

#[test]
fn mkdir_semantics() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    assert_eq!(kind(ns.mkdir(&p("/a/b"), false, 1, c)), ErrorKind::NotFound);
    ns.mkdir(&p("/a/b"), true, 1, c).unwrap();
    assert_eq!(
        ns.mkdir(&p("/a/b"), true, 1, c).unwrap().kind,
        FileKind::Directory
    );
    assert_eq!(
        kind(ns.mkdir(&p("/a/b"), false, 1, c)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(ns.mkdir(&p("/"), false, 1, c)),
        ErrorKind::AlreadyExists
    );
    assert!(ns.mkdir(&p("/"), true, 1, c).is_ok());
    touch_file(&mut ns, "/a/f");
    assert_eq!(
        kind(ns.mkdir(&p("/a/f"), true, 1, c)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(ns.mkdir(&p("/a/f/g"), true, 1, c)),
        ErrorKind::NotADirectory
    );
    assert_eq!(
        kind(ns.mkdir(&p("/a/f/g"), false, 1, c)),
        ErrorKind::NotADirectory
    );
}

#[test]
fn delete_semantics() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    assert_eq!(
        kind(ns.delete(&p("/"), true, 1, c)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(ns.delete(&p("/nope"), true, 1, c)),
        ErrorKind::NotFound
    );
    mkdirs(&mut ns, "/d/e");
    touch_file(&mut ns, "/d/e/f1");
    let f2 = ns
        .create(&p("/d/f2"), params(), &w(), false, false, 1, c)
        .unwrap();
    let b = ns.add_block(&p("/d/f2"), f2, &w(), None, c).unwrap().0;
    assert_eq!(
        kind(ns.delete(&p("/d"), false, 1, c)),
        ErrorKind::DirectoryNotEmpty
    );

    let mut c = Changes::default();
    let answer = ns.delete(&p("/d"), true, 9, &mut c).unwrap();
    assert_eq!((answer.files, answer.blocks), (2, 1));
    assert_eq!(c.dropped_blocks, vec![b]);
    assert_eq!(c.removed.len(), 4);
    assert!(ns.lookup(&p("/d")).unwrap().is_none());
    assert_eq!(ns.inodes().count(), 1);
    assert_eq!(ns.stat(&p("/")).unwrap().modified_ms, 9);
    mkdirs(&mut ns, "/empty");
    assert_eq!(ns.delete(&p("/empty"), false, 1, &mut c).unwrap().files, 0);
}

mod appends;
mod moves;
mod permissions;
