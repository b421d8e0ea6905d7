//! `Trash` over an in-memory namespace.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::*;

/// Paths and what they are; `/` is implicit.
#[derive(Default)]
struct FakeNs {
    entries: Mutex<BTreeMap<String, FileKind>>,
}

const DIR: FileKind = FileKind::Directory;
const FILE: FileKind = FileKind::File;

impl FakeNs {
    fn with(entries: &[(&str, FileKind)]) -> Self {
        let ns = FakeNs::default();
        for (path, kind) in entries {
            ns.add(path, *kind);
        }
        ns
    }

    /// Adds `path` and its missing parents.
    fn add(&self, path: &str, kind: FileKind) {
        let mut entries = self.entries.lock().unwrap();
        let mut parent = FsPath::parse(path).unwrap().parent();
        while let Some(dir) = parent.filter(|d| !d.is_root()) {
            entries.entry(dir.as_str().to_string()).or_insert(DIR);
            parent = dir.parent();
        }
        entries.insert(path.to_string(), kind);
    }

    fn kind(&self, path: &str) -> Option<FileKind> {
        match path {
            "/" => Some(DIR),
            _ => self.entries.lock().unwrap().get(path).copied(),
        }
    }

    fn below(entries: &BTreeMap<String, FileKind>, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        entries
            .keys()
            .filter(|p| *p == path || p.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

fn status(path: &str, kind: FileKind) -> FileStatus {
    FileStatus {
        path: FsPath::parse(path).unwrap(),
        kind,
        length: 0,
        replication: 1,
        block_size: 0,
        modified_ms: 0,
        lease_holder: None,
        attrs: Default::default(),
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T>) -> TrashFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl TrashNamespace for FakeNs {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, Option<FileStatus>> {
        ready(Ok(self
            .kind(path.as_str())
            .map(|k| status(path.as_str(), k))))
    }

    fn children<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, Vec<FileStatus>> {
        let entries = self.entries.lock().unwrap();
        let children = entries
            .iter()
            .filter(|(p, _)| FsPath::parse(p).unwrap().parent().as_ref() == Some(dir))
            .map(|(p, k)| status(p, *k))
            .collect();
        ready(Ok(children))
    }

    fn mkdirs<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, ()> {
        let mut at = FsPath::root();
        for name in dir.components() {
            at = at.join(name).unwrap();
            match self.kind(at.as_str()) {
                Some(FileKind::File) => {
                    return ready(Err(Error::new(
                        ErrorKind::NotADirectory,
                        format!("{at} is a file"),
                    )))
                }
                Some(FileKind::Directory) => {}
                None => self.add(at.as_str(), DIR),
            }
        }
        ready(Ok(()))
    }

    fn rename<'a>(&'a self, src: &'a FsPath, dst: &'a FsPath) -> TrashFuture<'a, ()> {
        if self.kind(dst.as_str()).is_some() {
            return ready(Err(Error::new(ErrorKind::AlreadyExists, "taken")));
        }
        if self.kind(dst.parent().unwrap().as_str()) != Some(DIR) {
            return ready(Err(Error::not_found("no parent")));
        }
        let mut entries = self.entries.lock().unwrap();
        let moved = Self::below(&entries, src.as_str());
        if moved.is_empty() {
            return ready(Err(Error::not_found("no source")));
        }
        for old in moved {
            let kind = entries.remove(&old).unwrap();
            let new = format!("{dst}{}", &old[src.as_str().len()..]);
            entries.insert(new, kind);
        }
        ready(Ok(()))
    }

    fn delete_all<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, ()> {
        let mut entries = self.entries.lock().unwrap();
        for gone in Self::below(&entries, path.as_str()) {
            entries.remove(&gone);
        }
        ready(Ok(()))
    }
}

fn p(raw: &str) -> FsPath {
    FsPath::parse(raw).unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

fn alices(ns: &FakeNs, interval: Duration) -> Trash<'_, FakeNs> {
    Trash::new(ns, trash_root("alice").unwrap(), interval).unwrap()
}

#[tokio::test]
async fn a_move_keeps_the_original_path_and_a_taken_name_gets_a_suffix() {
    let ns = FakeNs::with(&[("/d", DIR), ("/d/f", FILE)]);
    let trash = alices(&ns, HOUR);
    let at = trash.move_to_trash(&p("/d/f")).await.unwrap();
    assert_eq!(at, Some(p("/user/alice/.Trash/Current/d/f")));
    assert_eq!(ns.kind("/d/f"), None);
    ns.add("/d/f", FILE);
    let again = trash.move_to_trash(&p("/d/f")).await.unwrap().unwrap();
    let suffix = again
        .as_str()
        .strip_prefix("/user/alice/.Trash/Current/d/f")
        .unwrap();
    assert!(suffix.bytes().all(|b| b.is_ascii_digit()) && suffix.len() >= 13);
    assert_eq!(ns.kind("/user/alice/.Trash/Current/d/f"), Some(FILE));
}

#[tokio::test]
async fn a_file_where_the_trash_needs_a_directory_gets_the_directory_a_suffix() {
    let ns = FakeNs::with(&[("/d", FILE)]);
    let trash = alices(&ns, HOUR);
    trash.move_to_trash(&p("/d")).await.unwrap();
    ns.add("/d", DIR);
    ns.add("/d/g", FILE);
    let at = trash.move_to_trash(&p("/d/g")).await.unwrap().unwrap();
    let parent = at.parent().unwrap();
    let dir = parent.file_name().unwrap();
    assert!(dir.starts_with('d') && dir[1..].bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(at.file_name(), Some("g"));
    assert_eq!(ns.kind(at.as_str()), Some(FILE));
    assert_eq!(ns.kind("/user/alice/.Trash/Current/d"), Some(FILE));
}

#[tokio::test]
async fn a_file_in_the_way_of_the_trash_itself_is_refused_and_nothing_moves() {
    for blocker in [
        "/user",
        "/user/alice",
        "/user/alice/.Trash",
        "/user/alice/.Trash/Current",
    ] {
        let ns = FakeNs::with(&[("/d", DIR), ("/d/f", FILE)]);
        let mut at = FsPath::root();
        for name in p(blocker).components() {
            at = at.join(name).unwrap();
            let kind = if at == p(blocker) { FILE } else { DIR };
            ns.add(at.as_str(), kind);
        }
        let e = alices(&ns, HOUR)
            .move_to_trash(&p("/d/f"))
            .await
            .unwrap_err();
        assert!(e.message.contains(&format!("{blocker} is a file")), "{e}");
        assert_eq!(ns.kind("/d/f"), Some(FILE), "{blocker}: nothing moved");
    }
}

#[tokio::test]
async fn nothing_moves_when_off_or_already_in_the_trash_and_the_trash_never_moves_itself() {
    let ns = FakeNs::with(&[("/f", FILE), ("/user/alice/.Trash/Current/x", FILE)]);
    assert_eq!(
        alices(&ns, Duration::ZERO)
            .move_to_trash(&p("/f"))
            .await
            .unwrap(),
        None
    );
    let trash = alices(&ns, HOUR);
    let inside = p("/user/alice/.Trash/Current/x");
    assert_eq!(trash.move_to_trash(&inside).await.unwrap(), None);
    for holder in ["/user", "/user/alice", "/"] {
        let e = trash.move_to_trash(&p(holder)).await.unwrap_err();
        assert!(e.message.contains("contains the trash"), "{holder}: {e}");
    }
    assert_eq!(ns.kind("/f"), Some(FILE));
}

#[tokio::test]
async fn checkpoints_take_the_next_free_name_and_expire_after_the_interval() {
    let ns = FakeNs::with(&[
        ("/user/alice/.Trash/Current/a", FILE),
        ("/user/alice/.Trash/notes", DIR),
    ]);
    let trash = alices(&ns, HOUR);
    let now = names::checkpoint_time_ms("261204212002").unwrap();
    let first = trash.checkpoint(now).await.unwrap();
    assert_eq!(first, Some(p("/user/alice/.Trash/261204212002")));
    assert_eq!(
        trash.checkpoint(now).await.unwrap(),
        None,
        "nothing in Current"
    );
    ns.add("/user/alice/.Trash/Current", DIR);
    let second = trash.checkpoint(now).await.unwrap();
    assert_eq!(second, Some(p("/user/alice/.Trash/261204212002-1")));

    let young = trash.expunge(now + HOUR.as_millis() as u64).await.unwrap();
    assert_eq!(young, Expunged::default());
    ns.add("/user/alice/.Trash/Current", DIR);
    let old = trash
        .expunge(now + HOUR.as_millis() as u64 + 1)
        .await
        .unwrap();
    assert_eq!(old.deleted.len(), 2, "{old:?}");
    let created = old.created.unwrap();
    assert!(names::checkpoint_time_ms(created.file_name().unwrap()).is_some());
    assert_eq!(
        ns.kind("/user/alice/.Trash/notes"),
        Some(DIR),
        "not a checkpoint"
    );

    let all = trash.expunge_immediately(now).await.unwrap();
    assert_eq!(all.created, None);
    assert_eq!(all.deleted, vec![created]);
    assert_eq!(ns.kind("/user/alice/.Trash/notes"), Some(DIR));
}
