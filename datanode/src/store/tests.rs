use std::io::Read;
use std::sync::Arc;

use granary_client::checksum::{block_digest_of, CHUNK_SIZE};
use granary_client::ErrorKind;

use super::*;
use crate::test_support::{data, frames_of};

fn open(dir: &tempfile::TempDir) -> Arc<BlockStore> {
    Arc::new(BlockStore::open(dir.path(), None).unwrap())
}

fn write(store: &Arc<BlockStore>, block: u64, bytes: &[u8]) {
    let mut writer = store.begin_write(BlockId(block), Generation(1)).unwrap();
    for frame in frames_of(bytes) {
        writer.append(&frame).unwrap();
    }
    let prepared = writer.prepare().unwrap();
    assert_eq!(prepared.digest(), block_digest_of(bytes));
    store.commit(prepared).unwrap();
}

fn read_all(
    store: &BlockStore,
    block: u64,
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    store
        .open_verified(BlockId(block), offset, length)
        .unwrap()
        .read_to_end(&mut out)?;
    Ok(out)
}

fn tmp_entries(dir: &tempfile::TempDir) -> usize {
    fs::read_dir(dir.path().join("tmp")).unwrap().count()
}

#[test]
fn finalized_replicas_survive_a_restart_and_the_id_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let id = store.id().clone();
    let bytes = data(2 * CHUNK_SIZE + 5, 1);
    write(&store, 300, &bytes);
    write(&store, 7, &[]);
    assert!(dir.path().join("current/2c/blk_300").exists());
    assert!(dir.path().join("current/2c/blk_300.meta").exists());
    assert_eq!(tmp_entries(&dir), 0);
    drop(store);

    let store = open(&dir);
    assert_eq!(store.id(), &id);
    // Full reports carry each replica's block digest, read back from its sidecar.
    assert_eq!(
        store.replicas(),
        vec![
            ReplicaReport {
                generation: Generation(1),
                block: BlockId(7),
                length: 0,
                sha256: Some(block_digest_of(&[]))
            },
            ReplicaReport {
                generation: Generation(1),
                block: BlockId(300),
                length: bytes.len() as u64,
                sha256: Some(block_digest_of(&bytes))
            }
        ]
    );
    assert_eq!(store.storage_report().used, bytes.len() as u64);
    assert_eq!(store.storage_report().blocks, 2);
    assert_eq!(read_all(&store, 300, 0, u64::MAX).unwrap(), bytes);
}

#[test]
fn start_up_clears_tmp_and_drops_data_without_a_valid_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    write(&store, 1, &data(100, 1));
    write(&store, 2, &data(100, 2));
    write(&store, 3, &data(100, 3));
    drop(store);
    // A crash mid-write, a crash between the two renames, a damaged sidecar, a truncated data
    // file, and a sidecar whose data file is gone.
    fs::write(dir.path().join("tmp/blk_9.0"), b"partial").unwrap();
    fs::create_dir(dir.path().join("current/04")).unwrap();
    fs::write(dir.path().join("current/04/blk_4"), b"no sidecar").unwrap();
    fs::write(dir.path().join("current/01/blk_1.meta"), b"GRNMETA2 broken").unwrap();
    fs::write(dir.path().join("current/02/blk_2"), b"short").unwrap();
    fs::remove_file(dir.path().join("current/03/blk_3")).unwrap();

    let store = open(&dir);
    assert_eq!(tmp_entries(&dir), 0);
    assert!(store.replicas().is_empty());
    for leftover in [
        "04/blk_4",
        "01/blk_1",
        "01/blk_1.meta",
        "02/blk_2",
        "02/blk_2.meta",
        "03/blk_3.meta",
    ] {
        assert!(
            !dir.path().join("current").join(leftover).exists(),
            "{leftover} kept"
        );
    }
    assert_eq!(store.storage_report().used, 0);
}

#[test]
fn an_invalid_datanode_id_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("datanode_id"), "../not an id\n").unwrap();
    assert!(BlockStore::open(dir.path(), None).is_err());
}

#[test]
fn a_block_cannot_be_written_twice_or_by_two_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = store.begin_write(BlockId(5), Generation(1)).unwrap();
    assert_eq!(
        store
            .begin_write(BlockId(5), Generation(1))
            .err()
            .unwrap()
            .kind,
        ErrorKind::AlreadyExists
    );
    drop(first);
    assert_eq!(
        tmp_entries(&dir),
        0,
        "an abandoned write leaves no temporary file"
    );
    write(&store, 5, b"hello");
    assert_eq!(
        store
            .begin_write(BlockId(5), Generation(1))
            .err()
            .unwrap()
            .kind,
        ErrorKind::AlreadyExists
    );
}

#[test]
fn writer_rejects_bad_frames() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut writer = store.begin_write(BlockId(1), Generation(1)).unwrap();
    let mut frames = frames_of(&data(CHUNK_SIZE + 10, 0));
    frames[0].data = bytes::Bytes::from(vec![0u8; CHUNK_SIZE]);
    assert_eq!(
        writer.append(&frames[0]).unwrap_err().kind,
        ErrorKind::ChecksumMismatch
    );

    let mut writer = store.begin_write(BlockId(2), Generation(1)).unwrap();
    let short = frames_of(b"short");
    writer.append(&short[0]).unwrap();
    assert_eq!(
        writer.append(&short[0]).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
}

#[test]
fn verified_reads_return_exact_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let bytes = data(3 * CHUNK_SIZE + 123, 9);
    write(&store, 42, &bytes);
    let len = bytes.len() as u64;
    for (offset, length) in [
        (0, len),
        (10, 20),
        (CHUNK_SIZE as u64 - 3, 10),
        (len - 5, 100),
        (len, 10),
        (7, 0),
    ] {
        let end = (offset + length).min(len) as usize;
        assert_eq!(
            read_all(&store, 42, offset, length).unwrap(),
            &bytes[offset as usize..end],
            "{offset}+{length}"
        );
    }
    assert_eq!(
        store
            .open_verified(BlockId(42), len + 1, 1)
            .err()
            .unwrap()
            .kind,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        store.open_verified(BlockId(43), 0, 1).err().unwrap().kind,
        ErrorKind::UnknownBlock
    );
}

#[test]
fn corrupt_bytes_are_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let bytes = data(3 * CHUNK_SIZE, 4);
    write(&store, 8, &bytes);
    let path = dir.path().join("current/08/blk_8");
    let mut on_disk = fs::read(&path).unwrap();
    on_disk[2 * CHUNK_SIZE + 1] ^= 0xff;
    fs::write(&path, on_disk).unwrap();

    // Chunks before the damaged one are still served; the damaged one never is.
    assert_eq!(
        read_all(&store, 8, 0, 2 * CHUNK_SIZE as u64).unwrap(),
        &bytes[..2 * CHUNK_SIZE]
    );
    let mut reader = store.open_verified(BlockId(8), 0, u64::MAX).unwrap();
    let mut out = Vec::new();
    assert!(reader.read_to_end(&mut out).is_err());
    assert!(out.len() <= 2 * CHUNK_SIZE);
    let mut chunks = store
        .open_chunks(BlockId(8), 2 * CHUNK_SIZE as u64, 1)
        .unwrap();
    let err = chunks.next().unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::ChecksumMismatch);
    assert_eq!(err.datanode.as_ref(), Some(store.id()));
    assert!(chunks.next().is_none());
}

#[test]
fn delete_removes_the_replica() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    write(&store, 11, b"bytes");
    assert!(store.delete(BlockId(11)).unwrap());
    assert!(!store.delete(BlockId(11)).unwrap());
    assert!(!store.contains(BlockId(11)));
    assert!(!dir.path().join("current/0b/blk_11").exists());
    assert!(!dir.path().join("current/0b/blk_11.meta").exists());
    assert_eq!(store.storage_report().used, 0);
}

#[test]
fn a_data_directory_serves_one_datanode_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(
        BlockStore::open(dir.path(), None).unwrap_err().kind,
        ErrorKind::Io
    );
    drop(store);
    assert!(BlockStore::open(dir.path(), None).is_ok());
}

#[test]
fn storage_report_honours_the_configured_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let report = BlockStore::open(dir.path(), Some(1000))
        .unwrap()
        .storage_report();
    assert_eq!(report.capacity, 1000);
    assert!(report.remaining <= 1000);
    let unlimited = BlockStore::open(dir.path(), None).unwrap().storage_report();
    assert!(unlimited.capacity > 0 && unlimited.remaining <= unlimited.capacity);
}
