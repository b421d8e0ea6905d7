//! Stopping, restarting and watching single daemons of a test cluster: a fault-injection test
//! restarts one daemon with `FAILPOINTS` in its environment, waits for it to crash, and
//! starts it again without.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{exited, TestCluster};

/// One daemon of a test cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Namenode,
    /// The datanode with this index.
    Datanode(u32),
}

impl TestCluster {
    /// The pid of `daemon` as the cluster recorded it.
    pub fn pid(&self, daemon: Daemon) -> u32 {
        match daemon {
            Daemon::Namenode => self.status().namenode.pid,
            Daemon::Datanode(index) => self.datanode(index).pid,
        }
        .expect("daemon pid")
    }

    /// The argument that identifies `daemon`'s process (its metadata or data directory).
    fn marker(&self, daemon: Daemon) -> PathBuf {
        match daemon {
            Daemon::Namenode => self.meta_dir(),
            Daemon::Datanode(index) => self.datanode(index).data_dir,
        }
    }

    /// Stops `daemon` cleanly (SIGTERM) and waits until it is gone.
    pub fn stop(&self, daemon: Daemon) {
        let pid = self.pid(daemon);
        let marker = self.marker(daemon);
        if exited(pid) {
            return;
        }
        signal_verified(pid, &marker, libc::SIGTERM);
        wait_gone(pid, Duration::from_secs(20));
    }

    /// Starts `daemon` again (stopping it first if it runs) with `extra` in its environment,
    /// e.g. `FAILPOINTS`; returns once it is up (a datanode: registered). Any other daemon
    /// that is down is started too, with the same environment.
    pub fn restart(&self, daemon: Daemon, extra: &[(&str, &str)]) {
        self.stop(daemon);
        let out = self.cluster_cmd_with_env(&["up"], extra);
        assert!(
            out.success,
            "restarting {daemon:?} with {extra:?} failed (a FAILPOINTS test needs binaries \
             built with `--features granary-namenode/failpoints,granary-datanode/failpoints`, \
             as scripts/test.sh builds them): {}",
            out.stderr
        );
    }

    /// Waits until `daemon` has crashed at failpoint `point` (its process ended, its log
    /// shows the failpoint's panic); panics after `timeout`.
    pub fn wait_crashed_at(&self, daemon: Daemon, point: &str, timeout: Duration) {
        self.wait_crashed(daemon, timeout);
        let log = match daemon {
            Daemon::Namenode => self.dir.path().join("logs").join("namenode.log"),
            Daemon::Datanode(index) => self
                .dir
                .path()
                .join("logs")
                .join(format!("datanode-{index}.log")),
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains(&format!("failpoint {point} panic")),
            "{daemon:?} did not crash at {point} (see {})",
            log.display()
        );
    }

    /// Waits until `daemon`'s process has ended on its own (a crash); panics after `timeout`.
    pub fn wait_crashed(&self, daemon: Daemon, timeout: Duration) {
        let pid = self.pid(daemon);
        let deadline = Instant::now() + timeout;
        while !exited(pid) {
            assert!(
                Instant::now() < deadline,
                "{daemon:?} (pid {pid}) did not crash within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while `daemon`'s recorded process runs.
    pub fn is_running(&self, daemon: Daemon) -> bool {
        !exited(self.pid(daemon))
    }

    /// Waits until the namenode accepts writes (start-up safe mode is over).
    pub fn wait_writable(&self, timeout: Duration) {
        self.wait_for("the end of safe mode", timeout, || {
            let out = self.granary(&["admin", "safemode", "get", "--json"]);
            out.success
                && serde_json::from_str::<serde_json::Value>(&out.stdout)
                    .is_ok_and(|v| v["on"] == false)
        });
    }
}

/// Sends `sig` to `pid` after checking that it is the daemon whose command line holds `marker`.
pub(crate) fn signal_verified(pid: u32, marker: &Path, sig: libc::c_int) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut needle = marker.as_os_str().as_encoded_bytes().to_vec();
    needle.push(0);
    assert!(
        cmdline
            .windows(needle.len())
            .any(|w| w == needle.as_slice()),
        "pid {pid} is not the expected daemon"
    );
    // SAFETY: plain kill(2) of a pid verified above to be this cluster's daemon.
    unsafe { libc::kill(pid as i32, sig) };
}

pub(crate) fn wait_gone(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !exited(pid) {
        assert!(Instant::now() < deadline, "pid {pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}
