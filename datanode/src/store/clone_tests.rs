//! Cloned replicas: independent copies under a new id and generation, refused unless the
//! source is exactly as located.

use granary_client::{BlockId, ErrorKind, Generation};

use super::append_tests::{append, assert_replica, open, tmp_is_empty, write_new, C};
use crate::test_support::data;

fn clone(
    store: &std::sync::Arc<super::BlockStore>,
    source: u64,
    generation: u64,
    length: usize,
    target: u64,
) -> Result<(), granary_client::Error> {
    let prepared = store.clone_replica(
        BlockId(source),
        Generation(generation),
        length as u64,
        BlockId(target),
        Generation(1),
    )?;
    store.commit(prepared)
}

#[test]
fn a_clone_is_an_independent_replica_with_the_same_digests() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let bytes = data(2 * C + 100, 7);
    write_new(&store, 1, 3, &bytes);
    clone(&store, 1, 3, bytes.len(), 2).unwrap();
    assert_replica(&store, 2, 1, &bytes);
    assert!(tmp_is_empty(&dir));
    // Never a link: an append to the source, in place, and then its deletion leave the clone.
    append(&store, 1, 4, bytes.len() as u64, &data(C, 8));
    assert_replica(&store, 2, 1, &bytes);
    assert!(store.delete(BlockId(1)).unwrap());
    assert_replica(&store, 2, 1, &bytes);
    // And it survives a restart, as any finalized replica.
    drop(store);
    assert_replica(&open(&dir), 2, 1, &bytes);
}

#[test]
fn a_source_not_as_located_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    write_new(&store, 1, 2, b"hello");
    for (generation, length) in [(1, 5), (2, 4), (2, 6)] {
        let err = clone(&store, 1, generation, length, 2).err().unwrap();
        assert_eq!(err.kind, ErrorKind::StaleReplica, "{err}");
    }
    assert_eq!(
        clone(&store, 9, 1, 5, 2).err().unwrap().kind,
        ErrorKind::UnknownBlock
    );
    assert_eq!(
        clone(&store, 1, 2, 5, 1).err().unwrap().kind,
        ErrorKind::InvalidArgument
    );
    assert!(store.replica(BlockId(2)).is_none());
    assert!(!store.is_being_written(BlockId(2)));
    assert!(tmp_is_empty(&dir));
    // A target that exists already is never overwritten.
    write_new(&store, 2, 1, b"other");
    assert_eq!(
        clone(&store, 1, 2, 5, 2).err().unwrap().kind,
        ErrorKind::AlreadyExists
    );
    assert_replica(&store, 2, 1, b"other");
}

#[test]
fn a_corrupt_source_is_not_cloned() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    write_new(&store, 1, 1, b"hello");
    store.mark_corrupt(BlockId(1), "test");
    assert_eq!(
        clone(&store, 1, 1, 5, 2).err().unwrap().kind,
        ErrorKind::ChecksumMismatch
    );
    assert!(tmp_is_empty(&dir));
}
