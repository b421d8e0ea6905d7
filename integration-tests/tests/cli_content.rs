//! The commands that print or fetch file content, through the real CLI: `fs head`, `fs tail`
//! (and `-f` following appends), `fs text` (gzip, zstd, bzip2 decompressed) and `fs getmerge`.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use granary_integration_tests::{ClusterSpec, TestCluster};

fn small_cluster() -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    })
}

/// `n` numbered text lines: text, so the CLI's output compares as a string.
fn lines(n: usize, tag: &str) -> String {
    (0..n).map(|i| format!("{tag} line {i:06}\n")).collect()
}

/// Puts `data` at `dst` through a local file in `dir` (with `extra` flags, e.g. a block size).
fn put(cluster: &TestCluster, dir: &Path, data: &[u8], dst: &str, extra: &[&str]) {
    let local = dir.join(dst.trim_start_matches('/').replace('/', "_"));
    std::fs::write(&local, data).unwrap();
    let mut args = vec!["fs", "put", "-p"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[local.to_str().unwrap(), dst]);
    cluster.granary(&args).ok();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn head_and_tail_print_the_first_and_last_kibibyte() {
    let cluster = small_cluster();
    let local = tempfile::tempdir().unwrap();
    // 64 KiB blocks: the last KiB of `big` spans the end of its first block.
    let big = lines(4_200, "big");
    assert!(big.len() > 65_536 + 1_024 && big.len() < 2 * 65_536);
    put(
        &cluster,
        local.path(),
        big.as_bytes(),
        "/big",
        &["-b", "64K"],
    );
    let small = lines(20, "small");
    assert!(small.len() < 1_024);
    put(&cluster, local.path(), small.as_bytes(), "/small", &[]);

    let head = cluster.granary(&["fs", "head", "/big"]).ok().stdout;
    assert_eq!(head, big[..1_024]);
    let tail = cluster.granary(&["fs", "tail", "/big"]).ok().stdout;
    assert_eq!(tail, big[big.len() - 1_024..]);
    for command in ["head", "tail"] {
        let out = cluster.granary(&["fs", command, "/small"]).ok().stdout;
        assert_eq!(out, small, "{command} of a file under 1 KiB is all of it");
    }
    cluster.granary(&["fs", "touchz", "/empty"]).ok();
    assert_eq!(cluster.granary(&["fs", "tail", "/empty"]).ok().stdout, "");

    cluster.granary(&["fs", "mkdir", "/dir"]).ok();
    for command in ["head", "tail"] {
        let line = cluster
            .granary(&["fs", command, "/dir"])
            .fails_with_one_line();
        assert!(line.contains("is a directory"), "{command}: {line}");
        let line = cluster
            .granary(&["fs", command, "/missing"])
            .fails_with_one_line();
        assert!(line.contains("/missing"), "{command}: {line}");
    }
    let usage = cluster.granary(&["fs", "tail", "-s", "100", "/big"]);
    assert_eq!(usage.code, Some(2), "-s without -f is a usage error");
    let usage = cluster.granary(&["fs", "tail", "-f", "-s", "0", "/big"]);
    assert_eq!(usage.code, Some(2), "a zero interval is a usage error");
}

/// A `granary` process whose stdout is collected as it prints (`tail -f`, a `getmerge` to
/// interrupt); killed when dropped.
struct Following {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
}

impl Following {
    fn start(cluster: &TestCluster, args: &[&str]) -> Following {
        Following::start_with(&mut cluster.granary_cmd(args))
    }

    fn start_with(command: &mut Command) -> Following {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run granary");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Following { child, stdout }
    }

    fn printed(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits up to `limit` for the output to be `expected`; panics with what it is otherwise.
    fn wait_printed(&self, expected: &str, limit: Duration) {
        let started = Instant::now();
        for _ in 0..limit.as_millis() / 20 + 1 {
            if self.printed() == expected || started.elapsed() > limit {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(self.printed(), expected, "after {:?}", started.elapsed());
    }

    fn interrupt_and_wait(&mut self, limit: Duration) -> (Option<i32>, String) {
        // SAFETY: plain kill(2) of the child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let started = Instant::now();
        for _ in 0..limit.as_millis() / 20 + 1 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return (status.code(), stderr);
            }
            assert!(started.elapsed() < limit, "tail -f still running");
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("tail -f still running after {limit:?}");
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tail_f_prints_what_is_appended_until_interrupted() {
    let cluster = small_cluster();
    let local = tempfile::tempdir().unwrap();
    let first = lines(100, "first");
    put(&cluster, local.path(), first.as_bytes(), "/log", &[]);
    let mut tail = Following::start(&cluster, &["fs", "tail", "-f", "-s", "100", "/log"]);
    let mut expected = first[first.len() - 1_024..].to_string();
    tail.wait_printed(&expected, Duration::from_secs(10));
    for round in 0..2 {
        let more = lines(30, &format!("appended {round}"));
        let src = local.path().join(format!("more-{round}"));
        std::fs::write(&src, &more).unwrap();
        cluster
            .granary(&["fs", "append", src.to_str().unwrap(), "/log"])
            .ok();
        expected.push_str(&more);
        tail.wait_printed(&expected, Duration::from_secs(10));
    }
    let (code, stderr) = tail.interrupt_and_wait(Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(tail.printed(), expected, "nothing more after the interrupt");
}

#[test]
fn text_decompresses_by_extension_and_names_a_corrupt_file() {
    let cluster = small_cluster();
    let local = tempfile::tempdir().unwrap();
    let content = lines(20_000, "text");
    // Two gzip members, as concatenated .gz files are: read as one file.
    let half = content.len() / 2;
    let mut gz = gzip(&content.as_bytes()[..half]);
    gz.extend(gzip(&content.as_bytes()[half..]));
    put(&cluster, local.path(), &gz, "/t/a.gz", &[]);
    let zst = zstd::stream::encode_all(content.as_bytes(), 3).unwrap();
    put(&cluster, local.path(), &zst, "/t/a.zst", &[]);
    put(
        &cluster,
        local.path(),
        &bzip2(content.as_bytes()),
        "/t/a.bz2",
        &[],
    );
    put(&cluster, local.path(), content.as_bytes(), "/t/a.txt", &[]);
    for path in ["/t/a.gz", "/t/a.zst", "/t/a.bz2", "/t/a.txt"] {
        let out = cluster.granary(&["fs", "text", path]).ok().stdout;
        assert!(out == content, "{path}: {} bytes printed", out.len());
    }
    // An empty file named *.gz (an empty job output) is empty text, not corrupt.
    cluster.granary(&["fs", "touchz", "/t/empty.gz"]).ok();
    assert_eq!(
        cluster.granary(&["fs", "text", "/t/empty.gz"]).ok().stdout,
        ""
    );
    let out = cluster
        .granary(&["fs", "text", "/t/a.txt", "/t/a.gz"])
        .ok()
        .stdout;
    assert!(out == content.repeat(2), "several files, in order");

    // A .gz that is not gzip, and one cut short.
    put(
        &cluster,
        local.path(),
        content.as_bytes(),
        "/t/plain.gz",
        &[],
    );
    put(
        &cluster,
        local.path(),
        &gz[..gz.len() / 3],
        "/t/cut.gz",
        &[],
    );
    for path in ["/t/plain.gz", "/t/cut.gz"] {
        let line = cluster.granary(&["fs", "text", path]).fails_with_one_line();
        assert!(
            line.contains(path) && line.contains("gzip"),
            "{path}: {line}"
        );
    }
    let line = cluster
        .granary(&["fs", "text", "/t/missing.gz"])
        .fails_with_one_line();
    assert!(line.contains("/t/missing.gz"), "{line}");
    let line = cluster.granary(&["fs", "text", "/t"]).fails_with_one_line();
    assert!(line.contains("is a directory"), "{line}");
}

#[test]
fn getmerge_fetches_a_job_output_directory_into_one_local_file() {
    let cluster = small_cluster();
    let local = tempfile::tempdir().unwrap();
    let parts = [
        lines(50, "part 0"),
        lines(70, "part 1"),
        lines(10, "part 2"),
    ];
    // Put out of order: the merge is by name, not by creation.
    for i in [2, 0, 1] {
        let dst = format!("/out/part-r-0000{i}");
        put(&cluster, local.path(), parts[i].as_bytes(), &dst, &[]);
    }
    cluster
        .granary(&["fs", "touchz", "/out/_SUCCESS", "/out/part-r-00003"])
        .ok();
    put(
        &cluster,
        local.path(),
        b"hidden",
        "/out/.part-r-00000.crc",
        &[],
    );
    put(&cluster, local.path(), b"nested", "/out/sub/part-x", &[]);
    let merged = local.path().join("merged.txt");
    let merged_arg = merged.to_str().unwrap();

    let out = cluster
        .granary(&["fs", "getmerge", "/out", merged_arg])
        .ok();
    assert_eq!(out.stdout, "", "getmerge prints nothing by default");
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), parts.concat());
    // Created as any new file is (0666 less the umask), not with a temporary file's 0600.
    // SAFETY: umask(2) read and restored at once; this test creates no files meanwhile.
    let umask = unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask
    };
    let mode = std::fs::metadata(&merged).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask, "mode {mode:o}");

    let line = cluster
        .granary(&["fs", "getmerge", "/out", merged_arg])
        .fails_with_one_line();
    assert!(line.contains("already exists"), "{line}");

    // Hadoop's spelling of the flags; the empty part gets its newline too.
    let summary = cluster.json(&["fs", "getmerge", "-nl", "-f", "/out", merged_arg]);
    let with_newlines: String = parts.iter().map(|p| format!("{p}\n")).collect::<String>() + "\n";
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), with_newlines);
    assert_eq!(summary["bytes"], with_newlines.len() as u64);
    let files: Vec<&str> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "/out/part-r-00000",
            "/out/part-r-00001",
            "/out/part-r-00002",
            "/out/part-r-00003"
        ]
    );

    // Several sources, in the order given; an empty file skipped with its newline.
    let summary = cluster.json(&[
        "fs",
        "getmerge",
        "-nl",
        "-skip-empty-file",
        "-f",
        "/out/part-r-00002",
        "/out/part-r-00003",
        "/out/part-r-00000",
        merged_arg,
    ]);
    assert_eq!(
        std::fs::read_to_string(&merged).unwrap(),
        format!("{}\n{}\n", parts[2], parts[0])
    );
    assert_eq!(summary["files"].as_array().unwrap().len(), 2);

    // Bad input changes nothing: the local file stays, no temporary file is left.
    let before = std::fs::read(&merged).unwrap();
    let line = cluster
        .granary(&["fs", "getmerge", "-f", "/out", "/missing", merged_arg])
        .fails_with_one_line();
    assert!(line.contains("/missing"), "{line}");
    let line = cluster
        .granary(&["fs", "getmerge", "/out", local.path().to_str().unwrap()])
        .fails_with_one_line();
    assert!(line.contains("is a directory"), "{line}");
    assert_eq!(std::fs::read(&merged).unwrap(), before);
    let usage = cluster.granary(&["fs", "getmerge", "/out"]);
    assert_eq!(usage.code, Some(2), "a source and a local file are needed");
    assert!(temporary_files(local.path()).is_empty());

    // Interrupted while a stopped datanode keeps it waiting: its temporary file is removed.
    let fresh = local.path().join("fresh.txt");
    let _stopped = cluster.stop_datanode(0);
    let mut merge = Following::start_with(
        cluster
            .granary_cmd(&["fs", "getmerge", "/out", fresh.to_str().unwrap()])
            .env("GRANARY_STALL_TIMEOUT", "60s"),
    );
    cluster.wait_for("the temporary file", Duration::from_secs(10), || {
        !temporary_files(local.path()).is_empty()
    });
    let (code, stderr) = merge.interrupt_and_wait(Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("was not written"), "{stderr}");
    assert!(temporary_files(local.path()).is_empty());
    assert!(!fresh.exists());
}

/// The temporary files of `get` and `getmerge` in `dir`.
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".granary"))
        .collect()
}
