use std::time::Duration;

use super::*;

fn value(created: u64, tag: u8) -> Vec<u8> {
    let mut v = created.to_be_bytes().to_vec();
    v.extend_from_slice(b"{\"op\":\"mkdir\"}");
    v.push(tag);
    v
}

type Found = Vec<(RetryKey, Box<[u8]>)>;

fn open(dir: &Path, capacity: usize) -> (RetryLog, Found) {
    let mut found = Vec::new();
    let log = RetryLog::open(dir, Duration::from_secs(60), capacity, |k, v| {
        found.push((k, v))
    })
    .unwrap();
    (log, found)
}

#[test]
fn entries_come_back_in_order_after_a_restart() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut log, found) = open(dir.path(), 100);
    assert!(found.is_empty());
    let (a, b, c) = (value(1_000, 1), value(1_001, 2), value(1_002, 3));
    log.append(
        [(RetryKey([1; 16]), &a[..]), (RetryKey([2; 16]), &b[..])],
        5_000,
    )
    .unwrap();
    log.append([(RetryKey([3; 16]), &c[..])], 5_001).unwrap();
    log.append(std::iter::empty(), 5_002).unwrap();
    drop(log);
    let (log, found) = open(dir.path(), 100);
    let keys: Vec<u8> = found.iter().map(|(k, _)| k.0[0]).collect();
    assert_eq!(keys, [1, 2, 3]);
    assert_eq!(&found[2].1[..], &c[..]);
    assert_eq!(log.files(), 1);
}

#[test]
fn a_torn_tail_ends_the_file_and_appends_go_to_a_new_one() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut log, _) = open(dir.path(), 100);
    let (a, b) = (value(1_000, 1), value(1_001, 2));
    log.append(
        [(RetryKey([1; 16]), &a[..]), (RetryKey([2; 16]), &b[..])],
        5_000,
    )
    .unwrap();
    drop(log);
    let path = list(dir.path()).unwrap()[0].1.clone();
    let len = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 3)
        .unwrap();

    let (mut log, found) = open(dir.path(), 100);
    assert_eq!(found.len(), 1, "the torn second record is dropped");
    let c = value(1_002, 3);
    log.append([(RetryKey([3; 16]), &c[..])], 5_001).unwrap();
    assert_eq!(log.files(), 2);
    drop(log);
    let (_, found) = open(dir.path(), 100);
    let keys: Vec<u8> = found.iter().map(|(k, _)| k.0[0]).collect();
    assert_eq!(keys, [1, 3]);
}

#[test]
fn a_corrupt_record_is_not_read() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut log, _) = open(dir.path(), 100);
    let a = value(1_000, 1);
    log.append([(RetryKey([1; 16]), &a[..])], 5_000).unwrap();
    drop(log);
    let path = list(dir.path()).unwrap()[0].1.clone();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (_, found) = open(dir.path(), 100);
    assert!(found.is_empty());
}

#[test]
fn files_roll_and_go_when_expired_or_redundant() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut log, _) = open(dir.path(), 3);
    // Three files a minute apart (the roll period), two entries each.
    for (file, now) in [(0u8, 0u64), (1, 60_000), (2, 120_000)] {
        let (a, b) = (value(now, 0), value(now + 1, 1));
        let keys = (RetryKey([file * 2; 16]), RetryKey([file * 2 + 1; 16]));
        log.append([(keys.0, &a[..]), (keys.1, &b[..])], now)
            .unwrap();
    }
    assert_eq!(log.files(), 3);
    // The two newer files hold 4 ≥ 3 entries: the oldest is redundant.
    log.expire(0);
    assert_eq!(log.files(), 2);
    // Everything in the second file is older than the cutoff.
    log.expire(60_002);
    assert_eq!(log.files(), 1);
    log.expire(u64::MAX);
    assert_eq!(log.files(), 0);
    // The current file went too: the next append starts a new one.
    let c = value(200_000, 9);
    log.append([(RetryKey([9; 16]), &c[..])], 200_000).unwrap();
    drop(log);
    let (_, found) = open(dir.path(), 3);
    let keys: Vec<u8> = found.iter().map(|(k, _)| k.0[0]).collect();
    assert_eq!(keys, [9]);
}
