//! `granary fs cp` through the real CLI and daemons: server-side copies (the datanodes clone
//! their replicas), the streamed fallback when a holder is stopped or every clone fails,
//! overwriting, several sources, directories, and bad input. The failing-clone test arms the
//! datanodes' `replica::clone_fsync` failpoint, so it needs the daemons built with the
//! failpoints compiled in (as `scripts/test.sh` builds them).

use std::collections::BTreeSet;
use std::time::Duration;

use granary_integration_tests::{replica_files, test_bytes, ClusterSpec, TestCluster};
use serde_json::Value;

/// 1 MiB blocks: this many bytes make four blocks, the last one partial.
const FOUR_BLOCKS: usize = 3_500_000;
const CP_TIMEOUT: Duration = Duration::from_secs(90);

fn cluster(env: Vec<(&'static str, &'static str)>) -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 3,
        replication: 2,
        stall_timeout: Some("1s"),
        env,
        ..Default::default()
    })
}

fn put(cluster: &TestCluster, bytes: &[u8], dst: &str) {
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), bytes).unwrap();
    cluster
        .granary(&["fs", "put", local.path().to_str().unwrap(), dst])
        .ok();
}

fn read(cluster: &TestCluster, path: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("out");
    cluster
        .granary(&["fs", "get", path, local.to_str().unwrap()])
        .ok();
    std::fs::read(local).unwrap()
}

fn exists(cluster: &TestCluster, path: &str) -> bool {
    cluster.granary(&["fs", "test", "-e", path]).success
}

/// `fs cp --json ARGS...`: the copied files, each with its block counts.
fn cp_json(cluster: &TestCluster, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["fs", "cp", "--json"];
    all.extend_from_slice(args);
    let out = cluster.granary_within(CP_TIMEOUT, &all).ok();
    let copied: Value = serde_json::from_str(&out.stdout).expect("cp --json prints JSON");
    copied.as_array().expect("a list of copied files").clone()
}

/// Each block of `path`: its id and the datanodes holding it.
fn blocks(cluster: &TestCluster, path: &str) -> Vec<(u64, BTreeSet<String>)> {
    let stat = cluster.json(&["fs", "stat", path]);
    stat["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let at = b["locations"].as_array().unwrap();
            let at = at.iter().map(|l| l.as_str().unwrap().to_string()).collect();
            (b["id"].as_u64().unwrap(), at)
        })
        .collect()
}

#[test]
fn a_multi_block_file_is_copied_server_side_into_independent_replicas() {
    let cluster = cluster(Vec::new());
    let bytes = test_bytes(FOUR_BLOCKS, 1);
    put(&cluster, &bytes, "/src");
    let copied = cp_json(&cluster, &["/src", "/copy"]);
    assert_eq!(copied.len(), 1);
    assert_eq!(copied[0]["dst"], "/copy");
    assert_eq!(copied[0]["length"], FOUR_BLOCKS as u64);
    assert_eq!(
        (
            copied[0]["blocks_cloned"].as_u64(),
            copied[0]["blocks_streamed"].as_u64()
        ),
        (Some(4), Some(0))
    );
    assert_eq!(read(&cluster, "/copy"), bytes);

    // New block ids, on the very datanodes that hold the source's blocks.
    let (source, copy) = (blocks(&cluster, "/src"), blocks(&cluster, "/copy"));
    assert_eq!(source.len(), 4);
    assert_eq!(copy.len(), 4);
    for ((src_id, src_at), (copy_id, copy_at)) in source.iter().zip(&copy) {
        assert_ne!(src_id, copy_id);
        assert_eq!(src_at, copy_at, "block {copy_id} of the copy");
        assert!(source.iter().all(|(id, _)| id != copy_id));
    }
    let stat = cluster.json(&["fs", "stat", "/copy"]);
    assert_eq!(stat["replication"], 2);
    assert_eq!(stat["block_size"], 1 << 20);

    // Appending to the source rewrites its last block in place: the copy is untouched.
    let more = test_bytes(300_000, 2);
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), &more).unwrap();
    cluster
        .granary(&["fs", "append", local.path().to_str().unwrap(), "/src"])
        .ok();
    assert_eq!(read(&cluster, "/src").len(), FOUR_BLOCKS + more.len());
    assert_eq!(read(&cluster, "/copy"), bytes);
    cluster.granary(&["fs", "rm", "/src"]).ok();
    assert_eq!(read(&cluster, "/copy"), bytes);

    // -v says the same in a line per file.
    let out = cluster
        .granary_within(CP_TIMEOUT, &["fs", "cp", "-v", "/copy", "/again"])
        .ok();
    assert!(
        out.stdout.contains("/copy -> /again")
            && out.stdout.contains("4 blocks cloned, 0 streamed"),
        "{}",
        out.stdout
    );
    assert_eq!(read(&cluster, "/again"), bytes);
}

#[test]
fn a_copy_with_a_holder_stopped_still_has_every_byte() {
    let cluster = cluster(Vec::new());
    let bytes = test_bytes(FOUR_BLOCKS, 3);
    put(&cluster, &bytes, "/src");
    let stopped = cluster.stop_datanode(1);
    let copied = cp_json(&cluster, &["/src", "/copy"]);
    let (cloned, streamed) = (
        copied[0]["blocks_cloned"].as_u64().unwrap(),
        copied[0]["blocks_streamed"].as_u64().unwrap(),
    );
    assert_eq!(cloned + streamed, 4, "{copied:?}");
    // Every block has a live holder besides the stopped one (replication 2).
    assert_eq!(cloned, 4, "{copied:?}");
    drop(stopped);
    assert_eq!(read(&cluster, "/copy"), bytes);
    cluster.wait_for("the copy fully replicated", Duration::from_secs(30), || {
        cluster.fully_replicated()
    });
}

#[test]
fn a_copy_is_streamed_when_every_clone_fails() {
    let cluster = cluster(vec![("FAILPOINTS", "replica::clone_fsync=return")]);
    let bytes = test_bytes(FOUR_BLOCKS, 4);
    put(&cluster, &bytes, "/src");
    let copied = cp_json(&cluster, &["/src", "/copy"]);
    assert_eq!(
        (
            copied[0]["blocks_cloned"].as_u64(),
            copied[0]["blocks_streamed"].as_u64()
        ),
        (Some(0), Some(4))
    );
    assert_eq!(read(&cluster, "/copy"), bytes);
    let (source, copy) = (blocks(&cluster, "/src"), blocks(&cluster, "/copy"));
    assert_eq!(copy.len(), 4);
    assert!(copy
        .iter()
        .all(|(id, _)| source.iter().all(|(s, _)| s != id)));
    // The failed clones left nothing behind: two files of four blocks, two replicas each, a data file and a sidecar per replica.
    let replicas = || -> usize {
        (0..3)
            .map(|i| replica_files(&cluster.datanode(i).data_dir).len())
            .sum()
    };
    cluster.wait_for(
        "two replicas of each block, nothing else",
        Duration::from_secs(20),
        || replicas() == 32,
    );
}

#[test]
fn cp_refuses_to_overwrite_without_f_and_overwrites_with_it() {
    let cluster = cluster(Vec::new());
    put(&cluster, b"first", "/a");
    put(&cluster, b"second", "/b");
    let line = cluster
        .granary_within(CP_TIMEOUT, &["fs", "cp", "/a", "/b"])
        .fails_with_one_line();
    assert!(line.contains("exists") && line.contains("-f"), "{line}");
    assert_eq!(read(&cluster, "/b"), b"second");
    cluster
        .granary_within(CP_TIMEOUT, &["fs", "cp", "-f", "/a", "/b"])
        .ok();
    assert_eq!(read(&cluster, "/b"), b"first");
    assert_eq!(read(&cluster, "/a"), b"first");
    // An empty file copies too.
    cluster.granary(&["fs", "touchz", "/empty"]).ok();
    let copied = cp_json(&cluster, &["/empty", "/empty2"]);
    assert_eq!(copied[0]["length"], 0);
    assert!(cluster.granary(&["fs", "test", "-z", "/empty2"]).success);
}

#[test]
fn cp_copies_several_sources_into_a_directory_and_directories_recursively() {
    let cluster = cluster(Vec::new());
    put(&cluster, b"x-bytes", "/x");
    cluster
        .granary(&["fs", "mkdir", "-p", "/tree/sub/empty", "/d"])
        .ok();
    put(&cluster, &test_bytes(1_200_000, 5), "/tree/sub/big");
    put(&cluster, b"a-bytes", "/tree/a");

    let copied = cp_json(&cluster, &["/x", "/tree/a", "/d"]);
    assert_eq!(copied.len(), 2);
    assert_eq!(read(&cluster, "/d/x"), b"x-bytes");
    assert_eq!(read(&cluster, "/d/a"), b"a-bytes");

    // A directory to a new name, then into an existing directory.
    let copied = cp_json(&cluster, &["/tree", "/tree2"]);
    assert_eq!(copied.len(), 2, "{copied:?}");
    cluster
        .granary_within(CP_TIMEOUT, &["fs", "cp", "/tree", "/d/"])
        .ok();
    for root in ["/tree2", "/d/tree"] {
        assert_eq!(read(&cluster, &format!("{root}/a")), b"a-bytes");
        assert_eq!(
            read(&cluster, &format!("{root}/sub/big")),
            test_bytes(1_200_000, 5)
        );
        assert!(
            cluster
                .granary(&["fs", "test", "-d", &format!("{root}/sub/empty")])
                .success
        );
    }
    // A second copy over the tree needs -f for its files.
    let line = cluster
        .granary_within(CP_TIMEOUT, &["fs", "cp", "/tree", "/d"])
        .fails_with_one_line();
    assert!(line.contains("-f"), "{line}");
    cluster
        .granary_within(CP_TIMEOUT, &["fs", "cp", "-f", "/tree", "/d"])
        .ok();
    assert_eq!(read(&cluster, "/d/tree/a"), b"a-bytes");
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let cluster = cluster(Vec::new());
    put(&cluster, b"x-bytes", "/x");
    put(&cluster, b"y-bytes", "/y");
    cluster.granary(&["fs", "mkdir", "/tree"]).ok();
    for (args, expected) in [
        (vec!["/missing", "/z"], "/missing"),
        (vec!["/x", "/missing", "/tree"], "/missing"),
        (vec!["/x", "/y", "/z"], "not an existing directory"),
        (vec!["/x", "/nodir/"], "no such directory"),
        (vec!["/x", "/x"], "same file"),
        (vec!["/tree", "/tree/inner"], "into itself"),
        (vec!["/x", "/no/parent/z"], "/no"),
        (vec!["/x", "rel"], "rel"),
    ] {
        let mut all = vec!["fs", "cp"];
        all.extend_from_slice(&args);
        let line = cluster
            .granary_within(CP_TIMEOUT, &all)
            .fails_with_one_line();
        assert!(line.contains(expected), "cp {args:?}: {line}");
    }
    for path in ["/z", "/tree/x", "/tree/inner", "/no", "/nodir"] {
        assert!(!exists(&cluster, path), "{path}");
    }
    let usage = cluster.granary(&["fs", "cp", "/x"]);
    assert_eq!(usage.code, Some(2), "one argument is a usage error");
    assert_eq!(read(&cluster, "/x"), b"x-bytes");
}

/// A `granary` process a test started; killed and reaped when dropped, also on failure.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_interrupted_copy_deletes_its_partial_file_and_exits_130() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        stall_timeout: Some("60s"),
        ..Default::default()
    });
    put(&cluster, &test_bytes(FOUR_BLOCKS, 6), "/src");
    // The only holder, stopped, keeps the copy waiting on its first clone, the copy open.
    let stopped = cluster.stop_datanode(0);
    let mut cp = Running(
        cluster
            .granary_cmd(&["fs", "cp", "/src", "/copy"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run granary"),
    );
    cluster.wait_for("the copy to be open", Duration::from_secs(20), || {
        let out = cluster.granary(&["fs", "stat", "--json", "/copy"]);
        out.success && !out.stdout.contains("\"lease_holder\": null")
    });
    // SAFETY: plain kill(2) of the child this test started and has not reaped.
    unsafe { libc::kill(cp.0.id() as i32, libc::SIGINT) };
    let mut code = None;
    for _ in 0..500 {
        if let Ok(Some(status)) = cp.0.try_wait() {
            code = status.code();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(code, Some(130));
    let mut stderr = String::new();
    if let Some(mut pipe) = cp.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
    }
    assert!(stderr.contains("deleted the partial /copy"), "{stderr}");
    assert!(!exists(&cluster, "/copy"));
    drop(stopped);
    assert_eq!(read(&cluster, "/src"), test_bytes(FOUR_BLOCKS, 6));
}

#[test]
fn ctrl_c_between_two_files_of_a_tree_stops_the_copy_too() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    });
    // A file first, then a long stretch of directories: after the file, the copy only walks
    // and makes directories, with no file being copied when the signal comes.
    const DIRS: usize = 3000;
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("a"), b"first").unwrap();
    for i in 0..DIRS {
        std::fs::create_dir(local.path().join(format!("d{i:05}"))).unwrap();
    }
    cluster
        .granary_within(
            CP_TIMEOUT,
            &["fs", "put", local.path().to_str().unwrap(), "/t"],
        )
        .ok();
    let mut cp = Running(
        cluster
            .granary_cmd(&["fs", "cp", "/t", "/copy"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run granary"),
    );
    cluster.wait_for("the first file copied", Duration::from_secs(20), || {
        exists(&cluster, "/copy/a") && exists(&cluster, "/copy/d00000")
    });
    // SAFETY: plain kill(2) of the child this test started and has not reaped.
    unsafe { libc::kill(cp.0.id() as i32, libc::SIGINT) };
    let mut code = None;
    for _ in 0..500 {
        if let Ok(Some(status)) = cp.0.try_wait() {
            code = status.code();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(code, Some(130), "the Ctrl-C was not swallowed");
    let count = cluster.granary(&["fs", "count", "/copy"]).ok().stdout;
    let dirs: usize = count.split_whitespace().next().unwrap().parse().unwrap();
    assert!(dirs < DIRS + 1, "the copy stopped early: {count}");
}
