//! The `granary-namenode` binary over real HTTP: acknowledged changes survive `kill -9`,
//! malformed requests get JSON errors, SIGTERM stops it cleanly, and the lease monitor
//! closes abandoned files.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Daemon {
    fn start(meta_dir: &Path, addr_file: &Path) -> Daemon {
        Daemon::start_with(meta_dir, addr_file, &[])
    }

    fn start_with(meta_dir: &Path, addr_file: &Path, flags: &[&str]) -> Daemon {
        let _ = std::fs::remove_file(addr_file);
        let child = Command::new(env!("CARGO_BIN_EXE_granary-namenode"))
            .args(flags)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--meta-dir")
            .arg(meta_dir)
            .arg("--addr-file")
            .arg(addr_file)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .expect("start granary-namenode");
        // Owned by a `Daemon` at once, so a failed start still kills and reaps the process.
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(addr_file) {
                if let Ok(addr) = text.trim().parse() {
                    daemon.addr = addr;
                    return daemon;
                }
            }
            assert!(
                Instant::now() < deadline,
                "namenode did not publish its address"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One HTTP/1.1 request, as the namenode's own user (the superuser, as the daemon runs
    /// as this test's user); returns the status and the body.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        try_call(self.addr, method, path, body).unwrap()
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
        let (status, body) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// [`Daemon::call`], or the connection error.
fn try_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: nn\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         {}: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        granary_client::protocol::USER_HEADER,
        superuser()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    let addr_file = dir.path().join("nn.addr");
    let meta = dir.path().join("meta");
    let mut daemon = Daemon::start(&meta, &addr_file);

    let create = r#"{"path":"/a/f","replication":null,"block_size":null,"overwrite":false,"create_parents":true,"holder":"test-writer","request_id":"c1"}"#;
    let created = daemon.json("POST", "/v1/namespace/create", Some(create));
    let file = created["file"].as_u64().unwrap();
    let complete = format!(
        r#"{{"path":"/a/f","file":{file},"blocks":[],"holder":"test-writer","request_id":"d1"}}"#
    );
    daemon.json("POST", "/v1/namespace/complete", Some(&complete));
    daemon.json(
        "POST",
        "/v1/namespace/mkdir",
        Some(r#"{"path":"/x/y","parents":true,"request_id":"m1"}"#),
    );
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();

    let daemon = Daemon::start(&meta, &addr_file);
    let status = daemon.json("GET", "/v1/namespace/stat?path=/a/f", None);
    assert_eq!(status["type"], "file");
    assert_eq!(status["length"], 0);
    let names = |dir: &str| -> Vec<String> {
        let entries = list_all(&daemon, dir);
        entries
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("/"), vec!["/a", "/x"]);
    assert_eq!(names("/a"), vec!["/a/f"]);
    assert_eq!(names("/x"), vec!["/x/y"]);
    assert_eq!(
        daemon.json("POST", "/v1/namespace/create", Some(create))["file"],
        file,
        "retry cache survived"
    );
}

/// Every entry of the directory `dir` (none if it does not exist), page by page.
fn list_all(daemon: &Daemon, dir: &str) -> Vec<serde_json::Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let query = match &cursor {
            Some(after) => format!("/v1/namespace/list?path={dir}&start_after={after}&limit=7"),
            None => format!("/v1/namespace/list?path={dir}&limit=7"),
        };
        let (status, body) = daemon.call("GET", &query, None);
        if status == 404 {
            return entries;
        }
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_start_after"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return entries,
        }
    }
    panic!("the listing of {dir} never ended");
}

/// Creates and completes `path` as an empty file; `Some(file id)` once both are acknowledged,
/// `None` if the namenode went away meanwhile.
fn put_empty(addr: SocketAddr, path: &str) -> Option<u64> {
    let (status, body) = try_call(
        addr,
        "POST",
        "/v1/namespace/create",
        Some(&create_body(path)),
    )
    .ok()?;
    if status == 0 {
        return None;
    }
    assert_eq!(status, 200, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let file = created["file"].as_u64().unwrap();
    let complete = format!(
        r#"{{"path":"{path}","file":{file},"blocks":[],"holder":"test-writer","request_id":"d{path}"}}"#
    );
    let (status, body) = try_call(addr, "POST", "/v1/namespace/complete", Some(&complete)).ok()?;
    if status == 0 {
        return None;
    }
    assert_eq!(status, 200, "{body}");
    Some(file)
}

fn create_body(path: &str) -> String {
    format!(
        r#"{{"path":"{path}","replication":null,"block_size":null,"overwrite":false,"create_parents":true,"holder":"test-writer","request_id":"c{path}"}}"#
    )
}

#[test]
fn concurrent_acknowledged_changes_survive_kill_9_mid_flight() {
    let dir = TempDir::new().unwrap();
    let addr_file = dir.path().join("nn.addr");
    let meta = dir.path().join("meta");
    let mut daemon = Daemon::start(&meta, &addr_file);

    // 16 writers create files until the namenode dies under them; it is killed while they
    // are still sending, right after the 300th acknowledgement.
    let acked = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for writer in 0..16 {
            let (addr, acked) = (daemon.addr, &acked);
            scope.spawn(move || {
                for i in 0.. {
                    let path = format!("/load/w{writer}/f{i}");
                    match put_empty(addr, &path) {
                        Some(file) => acked.lock().unwrap().push((path, file)),
                        None => break,
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < 300 {
            assert!(Instant::now() < deadline, "too slow");
            std::thread::sleep(Duration::from_micros(100));
        }
        daemon.child.kill().unwrap();
    });
    daemon.child.wait().unwrap();

    let daemon = Daemon::start(&meta, &addr_file);
    let listed: Vec<serde_json::Value> = (0..16)
        .flat_map(|writer| list_all(&daemon, &format!("/load/w{writer}")))
        .collect();
    let present: HashSet<&str> = listed
        .iter()
        .filter(|e| e["type"] == "file")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let acked = acked.into_inner().unwrap();
    let lost: Vec<&str> = acked
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| !present.contains(path))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged files lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    // The retry cache came back with them: a repeated create gets the same file.
    let (path, file) = &acked[acked.len() - 1];
    let again = daemon.json("POST", "/v1/namespace/create", Some(&create_body(path)));
    assert_eq!(again["file"], *file);
}

#[test]
fn malformed_requests_get_json_errors_and_sigterm_exits_cleanly() {
    let dir = TempDir::new().unwrap();
    let mut daemon = Daemon::start(&dir.path().join("meta"), &dir.path().join("nn.addr"));
    let cases = [
        (
            "POST",
            "/v1/namespace/create",
            Some("{not json"),
            400,
            "invalid_argument",
        ),
        (
            "GET",
            "/v1/namespace/stat?path=relative",
            None,
            400,
            "invalid_path",
        ),
        ("GET", "/v1/namespace/stat", None, 400, "invalid_argument"),
        (
            "GET",
            "/v1/namespace/stat?path=/missing",
            None,
            404,
            "not_found",
        ),
        (
            "GET",
            "/v1/namespace/locate?path=/",
            None,
            409,
            "is_a_directory",
        ),
        ("GET", "/v1/nope", None, 404, "not_found"),
        ("GET", "/v1/namespace/create", None, 405, "invalid_argument"),
        (
            "POST",
            "/v1/datanode/heartbeat",
            Some(
                r#"{"id":"dn-x","storage":{"capacity":0,"used":0,"remaining":0,"blocks":0},"active_transfers":0}"#,
            ),
            412,
            "unknown_datanode",
        ),
    ];
    for (method, path, body, want_status, want_kind) in cases {
        let (status, body) = daemon.call(method, path, body);
        assert_eq!(status, want_status, "{method} {path}: {body}");
        let error: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        assert_eq!(error["kind"], want_kind, "{method} {path}: {body}");
    }
    assert_eq!(daemon.json("GET", "/v1/health", None)["status"], "ok");
    assert_eq!(
        daemon.json("GET", "/v1/admin/report", None)["directories"],
        1
    );

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "namenode did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Registers a datanode whose data address is `addr`.
fn register(daemon: &Daemon, id: &str, addr: SocketAddr) {
    let body = format!(
        r#"{{"datanode":{{"id":"{id}","addr":"{addr}","rack":"/r"}},"storage":{{"capacity":0,"used":0,"remaining":0,"blocks":0}}}}"#
    );
    daemon.json("POST", "/v1/datanode/register", Some(&body));
}

/// Opens a lifeline the way a datanode does: a chunked body that has sent one beat.
fn open_lifeline(daemon: &Daemon, id: &str) -> TcpStream {
    let mut stream = TcpStream::connect(daemon.addr).unwrap();
    let head = format!(
        "POST /v1/datanode/lifeline?id={id} HTTP/1.1\r\nHost: nn\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

fn datanode_state(daemon: &Daemon, id: &str) -> String {
    let report = daemon.json("GET", "/v1/admin/report", None);
    let nodes = report["datanodes"].as_array().unwrap();
    let node = nodes.iter().find(|d| d["id"] == id).unwrap();
    node["state"].as_str().unwrap().to_string()
}

#[test]
fn a_broken_lifeline_kills_its_datanode_at_once_and_sigterm_ends_open_ones() {
    let dir = TempDir::new().unwrap();
    let mut daemon = Daemon::start(&dir.path().join("meta"), &dir.path().join("nn.addr"));
    let (status, body) = daemon.call("GET", "/v1/datanode/commands?id=dn-x", None);
    assert_eq!(
        (status, body.contains("unknown_datanode")),
        (412, true),
        "{body}"
    );

    // Nothing listens at dn-1's data address: it is gone once its lifeline breaks.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    register(&daemon, "dn-1", closed);
    let lifeline = open_lifeline(&daemon, "dn-1");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(datanode_state(&daemon, "dn-1"), "live");
    let broken = Instant::now();
    drop(lifeline);
    loop {
        if datanode_state(&daemon, "dn-1") == "dead" {
            break;
        }
        assert!(
            broken.elapsed() < Duration::from_secs(3),
            "not declared dead (dead_after is 30 s)"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // dn-2 accepts connections; its open lifeline must not hold up a shutdown.
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    register(&daemon, "dn-2", listening.local_addr().unwrap());
    let _lifeline = open_lifeline(&daemon, "dn-2");
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let asked = Instant::now();
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "an open lifeline delayed the shutdown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_lease_monitor_closes_a_file_past_the_hard_limit() {
    let dir = TempDir::new().unwrap();
    let flags = [
        "--lease-soft-limit",
        "100ms",
        "--lease-hard-limit",
        "300ms",
        "--lease-check-interval",
        "50ms",
        "--safemode-threshold",
        "0",
    ];
    let daemon = Daemon::start_with(
        &dir.path().join("meta"),
        &dir.path().join("nn.addr"),
        &flags,
    );
    let created = daemon.json(
        "POST",
        "/v1/namespace/create",
        Some(&create_body("/abandoned")),
    );
    assert_eq!(created["lease_soft_limit_ms"], 100);
    let status = daemon.json("GET", "/v1/namespace/stat?path=/abandoned", None);
    assert_eq!(
        status["lease_holder"], "test-writer",
        "open files are visible: {status}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = daemon.json("GET", "/v1/namespace/stat?path=/abandoned", None);
        if status.get("lease_holder").is_none() {
            assert_eq!(status["length"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "never closed: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The user this test, and so the namenode it starts, runs as: the superuser.
fn superuser() -> String {
    granary_client::user::effective_user_name().unwrap()
}
