//! The `granary` CLI: bad input is one clear line and a non-zero exit that changes nothing;
//! documented JSON keys; cluster process management.

use std::time::Duration;

use granary_integration_tests::{test_bytes, ClusterSpec, TestCluster};

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    });
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("x.txt");
    std::fs::write(&src, b"hello\n").unwrap();
    let src = src.to_str().unwrap();
    cluster.granary(&["fs", "mkdir", "-p", "/d/e"]).ok();
    cluster.granary(&["fs", "put", src, "/d/x.txt"]).ok();
    let before = cluster
        .granary(&["fs", "ls", "-R", "--json", "/"])
        .ok()
        .stdout;

    let long = format!("/{}", "a/".repeat(3000));
    let out_path = local.path().join("out");
    let out = out_path.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["fs", "put", src, "relative.txt"], "invalid path"),
        (vec!["fs", "put", src, "/d/../x"], "invalid path"),
        (vec!["fs", "put", src, "/d//x"], "invalid path"),
        (vec!["fs", "put", src, &long], "invalid path"),
        (vec!["fs", "put", src, "/d/x.txt"], "exists"),
        (
            vec!["fs", "put", "/nonexistent/local/file", "/d/y"],
            "No such file",
        ),
        // A directory copies to a local directory, not onto a file.
        (
            vec!["fs", "get", "/d", src],
            "exists and is not a directory",
        ),
        (vec!["fs", "get", "/missing", out], "no such file"),
        (vec!["fs", "cat", "/missing"], "no such file"),
        (vec!["fs", "rm", "/d"], "not empty"),
        (vec!["fs", "mkdir", "/no/parent"], "does not exist"),
        (vec!["fs", "mv", "/missing", "/elsewhere"], "no such file"),
        (vec!["fs", "stat", "/missing"], "no such file"),
    ];
    for (args, expected) in cases {
        let line = cluster.granary(&args).fails_with_one_line();
        assert!(
            line.to_lowercase().contains(&expected.to_lowercase()),
            "{args:?}: {line}"
        );
        assert!(line.len() < 400, "{args:?}: overly long error: {line}");
    }
    // A flag's bad value is a usage error: clap's whole message, exit 2.
    let usage = cluster.granary(&["fs", "put", "--block-size", "12X", src, "/d/y"]);
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert!(usage.stderr.contains("invalid size"), "{}", usage.stderr);
    // Getting onto an existing local file needs -f.
    let existing = local.path().join("exists");
    std::fs::write(&existing, b"keep").unwrap();
    let line = cluster
        .granary(&["fs", "get", "/d/x.txt", existing.to_str().unwrap()])
        .fails_with_one_line();
    assert!(line.contains("exists"), "{line}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep");

    assert_eq!(
        cluster
            .granary(&["fs", "ls", "-R", "--json", "/"])
            .ok()
            .stdout,
        before,
        "a failed command changed the namespace"
    );
    assert_eq!(
        cluster.granary(&["fs", "cat", "/d/x.txt"]).ok().stdout,
        "hello\n"
    );

    // -f replaces the file.
    let other = local.path().join("other.txt");
    std::fs::write(&other, b"replaced\n").unwrap();
    cluster
        .granary(&["fs", "put", "-f", other.to_str().unwrap(), "/d/x.txt"])
        .ok();
    assert_eq!(
        cluster.granary(&["fs", "cat", "/d/x.txt"]).ok().stdout,
        "replaced\n"
    );
}

#[test]
fn an_unreachable_namenode_is_one_line() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(granary_integration_tests::granary_bin())
        .args([
            "--namenode",
            &format!("http://127.0.0.1:{free_port}"),
            "fs",
            "ls",
            "/",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach the namenode"), "{stderr}");
}

#[test]
fn too_few_datanodes_is_one_warning_not_a_failure() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 2,
        replication: 3,
        ..Default::default()
    });
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), test_bytes(2_500_000, 1)).unwrap();
    let out = cluster
        .granary(&["fs", "put", local.path().to_str().unwrap(), "/under"])
        .ok();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", out.stderr);
    assert!(
        warnings[0].contains("under-replicated") && warnings[0].contains("2 of 3"),
        "{}",
        warnings[0]
    );
    let stat: serde_json::Value = serde_json::from_str(
        &cluster
            .granary(&["fs", "stat", "--json", "/under"])
            .ok()
            .stdout,
    )
    .unwrap();
    for b in stat["blocks"].as_array().unwrap() {
        assert_eq!(b["locations"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn json_outputs_have_their_documented_keys() {
    let cluster = TestCluster::start(ClusterSpec::default());
    cluster.granary(&["fs", "mkdir", "/a"]).ok();
    let ls: serde_json::Value =
        serde_json::from_str(&cluster.granary(&["fs", "ls", "--json", "/"]).ok().stdout).unwrap();
    let entry = &ls.as_array().unwrap()[0];
    for key in [
        "path",
        "type",
        "length",
        "replication",
        "block_size",
        "modified_ms",
    ] {
        assert!(entry.get(key).is_some(), "ls --json lacks {key}: {entry}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&cluster.granary(&["admin", "report", "--json"]).ok().stdout).unwrap();
    for key in [
        "datanodes",
        "live_datanodes",
        "dead_datanodes",
        "files",
        "blocks",
        "under_replicated_blocks",
        "missing_blocks",
        "capacity",
        "used",
        "remaining",
    ] {
        assert!(report.get(key).is_some(), "admin report --json lacks {key}");
    }
    let dn = &report["datanodes"][0];
    for key in [
        "id",
        "addr",
        "rack",
        "state",
        "capacity",
        "used",
        "remaining",
        "blocks",
        "seconds_since_heartbeat",
    ] {
        assert!(
            dn.get(key).is_some(),
            "admin report --json datanode lacks {key}: {dn}"
        );
    }
    let status: serde_json::Value =
        serde_json::from_str(&cluster.cluster_cmd(&["status", "--json"]).ok().stdout).unwrap();
    assert!(status["namenode"]["url"].is_string() && status["namenode"]["pid"].is_u64());
    for d in status["datanodes"].as_array().unwrap() {
        for key in ["id", "address", "pid", "data_dir", "rack"] {
            assert!(
                !d[key].is_null(),
                "cluster status --json datanode lacks {key}: {d}"
            );
        }
    }
}

#[test]
fn cluster_up_brings_back_only_what_is_missing() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let before = cluster.status();
    cluster.kill_datanode(1);
    assert!(!cluster.datanode(1).running);
    cluster.up();
    let after = cluster.status();
    assert!(after.datanodes.iter().all(|d| d.running));
    assert_eq!(after.namenode.pid, before.namenode.pid);
    assert_eq!(after.datanodes[0].pid, before.datanodes[0].pid);
    assert_ne!(after.datanodes[1].pid, before.datanodes[1].pid);
    assert_eq!(
        after.datanodes[1].id, before.datanodes[1].id,
        "a restarted datanode keeps its id"
    );
    cluster.wait_for("3 live datanodes", Duration::from_secs(10), || {
        let out = cluster.granary(&["admin", "report", "--json"]);
        out.success
            && serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()["live_datanodes"]
                == 3
    });
}

#[test]
fn malformed_requests_get_json_4xx_errors() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    });
    let dn_addr = cluster.datanode(0).address.unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let checks = [
            http.post(format!("{}/v1/namespace/create", cluster.url))
                .body("{not json")
                .header("content-type", "application/json"),
            http.post(format!("{}/v1/namespace/create", cluster.url))
                .json(&serde_json::json!({"path": 5})),
            http.get(format!("{}/v1/namespace/stat?path=relative", cluster.url)),
            http.get(format!("{}/v1/namespace/stat", cluster.url)),
            http.get(format!("http://{dn_addr}/v1/blocks/abc")),
            http.get(format!("http://{dn_addr}/v1/blocks/..%2F..%2Fetc%2Fpasswd")),
            http.put(format!("http://{dn_addr}/v1/blocks/-1")).body("x"),
        ];
        for request in checks {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.expect("JSON error body");
            assert!(status.is_client_error(), "{status} {body}");
            assert!(
                body["kind"].is_string() && body["message"].is_string(),
                "{body}"
            );
        }
    });
}
