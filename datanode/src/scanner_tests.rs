use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use granary_client::checksum::CHUNK_SIZE;
use granary_client::{BlockId, ErrorKind};
use tokio::time::Instant;

use super::*;
use crate::fake_namenode::start_fake_namenode;
use crate::test_support::*;

const FAST: u64 = 1 << 30;

fn block_file(data_dir: &std::path::Path, block: u64) -> PathBuf {
    data_dir
        .join("current")
        .join(format!("{:02x}", block % 256))
        .join(format!("blk_{block}"))
}

fn flip_byte(path: &std::path::Path, offset: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], offset).unwrap();
}

#[tokio::test]
async fn a_pass_marks_damaged_replicas_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let state = test_state(&dir);
    let len = 3 * CHUNK_SIZE + 100;
    for block in 1..=4 {
        write_replica(&state.store, block, &data(len, block as u8));
    }
    write_replica(&state.store, 5, &[]);
    flip_byte(&block_file(dir.path(), 2), 2 * CHUNK_SIZE as u64 + 7);
    let file = OpenOptions::new()
        .write(true)
        .open(block_file(dir.path(), 3))
        .unwrap();
    file.set_len(CHUNK_SIZE as u64).unwrap();
    let mut sidecar = block_file(dir.path(), 4).into_os_string();
    sidecar.push(".meta");
    fs::write(sidecar, b"not a sidecar").unwrap();

    let scanner = Scanner::new(Arc::clone(&state), FAST, Duration::from_secs(3600));
    let stats = scanner.scan_pass().await;
    assert_eq!((stats.blocks, stats.corrupt), (5, 3), "{stats:?}");
    for block in [2, 3, 4] {
        assert!(state.store.is_corrupt(BlockId(block)), "{block}");
        let opened = state.store.open_chunks(BlockId(block), 0, u64::MAX);
        assert_eq!(
            opened.err().map(|e| e.kind),
            Some(ErrorKind::ChecksumMismatch)
        );
    }
    assert!(!state.store.is_corrupt(BlockId(1)));
    assert!(!state.store.is_corrupt(BlockId(5)));
    // Corrupt replicas stay listed (the namenode decides about them) but are not rescanned.
    assert_eq!(state.store.replicas().len(), 5);
    let again = scanner.scan_pass().await;
    assert_eq!((again.blocks, again.corrupt), (2, 0), "{again:?}");
    assert_eq!(again.bytes, len as u64);

    // Deleting a corrupt replica forgets its mark.
    assert!(state.store.delete(BlockId(2)).unwrap());
    assert!(state
        .store
        .corrupt_replicas()
        .iter()
        .all(|(b, _)| *b != BlockId(2)));
}

#[tokio::test]
async fn a_pass_keeps_under_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let state = test_state(&dir);
    for block in 1..=4 {
        write_replica(&state.store, block, &data(4 * CHUNK_SIZE, block as u8));
    }
    let rate = 2 << 20;
    let scanner = Scanner::new(Arc::clone(&state), rate, Duration::from_secs(3600));
    let started = Instant::now();
    let stats = scanner.scan_pass().await;
    let elapsed = started.elapsed();
    assert_eq!(stats.bytes, 16 * CHUNK_SIZE as u64);
    // 1 MiB at 2 MiB/s: half a second at least (a little slack for timer rounding).
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
}

#[tokio::test]
async fn the_scanner_reports_corruption_and_reads_of_it_fail() {
    let (url, nn) = start_fake_namenode().await;
    let node = start_node_configured(&url, |c| {
        c.scan_rate = FAST;
        c.scan_period = Duration::from_millis(100);
    })
    .await;
    for block in [10, 11] {
        let response = put(&node.info, block, &data(200_000, block as u8), &[]).await;
        assert_eq!(response.status(), 200);
    }
    flip_byte(&block_file(node.store.data_dir(), 10), 1000);

    let reports_of = |block: u64| {
        nn.bad_replicas
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.block == BlockId(block) && &r.datanode == node.store.id())
            .count()
    };
    wait_until("block 10 reported corrupt", || reports_of(10) == 1).await;
    let (status, error) = wire_error(get(&node.info, "/v1/blocks/10").await).await;
    assert_eq!((status, error.kind), (422, ErrorKind::ChecksumMismatch));
    assert!(node.store.contains(BlockId(10)));

    // A namenode that restarts has forgotten the report: it is sent again.
    nn.forget_heartbeats.store(1, Ordering::SeqCst);
    wait_until("block 10 reported again", || reports_of(10) == 2).await;

    assert_eq!(reports_of(11), 0);
    assert!(!node.store.is_corrupt(BlockId(11)));
    assert_eq!(get(&node.info, "/v1/blocks/11").await.status(), 200);
}
