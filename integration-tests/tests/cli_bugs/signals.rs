//! SIGINT and SIGTERM during `fs get`, `fs put` and `fs append`: exit 130, no temporary file,
//! an abandoned put deleted (its lease released, its replicas deleted), an append closed.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use granary_integration_tests::{test_bytes, ClusterSpec, TestCluster};

use super::files_below;

/// A `granary` process a test started; killed and reaped when dropped, also on failure.
struct Running(Child);

impl Running {
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: plain kill(2) of the child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, sig) };
    }

    /// Its exit code, waiting up to `limit`; panics if it is still running then.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        for _ in 0..limit.as_millis() / 20 + 1 {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "granary did not end within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("granary did not end within {limit:?}");
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        }
        text
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cluster: &TestCluster, args: &[&str]) -> Running {
    let child = cluster
        .granary_cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run granary");
    Running(child)
}

#[test]
fn a_signal_during_get_removes_its_temporary_file_and_exits_130() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        stall_timeout: Some("60s"),
        ..Default::default()
    });
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    std::fs::write(&src, test_bytes(3_000_000, 5)).unwrap();
    cluster
        .granary(&["fs", "put", src.to_str().unwrap(), "/big"])
        .ok();
    // A stopped datanode keeps the get waiting for data, its temporary file open.
    let _stopped = cluster.stop_datanode(0);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let out_dir = tempfile::tempdir().unwrap();
        let mut get = spawn(
            &cluster,
            &["fs", "get", "/big", out_dir.path().to_str().unwrap()],
        );
        cluster.wait_for("the temporary file", Duration::from_secs(10), || {
            !files_below(out_dir.path()).is_empty()
        });
        get.signal(sig);
        assert_eq!(
            get.exit_code(Duration::from_secs(10)),
            Some(130),
            "signal {sig}"
        );
        let stderr = get.stderr();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        let left: Vec<PathBuf> = files_below(out_dir.path());
        assert!(left.is_empty(), "signal {sig} left {left:?}");
    }
}

/// Block ids of every replica file (finalized or being written) in the cluster's data dirs.
fn replica_ids(cluster: &TestCluster) -> Vec<u64> {
    let mut ids: Vec<u64> = cluster
        .status()
        .datanodes
        .iter()
        .flat_map(|d| files_below(&d.data_dir))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let digits: String = name
                .strip_prefix("blk_")?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn lease_holder(cluster: &TestCluster, path: &str) -> Option<serde_json::Value> {
    let out = cluster.granary(&["fs", "stat", "--json", path]);
    if !out.success {
        return None;
    }
    let stat: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    Some(stat["lease_holder"].clone())
}

#[test]
fn a_signal_during_put_abandons_the_file_and_during_append_closes_it() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 2,
        replication: 2,
        ..Default::default()
    });
    let local = tempfile::tempdir().unwrap();
    let retry = local.path().join("retry");
    std::fs::write(&retry, b"retried\n").unwrap();
    let retry = retry.to_str().unwrap();

    for (sig, path) in [(libc::SIGINT, "/put-int"), (libc::SIGTERM, "/put-term")] {
        let mut put = spawn(&cluster, &["fs", "put", "-", path]);
        let mut stdin = put.0.stdin.take().unwrap();
        // A block and a half (blocks are 1 MiB): the first block is written, the rest waits
        // in the spool for more, as stdin stays open.
        stdin.write_all(&test_bytes(1_600_000, 9)).unwrap();
        cluster.wait_for("the put's replicas", Duration::from_secs(10), || {
            !replica_ids(&cluster).is_empty()
        });
        let abandoned = replica_ids(&cluster);
        put.signal(sig);
        assert_eq!(
            put.exit_code(Duration::from_secs(15)),
            Some(130),
            "signal {sig}"
        );
        let stderr = put.stderr();
        assert!(stderr.contains("deleted the partial"), "{stderr}");
        drop(stdin);

        let line = cluster.granary(&["fs", "stat", path]).fails_with_one_line();
        assert!(line.contains("no such file"), "{line}");
        // The lease went with the file: a retry needs no wait.
        cluster.granary(&["fs", "put", retry, path]).ok();
        assert_eq!(
            cluster.granary(&["fs", "cat", path]).ok().stdout,
            "retried\n"
        );
        cluster.granary(&["fs", "rm", "-skipTrash", path]).ok();
        cluster.wait_for(
            "the abandoned replicas to go",
            Duration::from_secs(20),
            || {
                replica_ids(&cluster)
                    .iter()
                    .all(|id| !abandoned.contains(id))
            },
        );
    }

    let original = test_bytes(100, 3);
    let src = local.path().join("original");
    std::fs::write(&src, &original).unwrap();
    cluster
        .granary(&["fs", "put", src.to_str().unwrap(), "/appended"])
        .ok();
    let mut append = spawn(&cluster, &["fs", "append", "-", "/appended"]);
    let mut stdin = append.0.stdin.take().unwrap();
    stdin.write_all(&test_bytes(10_000, 4)).unwrap();
    cluster.wait_for(
        "the append to open the file",
        Duration::from_secs(10),
        || lease_holder(&cluster, "/appended").is_some_and(|h| !h.is_null()),
    );
    append.signal(libc::SIGINT);
    assert_eq!(append.exit_code(Duration::from_secs(15)), Some(130));
    drop(stdin);
    cluster.wait_for(
        "the appended file to close",
        Duration::from_secs(20),
        || lease_holder(&cluster, "/appended").is_some_and(|h| h.is_null()),
    );
    let fetched = local.path().join("fetched");
    cluster
        .granary(&["fs", "get", "/appended", fetched.to_str().unwrap()])
        .ok();
    let content = std::fs::read(&fetched).unwrap();
    assert!(
        content.starts_with(&original),
        "the append lost the original bytes"
    );
    // Closed, not left to its lease: the next append starts at once.
    cluster.granary(&["fs", "append", retry, "/appended"]).ok();
}
