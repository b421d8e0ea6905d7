//! Regression tests of the CLI bugs a new user hit (issue 13), each through the real `granary`
//! binary: usage errors, a failed first `cluster up`, trailing slashes, signals during
//! transfers, a foreign server at the namenode URL, and the wording of messages.

#[path = "cli_bugs/signals.rs"]
mod signals;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use granary_integration_tests::{granary_bin, CliOutput, ClusterSpec, TestCluster};

/// `granary <args>` with no namenode from the environment.
fn granary_alone(args: &[&str]) -> CliOutput {
    Command::new(granary_bin())
        .args(args)
        .env_remove("GRANARY_NAMENODE")
        .output()
        .expect("run granary")
        .into()
}

#[test]
fn usage_errors_keep_clap_whole_message() {
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["job", "run", "--input", "/in", "--output", "/o"],
            &["required arguments were not provided", "--"],
        ),
        (&[], &["Commands:", "fs", "cluster", "admin"]),
        (&["fs"], &["Commands:", "put", "get", "ls"]),
        (
            &["admin", "safemode", "foo"],
            &["possible values", "get", "leave"],
        ),
        (&["fs", "lss"], &["similar", "ls"]),
    ];
    for (args, expected) in cases {
        let out = granary_alone(args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(
            out.stderr.lines().count() > 1,
            "{args:?}: cut to one line: {}",
            out.stderr
        );
        for want in expected {
            assert!(
                out.stderr.contains(want),
                "{args:?} lacks {want:?}: {}",
                out.stderr
            );
        }
    }
    // Runtime errors stay one line.
    let line = granary_alone(&["--namenode", "ftp://x", "fs", "ls", "/"]).fails_with_one_line();
    assert!(line.contains("invalid namenode URL"), "{line}");
}

/// A cluster directory a test brings up by hand; `cluster down`, then SIGKILL of whatever is
/// left, when dropped.
struct ClusterDir {
    dir: tempfile::TempDir,
}

impl ClusterDir {
    fn new() -> ClusterDir {
        ClusterDir {
            dir: tempfile::Builder::new()
                .prefix("granary-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    fn cluster(&self, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
        Command::new(granary_bin())
            .arg("cluster")
            .args(args)
            .arg("--dir")
            .arg(self.dir.path())
            .env_remove("GRANARY_NAMENODE")
            .env_remove("GRANARY_CLUSTER_DIR")
            .env_remove("FAILPOINTS")
            .envs(env.iter().copied())
            .output()
            .expect("run granary")
            .into()
    }
}

impl Drop for ClusterDir {
    fn drop(&mut self) {
        let _ = self.cluster(&["down"], &[]);
        let Ok(text) = std::fs::read_to_string(self.dir.path().join("cluster.json")) else {
            return;
        };
        let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let dns = state["datanodes"].as_array().cloned().unwrap_or_default();
        let nn = state["namenode"]["pid"].as_u64();
        for pid in dns.iter().filter_map(|d| d["pid"].as_u64()).chain(nn) {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: plain kill(2) of a pid this test's cluster started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn a_failed_first_cluster_up_says_why_in_one_line_and_leaves_nothing_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let cluster = ClusterDir::new();
    let up = [
        "up",
        "--port",
        &port,
        "--datanodes",
        "1",
        "--replication",
        "1",
        "--block-size",
        "1M",
        "--heartbeat-interval",
        "200ms",
    ];
    let line = cluster
        .cluster(&up, &[("RUST_BACKTRACE", "1")])
        .fails_with_one_line();
    assert!(
        line.contains(&format!(
            "namenode: cannot listen on 127.0.0.1:{port}: address"
        )),
        "{line}"
    );
    assert!(line.contains("in use"), "{line}");
    assert!(
        line.contains("namenode.log"),
        "says where the log is: {line}"
    );
    assert!(!line.contains(" | "), "backtrace frames: {line}");
    assert!(!cluster.dir.path().join("cluster.json").exists());

    drop(taken);
    let out = cluster.cluster(&up, &[]).ok();
    assert!(out.stdout.contains("1 datanodes"), "{}", out.stdout);
    let status = cluster.cluster(&["status", "--json"], &[]).ok();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let url = status["namenode"]["url"].as_str().unwrap().to_string();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), b"words\n").unwrap();
    Command::new(granary_bin())
        .args(["--namenode", &url, "fs", "put"])
        .arg(local.path())
        .arg("/words.txt")
        .output()
        .map(CliOutput::from)
        .unwrap()
        .ok();
}

#[test]
fn a_destination_ending_in_a_slash_is_a_directory() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    });
    let local = tempfile::tempdir().unwrap();
    let words = local.path().join("words.txt");
    std::fs::write(&words, b"some words\n").unwrap();
    let words = words.to_str().unwrap();
    let line = cluster
        .granary(&["fs", "put", words, "/newdir/"])
        .fails_with_one_line();
    assert!(line.contains("/newdir/: no such directory"), "{line}");
    cluster
        .granary(&["fs", "stat", "/newdir"])
        .fails_with_one_line();

    cluster.granary(&["fs", "mkdir", "/newdir"]).ok();
    cluster.granary(&["fs", "put", words, "/newdir/"]).ok();
    let cat = cluster.granary(&["fs", "cat", "/newdir/words.txt"]).ok();
    assert_eq!(cat.stdout, "some words\n");
}

/// Serves `404 Not Found` with an HTML page to every connection for up to 10 s, as a web
/// server that is not a namenode would.
fn html_404_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut served = 0;
        while Instant::now() < deadline && served < 20 {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            served += 1;
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "<html><head><title>404 Not Found</title></head>\n<body><h1>Not \
                        Found</h1>\n<p>The requested URL was not found.</p></body></html>\n";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, server)
}

#[test]
fn a_server_that_is_not_a_namenode_is_named_as_such() {
    let (url, _server) = html_404_server();
    let line = granary_alone(&["--namenode", &url, "fs", "ls", "/"]).fails_with_one_line();
    assert!(
        line.contains(&format!(
            "this is not a Granary namenode (HTTP 404 from {url}/"
        )),
        "{line}"
    );
    assert!(
        !line.contains("<html") && !line.contains("Not Found"),
        "{line}"
    );
}

/// `admin report --json`'s `used`.
fn used(cluster: &TestCluster) -> u64 {
    cluster.json(&["admin", "report"])["used"]
        .as_u64()
        .expect("used")
}

#[test]
fn messages_say_what_happened_and_what_to_do() {
    // Heartbeats slower than the test, so only the block reports can count the bytes.
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 3,
        replication: 3,
        heartbeat_interval: "20s",
        dead_after: "60s",
        ..Default::default()
    });
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("f");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let file = file.to_str().unwrap();
    let before = used(&cluster);
    cluster.granary(&["fs", "put", file, "/f"]).ok();
    cluster.wait_for("used to count the put", Duration::from_secs(3), || {
        used(&cluster) >= before + 3 * 300_000
    });

    let line = cluster
        .granary(&["fs", "put", file, "/f"])
        .fails_with_one_line();
    assert!(line.contains("exists") && line.contains("-f"), "{line}");

    let safemode = cluster.granary(&["admin", "safemode", "get"]).ok().stdout;
    assert_eq!(
        safemode.matches("safe mode is off").count(),
        1,
        "{safemode}"
    );
    assert!(!safemode.contains("OFF"), "{safemode}");

    let again = cluster.cluster_cmd(&["up", "--port", "0"]).ok();
    assert!(
        again.stdout.contains("cluster already up"),
        "{}",
        again.stdout
    );
    assert!(again.stderr.is_empty(), "{}", again.stderr);
    let ignored = cluster
        .cluster_cmd(&["up", "--replication", "2", "--block-size", "1M"])
        .ok();
    assert!(
        ignored.stderr.contains("warning: ignoring --replication")
            && !ignored.stderr.contains("--block-size"),
        "{}",
        ignored.stderr
    );

    // Three live datanodes, one of them decommissioned: not "not enough live datanodes".
    let id = cluster.datanode_id(2);
    cluster.granary(&["admin", "decommission", &id]).ok();
    // It holds replicas that have nowhere else to go, so it stays decommissioning.
    cluster.wait_for("the decommission", Duration::from_secs(20), || {
        cluster.datanode_state(&id).starts_with("decommission")
    });
    let out = cluster.granary(&["fs", "put", file, "/g"]).ok();
    assert!(
        out.stderr.contains("under-replicated: 2 of 3")
            && out.stderr.contains("decommission")
            && !out.stderr.contains("not enough live datanodes"),
        "{}",
        out.stderr
    );

    let down = cluster.cluster_cmd(&["down"]).ok();
    assert!(
        down.stdout.contains("stopped 3 datanodes and the namenode"),
        "{}",
        down.stdout
    );
    let down = cluster.cluster_cmd(&["down"]).ok();
    assert!(
        down.stdout.contains("nothing was running"),
        "{}",
        down.stdout
    );
    let empty = ClusterDir::new();
    let none = empty.cluster(&["down"], &[]).ok();
    assert!(none.stdout.contains("nothing to stop"), "{}", none.stdout);

    // The local cluster, stopped: the error says how to start it.
    let out: CliOutput = Command::new(granary_bin())
        .args(["--namenode-retry-window", "0s", "fs", "ls", "/"])
        .env_remove("GRANARY_NAMENODE")
        .env("GRANARY_CLUSTER_DIR", cluster.dir.path())
        .output()
        .unwrap()
        .into();
    let line = out.fails_with_one_line();
    assert!(
        line.contains("cannot reach the namenode") && line.contains("granary cluster up"),
        "{line}"
    );
}

/// Every file below `dir` (to a few levels), for looking for replicas.
pub(crate) fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth < 4 {
                dirs.push((path, depth + 1));
            } else if path.is_file() {
                found.push(path);
            }
        }
    }
    found
}
