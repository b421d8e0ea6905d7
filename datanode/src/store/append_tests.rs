//! Reopened replicas: segments in place, cuts, crashes at each step, recovery states.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use granary_client::checksum::{block_digest_of, CHUNK_SIZE};
use granary_client::framing::Frame;
use granary_client::{BlockId, ErrorKind, Generation};

use super::*;
use crate::test_support::{data, frames_of, segment_frames};

pub(super) const C: usize = CHUNK_SIZE;

pub(super) fn open(dir: &tempfile::TempDir) -> Arc<BlockStore> {
    Arc::new(BlockStore::open(dir.path(), None).unwrap())
}

pub(super) fn write_new(store: &Arc<BlockStore>, block: u64, generation: u64, bytes: &[u8]) {
    let mut writer = store
        .begin_write(BlockId(block), Generation(generation))
        .unwrap();
    for frame in frames_of(bytes) {
        writer.append(&frame).unwrap();
    }
    store.commit(writer.prepare().unwrap()).unwrap();
}

pub(super) fn append(
    store: &Arc<BlockStore>,
    block: u64,
    generation: u64,
    from: u64,
    bytes: &[u8],
) {
    let mut writer = store
        .begin_append(BlockId(block), Generation(generation), from)
        .unwrap();
    for frame in segment_frames(bytes, from) {
        writer.append(&frame).unwrap();
    }
    store.commit(writer.prepare().unwrap()).unwrap();
}

pub(super) fn read_all(store: &BlockStore, block: u64) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .open_verified(BlockId(block), 0, u64::MAX)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The replica reads as `reference` (every chunk verified on the way) and is indexed with
/// its length and block digest at `generation`.
pub(super) fn assert_replica(store: &BlockStore, block: u64, generation: u64, reference: &[u8]) {
    assert_eq!(read_all(store, block), reference);
    let report = store.replica(BlockId(block)).unwrap();
    assert_eq!(report.generation, Generation(generation));
    assert_eq!(report.length, reference.len() as u64);
    assert_eq!(report.sha256, Some(block_digest_of(reference)));
}

pub(super) fn data_len(dir: &tempfile::TempDir, block: u64) -> u64 {
    let path = dir
        .path()
        .join(format!("current/{:02x}/blk_{block}", block % 256));
    fs::metadata(path).unwrap().len()
}

pub(super) fn tmp_is_empty(dir: &tempfile::TempDir) -> bool {
    fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

#[test]
fn segments_across_partial_chunks_and_boundaries_match_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut reference = data(100, 1);
    write_new(&store, 5, 1, &reference);
    let sizes = [1, C - 101, C, 7, 3 * C + 5, C - 12, 2 * C, 0, 65, C + 1];
    for (i, size) in sizes.into_iter().enumerate() {
        let generation = 2 + i as u64;
        let bytes = data(size, i as u8 + 10);
        append(&store, 5, generation, reference.len() as u64, &bytes);
        reference.extend_from_slice(&bytes);
        assert_replica(&store, 5, generation, &reference);
    }
    assert_eq!(store.storage_report().used, reference.len() as u64);
    assert!(tmp_is_empty(&dir));
    drop(store);
    let store = open(&dir);
    assert_replica(&store, 5, 1 + sizes.len() as u64, &reference);
}

#[test]
fn an_interrupted_segment_leaves_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(C + 300, 2);
    write_new(&store, 6, 1, &old);
    let more = data(2 * C, 3);

    // Dropped mid-segment, and dropped after its fsyncs but before the sidecar's rename.
    let mut writer = store
        .begin_append(BlockId(6), Generation(2), old.len() as u64)
        .unwrap();
    writer
        .append(&segment_frames(&more, old.len() as u64)[0])
        .unwrap();
    assert_replica(&store, 6, 1, &old);
    drop(writer);
    assert_replica(&store, 6, 1, &old);
    assert_eq!(data_len(&dir, 6), old.len() as u64);
    let mut writer = store
        .begin_append(BlockId(6), Generation(2), old.len() as u64)
        .unwrap();
    for frame in segment_frames(&more, old.len() as u64) {
        writer.append(&frame).unwrap();
    }
    let prepared = writer.prepare().unwrap();
    assert_replica(&store, 6, 1, &old);
    drop(prepared);
    assert_replica(&store, 6, 1, &old);
    assert!(tmp_is_empty(&dir));

    // A crash mid-segment: written bytes past the sidecar, a new sidecar left in tmp/.
    let path = dir.path().join("current/06/blk_6");
    let mut on_disk = fs::read(&path).unwrap();
    on_disk.extend_from_slice(&more[..C / 2]);
    fs::write(&path, on_disk).unwrap();
    fs::write(dir.path().join("tmp/blk_6.9.meta"), b"GRNMETA2 half").unwrap();
    assert_replica(&store, 6, 1, &old);
    drop(store);
    let store = open(&dir);
    assert_replica(&store, 6, 1, &old);
    assert_eq!(data_len(&dir, 6), old.len() as u64);
    assert!(tmp_is_empty(&dir));

    // And the replica takes the segment afterwards.
    append(&store, 6, 2, old.len() as u64, &more);
    assert_replica(&store, 6, 2, &[old, more].concat());
}

#[test]
fn bytes_left_past_the_sidecar_are_cut_at_the_next_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(C / 2, 4);
    write_new(&store, 7, 1, &old);
    let path = dir.path().join("current/07/blk_7");
    let mut on_disk = fs::read(&path).unwrap();
    on_disk.extend_from_slice(&[0xAA; 3 * C]);
    fs::write(&path, on_disk).unwrap();
    assert_replica(&store, 7, 1, &old);
    let more = data(10, 5);
    append(&store, 7, 2, old.len() as u64, &more);
    assert_replica(&store, 7, 2, &[old, more].concat());
    assert_eq!(data_len(&dir, 7), (C / 2 + 10) as u64);
}

#[test]
fn reopens_that_do_not_fit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(C + 10, 6);
    write_new(&store, 8, 3, &old);
    let len = old.len() as u64;
    let kind = |generation, from| {
        store
            .begin_append(BlockId(8), Generation(generation), from)
            .err()
            .unwrap()
            .kind
    };
    assert_eq!(kind(3, len), ErrorKind::StaleReplica, "same generation");
    assert_eq!(kind(2, len), ErrorKind::StaleReplica, "older generation");
    assert_eq!(kind(4, len + 1), ErrorKind::StaleReplica, "shorter replica");
    assert_eq!(
        store
            .begin_append(BlockId(9), Generation(4), 0)
            .err()
            .unwrap()
            .kind,
        ErrorKind::UnknownBlock
    );
    let writer = store.begin_append(BlockId(8), Generation(4), len).unwrap();
    assert_eq!(kind(5, len), ErrorKind::AlreadyExists, "being written");
    drop(writer);

    // The first frame must stop at the chunk boundary.
    let mut writer = store.begin_append(BlockId(8), Generation(4), len).unwrap();
    let too_long = Frame::seal(Bytes::from(data(C - 9, 7)));
    assert_eq!(
        writer.append(&too_long).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    drop(writer);
    assert!(store.mark_corrupt(BlockId(8), "test"));
    assert_eq!(kind(4, len), ErrorKind::ChecksumMismatch);
    assert_replica_after_unmark(&store, &old);
}

fn assert_replica_after_unmark(store: &BlockStore, old: &[u8]) {
    store.lock().corrupt.remove(&BlockId(8));
    assert_replica(store, 8, 3, old);
}

#[test]
fn a_segment_from_inside_a_longer_replica_cuts_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(3 * C + 50, 8);
    write_new(&store, 10, 1, &old);
    let from = C as u64 + 3;
    let more = data(C + 9, 9);
    append(&store, 10, 2, from, &more);
    let expected = [&old[..from as usize], &more].concat();
    assert_replica(&store, 10, 2, &expected);
    assert_eq!(data_len(&dir, 10), expected.len() as u64);
}

#[test]
fn version_1_replicas_load_as_generation_0_and_take_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = data(C + 5, 16);
    write_new(&store, 16, 1, &old);
    drop(store);
    let meta_path = dir.path().join("current/10/blk_16.meta");
    let v2 = fs::read(&meta_path).unwrap();
    // Version 1: the version 2 header without its generation field.
    let v1 = [b"GRNMETA1".as_slice(), &v2[8..12], &v2[20..]].concat();
    fs::write(&meta_path, v1).unwrap();
    let store = open(&dir);
    assert_replica(&store, 16, 0, &old);
    let more = data(3, 17);
    append(&store, 16, 1, old.len() as u64, &more);
    assert_replica(&store, 16, 1, &[old, more].concat());
    assert_eq!(&fs::read(&meta_path).unwrap()[..8], b"GRNMETA2");
}

/// A crash at each durable step of a segment or a cut, by its failpoint: the store reopened
/// afterwards holds the old state (or, past the cut's rename, the cut one), never damage.
#[cfg(feature = "failpoints")]
mod failpoints {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::*;

    fn crash_at<T>(point: &str, step: impl FnOnce() -> T) {
        let scenario = fail::FailScenario::setup();
        fail::cfg(point, "panic").unwrap();
        assert!(
            catch_unwind(AssertUnwindSafe(step)).is_err(),
            "{point} not reached"
        );
        scenario.teardown();
    }

    #[test]
    fn a_crash_at_any_step_of_a_segment_leaves_the_old_state() {
        for point in ["replica::append_fsync", "replica::append_sidecar_rename"] {
            let dir = tempfile::tempdir().unwrap();
            let store = open(&dir);
            let old = data(C + 11, 20);
            write_new(&store, 20, 1, &old);
            crash_at(point, || {
                append(&store, 20, 2, old.len() as u64, &data(2 * C, 21))
            });
            assert_replica(&store, 20, 1, &old);
            drop(store);
            let store = open(&dir);
            assert_replica(&store, 20, 1, &old);
            append(&store, 20, 2, old.len() as u64, b"after");
            assert_replica(&store, 20, 2, &[&old[..], b"after"].concat());
        }
    }

    #[test]
    fn a_crash_in_a_cut_leaves_the_cut_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let old = data(3 * C, 22);
        write_new(&store, 21, 1, &old);
        // The cut before a segment that starts inside the replica.
        crash_at("replica::cut", || {
            append(&store, 21, 2, C as u64 + 5, b"new")
        });
        drop(store);
        let store = open(&dir);
        assert_replica(&store, 21, 1, &old[..C + 5]);
        assert_eq!(data_len(&dir, 21), C as u64 + 5);
    }
}
