//! Test harness: a real cluster (namenode and datanode processes started by `granary cluster
//! up`) in a temporary directory, on loopback with ephemeral ports, stopped when dropped —
//! also when the test fails.

mod daemons;
pub mod datagen;

pub use daemons::Daemon;

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use granary_client::{ClientConfig, Granary};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Settings of a test cluster; small blocks and fast timers by default.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub datanodes: u32,
    pub block_size: &'static str,
    pub replication: u16,
    pub heartbeat_interval: &'static str,
    pub dead_after: &'static str,
    pub racks: u32,
    /// Environment for the daemons (they inherit it from `granary cluster up`), e.g.
    /// `GRANARY_SCAN_PERIOD` for a fast block scanner.
    pub env: Vec<(&'static str, &'static str)>,
    /// The stall timeout of the datanodes, of `granary` commands and of [`TestCluster::client`]
    /// (`GRANARY_STALL_TIMEOUT`); `None` keeps the default (5 s).
    pub stall_timeout: Option<&'static str>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            datanodes: 3,
            block_size: "1M",
            replication: 3,
            heartbeat_interval: "200ms",
            dead_after: "30s",
            racks: 0,
            env: Vec::new(),
            stall_timeout: None,
        }
    }
}

/// A running test cluster.
pub struct TestCluster {
    pub dir: TempDir,
    pub url: String,
    env: Vec<(&'static str, &'static str)>,
    stall_timeout: Option<Duration>,
}

/// What a CLI run printed and how it ended.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(o: Output) -> Self {
        CliOutput {
            success: o.status.success(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl CliOutput {
    /// Panics with the output unless the command succeeded.
    pub fn ok(self) -> Self {
        assert!(
            self.success,
            "command failed ({:?}): stdout={} stderr={}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command failed with exactly one line on stderr; returns that line.
    pub fn fails_with_one_line(self) -> String {
        assert!(
            !self.success,
            "command unexpectedly succeeded: {}",
            self.stdout
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one error line, got: {:?}",
            self.stderr
        );
        lines[0].to_string()
    }
}

/// `cluster status --json`, the parts tests use.
#[derive(Debug, Deserialize)]
pub struct ClusterStatus {
    pub namenode: NamenodeStatus,
    pub datanodes: Vec<DatanodeStatus>,
}

#[derive(Debug, Deserialize)]
pub struct NamenodeStatus {
    pub url: Option<String>,
    pub pid: Option<u32>,
    pub running: bool,
}

#[derive(Debug, Deserialize)]
pub struct DatanodeStatus {
    pub index: u32,
    pub id: Option<String>,
    pub address: Option<String>,
    pub pid: Option<u32>,
    pub running: bool,
    pub data_dir: PathBuf,
}

/// Every file of the finalized replicas in a datanode's data directory (data files and their
/// `.meta` sidecars, in `current/<bucket>/`).
pub fn replica_files(data_dir: &Path) -> Vec<PathBuf> {
    let Ok(buckets) = std::fs::read_dir(data_dir.join("current")) else {
        return Vec::new();
    };
    buckets
        .flatten()
        .filter_map(|bucket| std::fs::read_dir(bucket.path()).ok())
        .flat_map(|files| files.flatten())
        .map(|file| file.path())
        .collect()
}

/// Directory of the workspace's binaries (`target/debug` or `target/release`), found from the
/// test executable (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    for bin in ["granary", "granary-namenode", "granary-datanode"] {
        assert!(
            dir.join(bin).is_file(),
            "{} is missing: run `cargo build --workspace` first",
            dir.join(bin).display()
        );
    }
    dir
}

pub fn granary_bin() -> PathBuf {
    bin_dir().join("granary")
}

impl TestCluster {
    pub fn start(spec: ClusterSpec) -> TestCluster {
        let dir = tempfile::Builder::new()
            .prefix("granary-test-")
            .tempdir()
            .expect("temp dir");
        let mut env = spec.env.clone();
        env.extend(spec.stall_timeout.map(|d| ("GRANARY_STALL_TIMEOUT", d)));
        let mut cluster = TestCluster {
            dir,
            url: String::new(),
            env,
            stall_timeout: spec
                .stall_timeout
                .map(|d| humantime::parse_duration(d).expect("stall_timeout")),
        };
        cluster
            .cluster_cmd(&[
                "up",
                "--port",
                "0",
                "--datanodes",
                &spec.datanodes.to_string(),
                "--block-size",
                spec.block_size,
                "--replication",
                &spec.replication.to_string(),
                "--heartbeat-interval",
                spec.heartbeat_interval,
                "--dead-after",
                spec.dead_after,
                "--racks",
                &spec.racks.to_string(),
            ])
            .ok();
        cluster.url = cluster.status().namenode.url.expect("namenode url");
        cluster
    }

    /// Runs `granary cluster <args> --dir <dir>`.
    pub fn cluster_cmd(&self, args: &[&str]) -> CliOutput {
        self.cluster_cmd_with_env(args, &[])
    }

    /// Runs `granary cluster <args> --dir <dir>` with `extra` added to the environment the
    /// daemons it starts inherit.
    pub fn cluster_cmd_with_env(&self, args: &[&str], extra: &[(&str, &str)]) -> CliOutput {
        let mut cmd = Command::new(granary_bin());
        cmd.arg("cluster")
            .args(args)
            .arg("--dir")
            .arg(self.dir.path());
        cmd.env_remove("GRANARY_NAMENODE")
            .env_remove("GRANARY_CLUSTER_DIR")
            .env_remove("FAILPOINTS")
            .envs(self.env.iter().copied())
            .envs(extra.iter().copied());
        cmd.output().expect("run granary").into()
    }

    /// Runs `granary --namenode <url> <args>` (with the cluster's stall timeout, if set).
    pub fn granary(&self, args: &[&str]) -> CliOutput {
        self.granary_cmd(args).output().expect("run granary").into()
    }

    /// Runs `granary --namenode <url> <args>` like [`TestCluster::granary`], but kills it and
    /// panics if it has not ended within `timeout`: for commands that could hang, e.g. while a
    /// datanode is stopped.
    pub fn granary_within(&self, timeout: Duration, args: &[&str]) -> CliOutput {
        let mut child = self
            .granary_cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run granary");
        // Read while it runs, so a full pipe cannot block it.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let started = Instant::now();
        let polls = timeout.as_millis() / CHILD_POLL.as_millis() + 1;
        let mut status = None;
        for _ in 0..polls {
            match child.try_wait() {
                Ok(Some(done)) => {
                    status = Some(done);
                    break;
                }
                Ok(None) if started.elapsed() < timeout => std::thread::sleep(CHILD_POLL),
                Ok(None) | Err(_) => break,
            }
        }
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "granary {args:?} still running after {:?}; killed (stderr: {})",
                started.elapsed(),
                String::from_utf8_lossy(&stderr)
            );
        };
        Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        }
        .into()
    }

    /// The command [`TestCluster::granary`] runs, for tests that spawn it themselves.
    pub fn granary_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(granary_bin());
        cmd.arg("--namenode").arg(&self.url).args(args);
        if let Some(stall) = self.stall_timeout {
            cmd.env(
                "GRANARY_STALL_TIMEOUT",
                humantime::format_duration(stall).to_string(),
            );
        }
        cmd
    }

    /// Brings back whatever is not running (`granary cluster up` on the same directory).
    pub fn up(&self) {
        self.cluster_cmd(&["up"]).ok();
    }

    pub fn status(&self) -> ClusterStatus {
        let out = self.cluster_cmd(&["status", "--json"]).ok();
        serde_json::from_str(&out.stdout).expect("cluster status --json")
    }

    pub fn client(&self) -> Granary {
        Granary::new(self.client_config()).expect("client")
    }

    /// A client whose connections come from `ip`, as a process running on that datanode's host.
    pub fn client_from(&self, ip: IpAddr) -> Granary {
        let mut config = self.client_config();
        config.local_address = Some(ip);
        Granary::new(config).expect("client")
    }

    /// The configuration of [`TestCluster::client`]: the cluster's stall timeout, if set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(&self.url);
        if let Some(stall) = self.stall_timeout {
            config.stall_timeout = stall;
        }
        config
    }

    pub fn datanode(&self, index: u32) -> DatanodeStatus {
        self.status()
            .datanodes
            .into_iter()
            .find(|d| d.index == index)
            .expect("datanode index")
    }

    /// SIGKILLs datanode `index` and waits until it is gone.
    pub fn kill_datanode(&self, index: u32) {
        let dn = self.datanode(index);
        kill9(dn.pid.expect("datanode pid"), &dn.data_dir);
    }

    /// SIGSTOPs datanode `index`; it is continued (SIGCONT) when the guard drops, also when
    /// the test fails.
    pub fn stop_datanode(&self, index: u32) -> StoppedDatanode {
        let dn = self.datanode(index);
        let pid = dn.pid.expect("datanode pid");
        daemons::signal_verified(pid, &dn.data_dir, libc::SIGSTOP);
        StoppedDatanode { pid }
    }

    /// SIGKILLs the namenode and waits until it is gone.
    pub fn kill_namenode(&self) {
        let pid = self.status().namenode.pid.expect("namenode pid");
        kill9(pid, &self.dir.path().join("namenode"));
    }

    /// The namenode's metadata directory.
    pub fn meta_dir(&self) -> PathBuf {
        self.dir.path().join("namenode")
    }

    /// `granary <args> --json`, parsed; panics unless the command succeeded.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.granary(&all).ok().stdout).expect("JSON output")
    }

    /// `admin fsck --json` of `/`, whatever its exit code.
    pub fn fsck(&self) -> serde_json::Value {
        let out = self.granary(&["admin", "fsck", "/", "--json"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("fsck --json: {e}: {} {}", out.stdout, out.stderr))
    }

    /// True when fsck says HEALTHY with nothing under- or over-replicated.
    pub fn fully_replicated(&self) -> bool {
        let f = self.fsck();
        f["status"] == "HEALTHY"
            && f["under_replicated"].as_array().is_some_and(Vec::is_empty)
            && f["over_replicated"].as_array().is_some_and(Vec::is_empty)
    }

    /// The id of datanode `index`.
    pub fn datanode_id(&self, index: u32) -> String {
        self.datanode(index).id.expect("datanode id")
    }

    /// The state `admin report` gives datanode `id` (`live`, `dead`, `decommissioned`, ...).
    pub fn datanode_state(&self, id: &str) -> String {
        let report = self.json(&["admin", "report"]);
        report["datanodes"]
            .as_array()
            .and_then(|dns| dns.iter().find(|d| d["id"] == id))
            .and_then(|d| d["state"].as_str())
            .unwrap_or("unknown")
            .to_string()
    }

    /// Polls `check` every 50 ms until it is true; panics after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !check() {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_log_tails();
        }
        let down = self.cluster_cmd(&["down"]);
        // Whatever `down` could not stop is killed by pid, so no test leaves a process behind.
        if let Ok(text) = std::fs::read_to_string(self.dir.path().join("cluster.json")) {
            if let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) {
                let nn = state["namenode"]["pid"].as_u64();
                let dns = state["datanodes"].as_array().cloned().unwrap_or_default();
                for pid in dns.iter().filter_map(|d| d["pid"].as_u64()).chain(nn) {
                    if let Ok(pid) = i32::try_from(pid) {
                        // SAFETY: plain kill(2) of a pid this test's cluster started.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        if !down.success {
            eprintln!("cluster down failed: {}", down.stderr);
        }
    }
}

impl TestCluster {
    /// The end of every daemon's log, so a failed test shows what the cluster was doing.
    fn print_log_tails(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) else {
            return;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("---- {} (last 100 lines)", entry.path().display());
            for line in &lines[lines.len().saturating_sub(100)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// A datanode stopped by [`TestCluster::stop_datanode`], continued when dropped.
#[must_use = "the datanode is continued as soon as the guard is dropped"]
pub struct StoppedDatanode {
    pid: u32,
}

impl StoppedDatanode {
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for StoppedDatanode {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) of the pid `stop_datanode` verified and stopped.
        unsafe { libc::kill(self.pid as i32, libc::SIGCONT) };
    }
}

/// How often [`TestCluster::granary_within`] looks whether its command has ended.
const CHILD_POLL: Duration = Duration::from_millis(20);

/// Reads `pipe` to its end on a thread of its own; the bytes read.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

fn kill9(pid: u32, marker: &Path) {
    daemons::signal_verified(pid, marker, libc::SIGKILL);
    daemons::wait_gone(pid, Duration::from_secs(10));
}

/// True once `pid` has released everything it held: gone, or a zombie whose other threads are
/// gone too. (Its command line empties earlier, when its memory goes, while its sockets and
/// file locks are still open; and the main thread of a crashing process turns zombie while
/// its other threads are still exiting, holding the shared file table, locks included.)
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain spaces.
        Ok(stat) => {
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
            zombie && threads_left(pid) <= 1
        }
        Err(_) => true,
    }
}

/// Threads of `pid` still listed (a thread leaves the list only after closing its files).
fn threads_left(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| tasks.count())
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A daemon a test started by hand; killed (and reaped) when dropped.
pub struct DaemonGuard(std::process::Child);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl TestCluster {
    /// Starts the cluster's namenode by itself (no datanodes), on its usual address and
    /// metadata, for tests that need it before any datanode reports.
    pub fn start_namenode_alone(&self) -> DaemonGuard {
        let addr = self.url.trim_start_matches("http://").to_string();
        let child = Command::new(bin_dir().join("granary-namenode"))
            .args(["--listen", &addr, "--meta-dir"])
            .arg(self.meta_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start namenode");
        let mut guard = DaemonGuard(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "namenode did not start");
            assert!(
                matches!(guard.0.try_wait(), Ok(None)),
                "namenode exited at start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            matches!(guard.0.try_wait(), Ok(None)),
            "namenode exited at start"
        );
        guard
    }
}
