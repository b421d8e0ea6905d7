//! The store over the journal: recovery after a crash that left sled behind the journal.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use granary_client::FsPath;
use tempfile::TempDir;

use super::*;

/// Opens the store, waiting for a closed one's sled lock to go (sled lets go a moment after
/// the last handle is dropped).
fn open(dir: &Path) -> Store {
    for _ in 0..100 {
        match Store::open_with(dir, 1 << 20, RetryLimits::default()) {
            Err(e) if e.message.contains("lock") => std::thread::sleep(Duration::from_millis(20)),
            result => return result.unwrap(),
        }
    }
    panic!("the store stayed locked");
}

/// Commits the creation of directory `path` at time `now`; returns its sled key.
fn mkdir(store: &Store, ns: &mut Namespace, path: &str, now: u64) -> [u8; 10] {
    let mut changes = Changes::default();
    let path = FsPath::parse(path).unwrap();
    ns.mkdir(&path, false, now, &mut changes).unwrap();
    store.stage(ns, &changes, None).unwrap();
    store.commit(|_| {}).unwrap();
    inode_key(ns.lookup(&path).unwrap().unwrap())
}

/// An inode record as sled holds it.
fn get(store: &Store, key: &[u8]) -> Option<Inode> {
    let value = store.db().get(key).unwrap()?;
    Some(serde_json::from_slice(&value).unwrap())
}

/// Stages a retry-cache answer created at `created`, of `len` bytes in all.
fn stage_answer(store: &Store, ns: &Namespace, key: u8, created: u64, len: usize) {
    let mut value = created.to_be_bytes().to_vec();
    value.resize(len.max(8), b'v');
    let record = RetryRecord {
        key: RetryKey([key; RetryKey::LEN]),
        value,
    };
    store.stage(ns, &Changes::default(), Some(record)).unwrap();
}

fn answer(store: &Store, key: u8) -> Option<Vec<u8>> {
    store.get_retry(&RetryKey([key; RetryKey::LEN]))
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(JOURNAL_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

/// Writes garbage right after the last record of the newest segment, as a crash in the
/// middle of an append leaves it.
fn tear_tail(dir: &Path) {
    let path = segments(dir).pop().unwrap();
    let data = std::fs::read(&path).unwrap();
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut torn = vec![0x5a; 64];
    torn[..4].copy_from_slice(&60u32.to_le_bytes());
    file.write_all_at(&torn, end as u64).unwrap();
}

#[test]
fn recovery_applies_what_sled_lacks_once_and_ignores_a_torn_tail() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let mut ns = store.load(1).unwrap();
    let a = mkdir(&store, &mut ns, "/a", 1);
    store.checkpoint().unwrap();
    let applied = counter(store.db(), APPLIED_SEQ).unwrap();
    // Journaled, acknowledged, not in sled yet: a crash now must not lose them.
    let b = mkdir(&store, &mut ns, "/b", 1);
    let c = mkdir(&store, &mut ns, "/c", 1);
    assert!(get(&store, &b).is_none());
    // A later direct change to a record whose journal record sled already has.
    let mut newer = get(&store, &a).unwrap();
    newer.modified_ms = 999;
    let encoded = serde_json::to_vec(&newer).unwrap();
    store.db().insert(a, encoded).unwrap();
    drop((store, ns));

    let store = open(dir.path());
    assert_eq!(get(&store, &b).unwrap().name, "b");
    assert_eq!(get(&store, &c).unwrap().name, "c");
    assert_eq!(
        get(&store, &a).unwrap().modified_ms,
        999,
        "a record sled already holds is not applied again"
    );
    assert_eq!(counter(store.db(), APPLIED_SEQ).unwrap(), applied + 2);
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "replayed segments are deleted"
    );
    let mut ns = store.load(2).unwrap();
    let d = mkdir(&store, &mut ns, "/d", 2);
    drop((store, ns));
    // A crash in the middle of the next append.
    tear_tail(dir.path());

    let store = open(dir.path());
    assert_eq!(get(&store, &d).unwrap().name, "d");
    assert_eq!(counter(store.db(), APPLIED_SEQ).unwrap(), applied + 3);
    let mut ns = store.load(3).unwrap();
    let e = mkdir(&store, &mut ns, "/e", 3);
    drop((store, ns));

    let store = open(dir.path());
    assert!(get(&store, &e).is_some(), "appends continued");
    assert_eq!(counter(store.db(), APPLIED_SEQ).unwrap(), applied + 4);
}

#[test]
fn a_checkpoint_applies_merged_changes_and_deletes_only_full_segments() {
    let dir = TempDir::new().unwrap();
    let store = Store::open_with(dir.path(), 4096, RetryLimits::default()).unwrap();
    let mut ns = store.load(1).unwrap();
    let now = crate::now_ms();
    let mut due = 0;
    // Retry-cache answers fill segments too, though they never reach sled.
    for i in 0..8 {
        stage_answer(&store, &ns, i, now, 1500);
        due += usize::from(store.commit(|_| {}).unwrap().checkpoint_due);
    }
    // The same record twice: sled gets the later value (a child touches its parent).
    let x = mkdir(&store, &mut ns, "/x", 1);
    mkdir(&store, &mut ns, "/x/y", 2);
    // More records than one sled batch takes, in one commit.
    let mut changes = Changes::default();
    for i in 0..(3 * APPLY_CHUNK) {
        let path = FsPath::parse(&format!("/many-{i}")).unwrap();
        ns.mkdir(&path, false, 3, &mut changes).unwrap();
    }
    store.stage(&ns, &changes, None).unwrap();
    due += usize::from(store.commit(|_| {}).unwrap().checkpoint_due);
    assert!(due >= 3, "{due} segments filled");
    assert_eq!(segments(dir.path()).len(), due + 1);
    assert!(get(&store, &x).is_none());
    store.checkpoint().unwrap();
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "only the current segment is left"
    );
    assert_eq!(get(&store, &x).unwrap().modified_ms, 2);
    assert_eq!(
        store.db().scan_prefix(INODE_PREFIX).count(),
        3 + 3 * APPLY_CHUNK
    );
    assert_eq!(store.db().scan_prefix(RETRY_PREFIX).count(), 0);
    assert!((0..8).all(|i| answer(&store, i).is_some()));
    assert_eq!(
        counter(store.db(), APPLIED_SEQ).unwrap(),
        store.shared.applied_seq.load(Ordering::Acquire)
    );
}

#[test]
fn retry_answers_survive_a_restart_until_they_expire() {
    let dir = TempDir::new().unwrap();
    let ttl = Duration::from_secs(600);
    let limits = RetryLimits { ttl, capacity: 100 };
    let reopen = || {
        for _ in 0..100 {
            match Store::open_with(dir.path(), 1 << 20, limits) {
                Err(e) if e.message.contains("lock") => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                result => return result.unwrap(),
            }
        }
        panic!("the store stayed locked");
    };
    let store = reopen();
    let ns = store.load(1).unwrap();
    let now = crate::now_ms();
    let expired = now - ttl.as_millis() as u64 - 1;
    // Checkpointed (in the retry log), journaled only, and staged but never committed.
    stage_answer(&store, &ns, 2, expired, 40);
    stage_answer(&store, &ns, 1, now, 40);
    store.commit(|_| {}).unwrap();
    store.checkpoint().unwrap();
    stage_answer(&store, &ns, 3, now, 40);
    // Expiry goes in the order answers were added (the clock's): this one waits for
    // the sweep to pass the younger ones before it, but a restart drops it.
    stage_answer(&store, &ns, 4, expired, 40);
    store.commit(|_| {}).unwrap();
    stage_answer(&store, &ns, 5, now, 40);
    assert!(
        answer(&store, 5).is_some(),
        "staged answers are seen at once"
    );
    assert_eq!(store.expire_retry(now, ttl), 1);
    assert!(answer(&store, 2).is_none());
    drop((store, ns));

    let store = reopen();
    let found: Vec<u8> = (1..=5).filter(|&k| answer(&store, k).is_some()).collect();
    assert_eq!(
        found,
        [1, 3],
        "durable answers come back, expired ones do not"
    );
    assert_eq!(answer(&store, 1).unwrap().len(), 40);
    drop(store);
    // Entries kept in sled by earlier versions move to the retry log.
    {
        let db = sled::open(dir.path()).unwrap();
        let mut value = now.to_be_bytes().to_vec();
        value.extend_from_slice(b"{}");
        db.insert(b"r/legacy-request-id", value).unwrap();
        db.flush().unwrap();
    }
    let legacy = RetryKey::of(b"legacy-request-id");
    let store = reopen();
    assert_eq!(store.db().scan_prefix(LEGACY_RETRY_PREFIX).count(), 0);
    assert!(store.get_retry(&legacy).is_some());
    drop(store);
    let store = reopen();
    assert!(
        store.get_retry(&legacy).is_some(),
        "kept across the next restart"
    );
    assert_eq!(store.retry_stats().0, 3);
}
