//! What the crash tests share: writing files until a daemon crashes, and checking afterwards
//! that every acknowledged file is there with its exact bytes and nothing half-done is visible.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use granary_client::protocol::FileKind;
use granary_client::{ClientConfig, FsPath, Granary, PutOptions};
use granary_integration_tests::{test_bytes, Daemon, TestCluster};

/// Longest one put may take, recovery and the client's retries included.
const PUT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the cluster may take to replicate everything again after a restart.
pub const HEAL_TIMEOUT: Duration = Duration::from_secs(40);

pub fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

/// A client that fails at once when the namenode is down (no retry window), so a test sees
/// which write the crash failed.
pub fn impatient_client(cluster: &TestCluster) -> Granary {
    let config = ClientConfig {
        namenode_retry_window: Duration::ZERO,
        ..cluster.client_config()
    };
    Granary::new(config).expect("client")
}

/// Files written by a test: the acknowledged ones, and the one whose put failed.
#[derive(Default)]
pub struct Written {
    pub acked: Vec<(FsPath, Vec<u8>)>,
    pub unacked: Vec<(FsPath, Vec<u8>)>,
}

impl Written {
    /// Puts `count` files of `len` bytes under `dir`; all must be acknowledged.
    pub async fn put_all(&mut self, fs: &Granary, dir: &str, count: u64, len: usize) {
        for i in 0..count {
            let (path, data) = file(dir, i, len);
            fs.put_bytes(&data, &path, &opts()).await.unwrap();
            self.acked.push((path, data));
        }
    }

    /// Puts files under `dir`, one at a time, until `daemon` has crashed at `point` (at most
    /// `max` files); records which were acknowledged. Returns once the daemon is gone.
    pub async fn put_until_crash(
        &mut self,
        cluster: &TestCluster,
        fs: &Granary,
        (daemon, point): (Daemon, &str),
        dir: &str,
        max: u64,
        len: usize,
    ) {
        for i in 0..max {
            let (path, data) = file(dir, i, len);
            let options = opts();
            let put = tokio::time::timeout(PUT_TIMEOUT, fs.put_bytes(&data, &path, &options));
            match put.await {
                Ok(Ok(_)) => self.acked.push((path, data)),
                Ok(Err(_)) | Err(_) => {
                    self.unacked.push((path, data));
                    break;
                }
            }
            if !cluster.is_running(daemon) {
                break;
            }
        }
        cluster.wait_crashed_at(daemon, point, Duration::from_secs(20));
    }

    /// Every acknowledged file is complete with its exact bytes; a file whose put failed is
    /// either absent or complete with its exact bytes; and nothing else is visible under `/`.
    pub async fn verify(&self, fs: &Granary) {
        for (path, data) in &self.acked {
            let read = fs.read_to_vec(path).await;
            let read = read.unwrap_or_else(|e| panic!("acknowledged {path} lost: {e}"));
            assert!(read == *data, "acknowledged {path} has other bytes");
        }
        for (path, data) in &self.unacked {
            let Some(status) = fs.try_stat(path).await.unwrap() else {
                continue;
            };
            let read = fs.read_to_vec(path).await.unwrap();
            if status.lease_holder.is_some() {
                // Still open (its writer's lease outlives the crash): only ever a prefix of
                // what was sent, and marked as open.
                assert!(data.starts_with(&read), "open {path} holds other bytes");
            } else {
                assert!(read == *data, "unacknowledged {path} is visible half-done");
            }
        }
        for entry in fs.list(&p("/"), true).await.unwrap() {
            if entry.kind == FileKind::File {
                let ours = self.acked.iter().chain(&self.unacked);
                assert!(
                    ours.clone().any(|(path, _)| *path == entry.path),
                    "{} is visible but was never written",
                    entry.path
                );
            }
        }
    }

    /// The unacknowledged file, which the test expects to be present (its change was durable
    /// before the crash) or absent (it never reached the disk).
    pub async fn assert_in_flight(&self, fs: &Granary, present: bool) {
        let (path, _) = self.unacked.first().expect("a put failed at the crash");
        let found = fs.try_stat(path).await.unwrap().is_some();
        assert_eq!(found, present, "{path}: present after the restart");
    }

    /// The unacknowledged file is there but still open for writing, with nothing readable
    /// (its create was durable, nothing after it).
    pub async fn assert_in_flight_open(&self, fs: &Granary) {
        let (path, _) = self.unacked.first().expect("a put failed at the crash");
        let status = fs.try_stat(path).await.unwrap();
        let status = status.unwrap_or_else(|| panic!("{path}: absent after the restart"));
        assert!(status.lease_holder.is_some(), "{path} is open for writing");
        assert_eq!(status.length, 0, "{path}: nothing committed");
    }
}

fn file(dir: &str, i: u64, len: usize) -> (FsPath, Vec<u8>) {
    // Sizes vary, so some files end mid-chunk and some span blocks.
    let len = len + (i as usize * 7919) % (len / 2 + 1);
    (p(&format!("{dir}/f{i:03}")), test_bytes(len, i + 1))
}

fn opts() -> PutOptions {
    PutOptions {
        create_parents: true,
        ..PutOptions::default()
    }
}

/// Waits until fsck is healthy with every block fully replicated.
pub fn wait_healthy(cluster: &TestCluster) {
    cluster.wait_for("full replication", HEAL_TIMEOUT, || {
        cluster.fully_replicated()
    });
}

/// Data files in a datanode's `current/` that have no sidecar: not replicas, and never
/// visible after a start-up.
pub fn data_files_without_sidecar(data_dir: &Path) -> Vec<String> {
    let mut orphans = Vec::new();
    let Ok(buckets) = std::fs::read_dir(data_dir.join("current")) else {
        return orphans;
    };
    for bucket in buckets.flatten() {
        for entry in std::fs::read_dir(bucket.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_data = name.starts_with("blk_") && !name.ends_with(".meta");
            if is_data && !bucket.path().join(format!("{name}.meta")).exists() {
                orphans.push(name);
            }
        }
    }
    orphans
}

/// The blocks a datanode's `current/` holds a replica (data file and sidecar) of.
pub fn replica_ids(data_dir: &Path) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    let Ok(buckets) = std::fs::read_dir(data_dir.join("current")) else {
        return ids;
    };
    for bucket in buckets.flatten() {
        for entry in std::fs::read_dir(bucket.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name
                .strip_suffix(".meta")
                .and_then(|stem| stem.strip_prefix("blk_"))
                .and_then(|id| id.parse().ok());
            if let Some(id) = id {
                if bucket.path().join(format!("blk_{id}")).is_file() {
                    ids.insert(id);
                }
            }
        }
    }
    ids
}

/// Every block of the files `written` holds (the unacknowledged ones if present), as the
/// namenode locates them.
pub async fn known_blocks(fs: &Granary, written: &Written) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    for (path, _) in written.acked.iter().chain(&written.unacked) {
        if fs.try_stat(path).await.unwrap().is_some() {
            let located = fs.locate(path).await.unwrap();
            ids.extend(located.blocks.iter().map(|b| b.id.0));
        }
    }
    ids
}

/// Entries in a datanode's `tmp/`.
pub fn temp_files(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("tmp"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}
