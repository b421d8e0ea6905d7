//! `hdfs dfs` habits through the real CLI: `touchz`, `test`, `rmdir`, and the hint for a
//! dash before an fs command.

use granary_integration_tests::{ClusterSpec, TestCluster};

fn small_cluster() -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    })
}

#[test]
fn touchz_creates_empty_files_and_refuses_anything_else_there() {
    let cluster = small_cluster();
    cluster.granary(&["fs", "mkdir", "-p", "/d"]).ok();
    cluster.granary(&["fs", "touchz", "/d/a", "/d/b"]).ok();
    let listing = cluster.granary(&["fs", "ls", "/d"]).ok().stdout;
    assert!(
        listing.contains("/d/a") && listing.contains("/d/b"),
        "{listing}"
    );
    // An existing empty file is fine, again.
    cluster.granary(&["fs", "touchz", "/d/a"]).ok();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), b"data").unwrap();
    cluster
        .granary(&["fs", "put", local.path().to_str().unwrap(), "/d/full"])
        .ok();
    let line = cluster
        .granary(&["fs", "touchz", "/d/full"])
        .fails_with_one_line();
    assert!(line.contains("not a zero-length file"), "{line}");
    let line = cluster
        .granary(&["fs", "touchz", "/d"])
        .fails_with_one_line();
    assert!(line.contains("is a directory"), "{line}");
    assert_eq!(
        cluster.granary(&["fs", "cat", "/d/full"]).ok().stdout,
        "data"
    );
}

#[test]
fn test_answers_by_exit_status_only() {
    let cluster = small_cluster();
    cluster.granary(&["fs", "mkdir", "-p", "/d"]).ok();
    cluster.granary(&["fs", "touchz", "/d/empty"]).ok();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), b"x").unwrap();
    cluster
        .granary(&["fs", "put", local.path().to_str().unwrap(), "/d/one"])
        .ok();
    for (flag, path, holds) in [
        ("-e", "/d", true),
        ("-e", "/nope", false),
        ("-d", "/d", true),
        ("-d", "/d/one", false),
        ("-f", "/d/one", true),
        ("-f", "/d", false),
        ("-s", "/d/one", true),
        ("-s", "/d/empty", false),
        ("-z", "/d/empty", true),
        ("-z", "/d/one", false),
    ] {
        let out = cluster.granary(&["fs", "test", flag, path]);
        assert_eq!(out.success, holds, "test {flag} {path}");
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "test {flag} {path} prints nothing"
        );
    }
    let both = cluster.granary(&["fs", "test", "-e", "-d", "/d"]);
    assert!(!both.success, "one check at a time");
}

#[test]
fn rmdir_removes_only_empty_directories() {
    let cluster = small_cluster();
    cluster
        .granary(&["fs", "mkdir", "-p", "/e", "/full/sub"])
        .ok();
    cluster.granary(&["fs", "touchz", "/f"]).ok();
    cluster.granary(&["fs", "rmdir", "/e"]).ok();
    assert!(!cluster.granary(&["fs", "test", "-e", "/e"]).success);
    for (path, expected) in [
        ("/full", "not empty"),
        ("/f", "not a directory"),
        ("/missing", "no such directory"),
    ] {
        let line = cluster
            .granary(&["fs", "rmdir", path])
            .fails_with_one_line();
        assert!(line.contains(expected), "{path}: {line}");
    }
    assert!(cluster.granary(&["fs", "test", "-d", "/full/sub"]).success);
    assert!(cluster.granary(&["fs", "test", "-f", "/f"]).success);
}

#[test]
fn a_dash_before_an_fs_command_gets_a_hint() {
    let cluster = small_cluster();
    let out = cluster.granary(&["fs", "-ls", "/"]);
    assert_eq!(out.code, Some(2), "a usage error");
    assert!(
        out.stderr.contains("did you mean `granary fs ls`?"),
        "{}",
        out.stderr
    );
}
