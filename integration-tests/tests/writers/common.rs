//! What the writer tests share: a cluster with fast lease timers, a `granary` child writing
//! from a FIFO the test feeds (so it can be SIGKILLed at a known point), and checks of every
//! replica of a file against a local reference. Shared by two test binaries, each of which
//! uses only part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use granary_client::{FsPath, Granary};
use granary_integration_tests::{replica_files, ClusterSpec, TestCluster};

pub const MIB: usize = 1 << 20;
/// Longest a lease recovery may take in these tests (soft limit, recovery timeouts and
/// retries with another primary included).
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(40);

pub fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

/// 3 datanodes, 1 MiB blocks, replication 3, a 1 s lease soft limit, a 4 s hard limit and a
/// 2 s recovery timeout, with `extra` environment added (or replacing those).
pub fn lease_cluster(extra: &[(&'static str, &'static str)]) -> TestCluster {
    let mut env = vec![
        ("GRANARY_LEASE_SOFT_LIMIT", "1s"),
        ("GRANARY_LEASE_HARD_LIMIT", "4s"),
        ("GRANARY_RECOVERY_TIMEOUT", "2s"),
        ("GRANARY_LEASE_CHECK_INTERVAL", "200ms"),
    ];
    env.retain(|(key, _)| !extra.iter().any(|(k, _)| k == key));
    env.extend_from_slice(extra);
    TestCluster::start(ClusterSpec {
        env,
        stall_timeout: Some("2s"),
        ..ClusterSpec::default()
    })
}

/// A `granary fs <verb> FIFO PATH` child reading from a FIFO the test writes; SIGKILLed when
/// dropped.
pub struct FifoWriter {
    child: Child,
    fifo: Option<File>,
    _dir: tempfile::TempDir,
}

impl FifoWriter {
    /// Starts `granary fs put|append <fifo> <path>` (`verb` and its flags).
    pub fn start(cluster: &TestCluster, verb: &[&str], path: &str) -> FifoWriter {
        let dir = tempfile::tempdir().unwrap();
        let fifo_path = dir.path().join("input");
        mkfifo(&fifo_path);
        let mut args: Vec<&str> = vec!["fs"];
        args.extend_from_slice(verb);
        let fifo_arg = fifo_path.to_str().unwrap().to_string();
        args.push(&fifo_arg);
        args.push(path);
        let child = cluster
            .granary_cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn granary");
        // Opening for writing waits for the child to open its end.
        let fifo = File::options().write(true).open(&fifo_path).unwrap();
        FifoWriter {
            child,
            fifo: Some(fifo),
            _dir: dir,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.fifo.as_mut().unwrap().write_all(data).unwrap();
    }

    /// Ends the input (the child sends what it spooled) without waiting for the child.
    pub fn end_input(&mut self) {
        drop(self.fifo.take());
    }

    /// SIGKILLs the child and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for FifoWriter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a plain syscall on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
}

fn is_sidecar(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "meta")
}

/// A replica's data file, `blk_<id>`: no extension, and not a hidden temporary.
fn is_data(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| !name.to_string_lossy().contains('.'))
}

fn sizes(paths: impl Iterator<Item = PathBuf>) -> Vec<u64> {
    paths
        .filter_map(|path| path.metadata().ok().map(|m| m.len()))
        .collect()
}

/// Finalized replicas (sidecars) in a datanode's data directory.
pub fn finalized_replicas(data_dir: &Path) -> usize {
    replica_files(data_dir)
        .iter()
        .filter(|f| is_sidecar(f))
        .count()
}

/// The sizes of the replica data files in a datanode's data directory (finalized or being
/// appended to in place).
pub fn replica_lengths(data_dir: &Path) -> Vec<u64> {
    sizes(
        replica_files(data_dir)
            .into_iter()
            .filter(|f| !is_sidecar(f)),
    )
}

/// The sizes of the sidecars in a datanode's data directory: one grows when its replica is
/// finalized longer.
pub fn sidecar_sizes(data_dir: &Path) -> Vec<u64> {
    sizes(
        replica_files(data_dir)
            .into_iter()
            .filter(|f| is_sidecar(f)),
    )
}

/// Waits until every datanode holds `count` finalized replicas.
pub fn wait_for_replicas(cluster: &TestCluster, count: usize) {
    let dirs: Vec<PathBuf> = cluster
        .status()
        .datanodes
        .into_iter()
        .map(|d| d.data_dir)
        .collect();
    cluster.wait_for(
        &format!("{count} finalized replicas on every datanode"),
        Duration::from_secs(20),
        || dirs.iter().all(|dir| finalized_replicas(dir) == count),
    );
}

/// Waits until `path` is closed (no lease holder); returns its length.
pub async fn wait_closed(fs: &Granary, path: &FsPath) -> u64 {
    fs.wait_closed(path, RECOVERY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{path} not closed: {e}"))
        .length
}

/// Reads every block of `path` from every datanode the namenode locates it on, each replica
/// verified chunk by chunk by its datanode and framed with a CRC, and compares the bytes with
/// `reference`.
pub async fn every_replica_matches(cluster: &TestCluster, path: &FsPath, reference: &[u8]) {
    use futures_util::StreamExt;
    let fs = cluster.client();
    let located = fs.locate(path).await.unwrap();
    assert_eq!(
        located.status.length,
        reference.len() as u64,
        "{path} length"
    );
    let http = reqwest::Client::new();
    let mut covered = 0;
    for block in &located.blocks {
        assert_eq!(block.offset, covered, "{path}: blocks are contiguous");
        assert!(!block.locations.is_empty(), "{}: no replica", block.id);
        for replica in &block.locations {
            let mut frames = granary_client::transfer::read_block(
                &http,
                replica,
                block.id,
                block.generation,
                0,
                block.length,
                Duration::from_secs(5),
            )
            .await
            .unwrap_or_else(|e| panic!("{} on {}: {e}", block.id, replica.id));
            let mut bytes = Vec::with_capacity(block.length as usize);
            while let Some(frame) = frames.next().await {
                let frame = frame.unwrap_or_else(|e| panic!("{} on {}: {e}", block.id, replica.id));
                bytes.extend_from_slice(&frame.data);
            }
            let start = block.offset as usize;
            let expected = &reference[start..start + block.length as usize];
            assert!(
                bytes == expected,
                "{} on {}: {} bytes differ from the reference",
                block.id,
                replica.id,
                bytes.len()
            );
        }
        covered += block.length;
    }
    assert_eq!(covered, reference.len() as u64);
}

/// Waits until fsck of `/` is HEALTHY with every block fully replicated.
pub fn wait_healthy(cluster: &TestCluster) {
    cluster.wait_for(
        "fsck HEALTHY and fully replicated",
        Duration::from_secs(40),
        || cluster.fully_replicated(),
    );
}
