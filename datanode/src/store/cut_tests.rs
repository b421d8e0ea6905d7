//! Cuts, recovery states and marks.

use std::fs;
use std::time::Duration;

use granary_client::checksum::block_digest_of;
use granary_client::{BlockId, Digest, ErrorKind, Generation};

use super::append_tests::*;
use super::meta::BlockMeta;
use crate::test_support::data;

#[tokio::test]
async fn cuts_inside_a_chunk_and_at_a_boundary_then_segments_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(3 * C + 500, 10);
    write_new(&store, 11, 1, &old);
    let wait = Duration::from_secs(1);
    let mark = store.take_mark(BlockId(11), wait).await.unwrap();
    let at = 2 * C as u64 + 77;
    let cut = store.cut_replica(&mark, Generation(2), at).unwrap();
    assert_eq!(cut.block_digest, block_digest_of(&old[..at as usize]));
    drop(mark);
    assert_replica(&store, 11, 2, &old[..at as usize]);
    assert_eq!(data_len(&dir, 11), at);

    let mark = store.take_mark(BlockId(11), wait).await.unwrap();
    // Again at the same generation and length: nothing to do; another length: refused.
    assert_eq!(store.cut_replica(&mark, Generation(2), at).unwrap(), cut);
    let refused = store
        .cut_replica(&mark, Generation(2), C as u64)
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::StaleReplica);
    let longer = store.cut_replica(&mark, Generation(3), at + 1).unwrap_err();
    assert_eq!(longer.kind, ErrorKind::StaleReplica);
    store.cut_replica(&mark, Generation(3), C as u64).unwrap();
    drop(mark);
    assert_replica(&store, 11, 3, &old[..C]);

    let more = data(C + 1, 11);
    append(&store, 11, 4, C as u64, &more);
    let expected = [&old[..C], &more].concat();
    assert_replica(&store, 11, 4, &expected);
    drop(store);
    assert_replica(&open(&dir), 11, 4, &expected);
}

#[tokio::test]
async fn a_crash_between_a_cut_and_its_truncation_keeps_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(2 * C + 1, 12);
    write_new(&store, 12, 1, &old);
    let mark = store
        .take_mark(BlockId(12), Duration::from_secs(1))
        .await
        .unwrap();
    store.cut_replica(&mark, Generation(2), 100).unwrap();
    drop(mark);
    // What the truncation would have removed is still there.
    fs::write(dir.path().join("current/0c/blk_12"), &old).unwrap();
    assert_replica(&store, 12, 2, &old[..100]);
    drop(store);
    let store = open(&dir);
    assert_replica(&store, 12, 2, &old[..100]);
    assert_eq!(data_len(&dir, 12), 100);
}

#[tokio::test]
async fn a_reader_of_the_state_before_a_cut_is_told_to_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    write_new(&store, 13, 1, &data(3 * C, 13));
    let mut reader = store.open_chunks(BlockId(13), 0, u64::MAX).unwrap();
    let mark = store
        .take_mark(BlockId(13), Duration::from_secs(1))
        .await
        .unwrap();
    store.cut_replica(&mark, Generation(2), 10).unwrap();
    drop(mark);
    let failed = reader.next().unwrap().unwrap_err();
    assert_eq!(failed.kind, ErrorKind::Unavailable, "{}", failed.message);
    assert!(!store.is_corrupt(BlockId(13)));
}

#[tokio::test]
async fn recovery_states_verify_every_chunk_and_rehash_the_cut_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let bytes = data(3 * C + 9, 14);
    write_new(&store, 14, 5, &bytes);
    let mark = store
        .take_mark(BlockId(14), Duration::from_secs(1))
        .await
        .unwrap();
    let whole = store.replica_state(&mark, None).unwrap();
    assert_eq!(
        (whole.generation, whole.length),
        (Generation(5), bytes.len() as u64)
    );
    assert_eq!(whole.block_digest, block_digest_of(&bytes));
    let at = C as u64 + 1000;
    let cut = store.replica_state(&mark, Some(at)).unwrap();
    let expected: Vec<Digest> = bytes[..at as usize].chunks(C).map(Digest::of).collect();
    assert_eq!(cut, BlockMeta::new(Generation(5), at, expected));
    assert_eq!(store.replica_state(&mark, Some(u64::MAX)).unwrap(), whole);

    // A damaged chunk ends the verified prefix at its start.
    let path = dir.path().join("current/0e/blk_14");
    let mut on_disk = fs::read(&path).unwrap();
    on_disk[2 * C + 5] ^= 1;
    fs::write(&path, on_disk).unwrap();
    assert_eq!(
        store.replica_state(&mark, None).unwrap().length,
        2 * C as u64
    );
    // The replica is not changed by a state request.
    assert_eq!(
        store.replica(BlockId(14)).unwrap().length,
        bytes.len() as u64
    );
}

#[tokio::test]
async fn taking_a_mark_stops_the_write_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    write_new(&store, 15, 1, &data(10, 15));
    let writer = store.begin_append(BlockId(15), Generation(2), 10).unwrap();
    let cancel = writer.cancellation();
    let holder = tokio::spawn(async move {
        cancel.cancelled().await;
        drop(writer);
    });
    let mark = store
        .take_mark(BlockId(15), Duration::from_secs(5))
        .await
        .unwrap();
    holder.await.unwrap();
    assert!(store.is_being_written(BlockId(15)));
    drop(mark);
    assert!(!store.is_being_written(BlockId(15)));

    // A holder that never lets go: bounded.
    let stuck = store.begin_append(BlockId(15), Generation(2), 10).unwrap();
    let timed_out = store
        .take_mark(BlockId(15), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(timed_out.kind, ErrorKind::Unavailable);
    // Stopped, it may no longer commit.
    let refused = store.commit(stuck.prepare().unwrap()).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::RecoveryInProgress);
    assert_replica(&store, 15, 1, &data(10, 15));
}
