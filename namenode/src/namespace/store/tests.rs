//! The store over the journal: recovery after a crash that left sled behind the journal.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use super::*;

/// Opens the store, waiting for a closed one's sled lock to go (sled lets go a moment after
/// the last handle is dropped).
fn open(dir: &Path) -> Store {
    for _ in 0..100 {
        match Store::open_with(dir, 1 << 20) {
            Err(e) if e.message.contains("lock") => std::thread::sleep(Duration::from_millis(20)),
            result => return result.unwrap(),
        }
    }
    panic!("the store stayed locked");
}

/// Commits one retry-cache entry (the simplest record to stage); returns nothing, as the
/// journal sequence is visible in sled once applied.
fn put(store: &Store, ns: &Namespace, key: &str, value: &str) {
    let record = RetryRecord {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    };
    store.stage(ns, &Changes::default(), Some(record)).unwrap();
    store.commit(|_| {}).unwrap();
}

fn get(store: &Store, key: &str) -> Option<Vec<u8>> {
    store.db().get(key).unwrap().map(|v| v.to_vec())
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
    let ns = store.load(1).unwrap();
    put(&store, &ns, "r/a", "1");
    store.checkpoint().unwrap();
    let applied = counter(store.db(), APPLIED_SEQ).unwrap();
    // Journaled, acknowledged, not in sled yet: a crash now must not lose them.
    put(&store, &ns, "r/b", "2");
    put(&store, &ns, "r/c", "3");
    assert_eq!(get(&store, "r/b"), None);
    assert!(store.get_retry(b"r/b").unwrap().is_some());
    // A later direct change to a key whose journal record sled already has.
    store.db().insert("r/a", "newer").unwrap();
    drop((store, ns));

    let store = open(dir.path());
    assert_eq!(get(&store, "r/b").as_deref(), Some(&b"2"[..]));
    assert_eq!(get(&store, "r/c").as_deref(), Some(&b"3"[..]));
    assert_eq!(
        get(&store, "r/a").as_deref(),
        Some(&b"newer"[..]),
        "a record sled already holds is not applied again"
    );
    assert_eq!(counter(store.db(), APPLIED_SEQ).unwrap(), applied + 2);
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "replayed segments are deleted"
    );
    let ns = store.load(2).unwrap();
    put(&store, &ns, "r/d", "4");
    drop((store, ns));
    // A crash in the middle of the next append.
    tear_tail(dir.path());

    let store = open(dir.path());
    assert_eq!(get(&store, "r/d").as_deref(), Some(&b"4"[..]));
    assert_eq!(counter(store.db(), APPLIED_SEQ).unwrap(), applied + 3);
    let ns = store.load(3).unwrap();
    put(&store, &ns, "r/e", "5");
    drop((store, ns));

    let store = open(dir.path());
    assert_eq!(
        get(&store, "r/e").as_deref(),
        Some(&b"5"[..]),
        "appends continued"
    );
    assert_eq!(counter(store.db(), APPLIED_SEQ).unwrap(), applied + 4);
}

#[test]
fn a_checkpoint_applies_merged_changes_and_deletes_only_full_segments() {
    let dir = TempDir::new().unwrap();
    let store = Store::open_with(dir.path(), 4096).unwrap();
    let ns = store.load(1).unwrap();
    let value = "v".repeat(1500);
    let mut due = 0;
    for i in 0..8 {
        let record = RetryRecord {
            key: format!("r/{i}").into_bytes(),
            value: value.clone().into_bytes(),
        };
        store.stage(&ns, &Changes::default(), Some(record)).unwrap();
        due += usize::from(store.commit(|_| {}).unwrap().checkpoint_due);
    }
    // The same key twice: sled gets the later value.
    put(&store, &ns, "r/x", "old");
    put(&store, &ns, "r/x", "new");
    // More keys than one sled batch takes.
    for i in 0..(3 * APPLY_CHUNK) {
        let record = RetryRecord {
            key: format!("r/many-{i}").into_bytes(),
            value: b"v".to_vec(),
        };
        store.stage(&ns, &Changes::default(), Some(record)).unwrap();
    }
    due += usize::from(store.commit(|_| {}).unwrap().checkpoint_due);
    assert!(due >= 3, "{due} segments filled");
    assert_eq!(segments(dir.path()).len(), due + 1);
    assert_eq!(get(&store, "r/0"), None);
    store.checkpoint().unwrap();
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "only the current segment is left"
    );
    for i in 0..8 {
        assert!(get(&store, &format!("r/{i}")).is_some());
    }
    assert_eq!(get(&store, "r/x").as_deref(), Some(&b"new"[..]));
    assert!((0..3 * APPLY_CHUNK).all(|i| get(&store, &format!("r/many-{i}")).is_some()));
    assert_eq!(
        counter(store.db(), APPLIED_SEQ).unwrap(),
        store.shared.applied_seq.load(Ordering::Acquire)
    );
    assert!(store.shared.unapplied_retry.lock().unwrap().is_empty());
}
