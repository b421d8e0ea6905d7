//! `fs` path arguments as `hdfs dfs` reads them, through the real CLI: globs in every command,
//! put and get of whole directory trees, the copy aliases, and mv of several sources.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use granary_integration_tests::{ClusterSpec, TestCluster};

fn small_cluster() -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    })
}

/// Puts `bytes` at cluster path `dst` through a local file in `scratch`.
fn put_bytes(cluster: &TestCluster, scratch: &Path, dst: &str, bytes: &[u8]) {
    let local = scratch.join("upload");
    std::fs::write(&local, bytes).unwrap();
    cluster
        .granary(&["fs", "put", "-p", "-f", local.to_str().unwrap(), dst])
        .ok();
}

fn exists(cluster: &TestCluster, path: &str) -> bool {
    cluster.granary(&["fs", "test", "-e", path]).success
}

/// Every file and directory below `root`, by relative path, with the file's bytes (`None`
/// for a directory).
fn local_tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut tree = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            if path.is_dir() {
                tree.insert(name, None);
                pending.push(path);
            } else {
                tree.insert(name, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    tree
}

#[test]
fn globs_expand_in_every_command_and_skip_hidden_names() {
    let cluster = small_cluster();
    let scratch = tempfile::tempdir().unwrap();
    put_bytes(&cluster, scratch.path(), "/out/part-00000", b"a\n");
    put_bytes(&cluster, scratch.path(), "/out/part-00001", b"b\n");
    cluster.granary(&["fs", "touchz", "/out/_SUCCESS"]).ok();
    put_bytes(&cluster, scratch.path(), "/out/.hidden", b"hidden\n");
    cluster.granary(&["fs", "mkdir", "/tmp"]).ok();
    for name in ["x.log", "y.log", "keep.txt"] {
        cluster
            .granary(&["fs", "touchz", &format!("/tmp/{name}")])
            .ok();
    }

    // cat: matches in path order; `*` leaves out `_` and `.` names.
    assert_eq!(
        cluster.granary(&["fs", "cat", "/out/part-*"]).ok().stdout,
        "a\nb\n"
    );
    assert_eq!(
        cluster.granary(&["fs", "cat", "/out/*"]).ok().stdout,
        "a\nb\n"
    );
    assert_eq!(
        cluster.granary(&["fs", "cat", "/out/.h*"]).ok().stdout,
        "hidden\n"
    );

    // A glob matching nothing is an error, as hdfs words it; a plain path is reported missing
    // by the command itself.
    let line = cluster
        .granary(&["fs", "cat", "/out/*.nothing"])
        .fails_with_one_line();
    assert!(
        line.contains("`/out/*.nothing': No such file or directory"),
        "{line}"
    );
    let line = cluster
        .granary(&["fs", "rm", "/nowhere/*"])
        .fails_with_one_line();
    assert!(line.contains("No such file or directory"), "{line}");

    // Commands taking one path take a glob matching one, and refuse one matching several.
    let stat = cluster
        .granary(&["fs", "stat", "--json", "/out/part-0000[1]"])
        .ok()
        .stdout;
    let stat: serde_json::Value = serde_json::from_str(&stat).unwrap();
    assert_eq!(stat["path"], "/out/part-00001");
    let line = cluster
        .granary(&["fs", "stat", "/out/part-*"])
        .fails_with_one_line();
    assert!(line.contains("matches 2 paths"), "{line}");
    let listing = cluster.granary(&["fs", "ls", "/o?t"]).ok().stdout;
    assert!(listing.contains("/out/part-00000"), "{listing}");
    let listing = cluster.granary(&["fs", "ls", "/out/_*"]).ok().stdout;
    assert!(listing.contains("/out/_SUCCESS"), "{listing}");
    // ls lists every path a glob matches, and several paths, in turn (as `hdfs dfs -ls`);
    // --json makes one array of them all.
    let listing = cluster
        .granary(&["fs", "ls", "/out/part-*", "/tmp"])
        .ok()
        .stdout;
    let lines: Vec<&str> = listing.lines().collect();
    assert!(
        lines[0].ends_with("/out/part-00000")
            && lines[1].ends_with("/out/part-00001")
            && lines[2..].iter().any(|l| l.ends_with("/tmp/keep.txt")),
        "{listing}"
    );
    let json = cluster
        .granary(&["fs", "ls", "--json", "/out/part-*", "/tmp"])
        .ok()
        .stdout;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(entries.len(), lines.len(), "{json}");
    assert_eq!(entries[0]["path"], "/out/part-00000");

    // rm: `*` keeps `_SUCCESS`; `_*` asks for it.
    cluster.granary(&["fs", "rm", "/tmp/*.log"]).ok();
    assert!(!exists(&cluster, "/tmp/x.log") && !exists(&cluster, "/tmp/y.log"));
    assert!(exists(&cluster, "/tmp/keep.txt"));
    cluster.granary(&["fs", "rm", "/out/*"]).ok();
    assert!(!exists(&cluster, "/out/part-00000") && !exists(&cluster, "/out/part-00001"));
    assert!(exists(&cluster, "/out/_SUCCESS") && exists(&cluster, "/out/.hidden"));
    cluster.granary(&["fs", "rm", "/out/_*"]).ok();
    assert!(!exists(&cluster, "/out/_SUCCESS"));

    // mv: a glob source, and a glob destination matching one existing directory.
    cluster.granary(&["fs", "mkdir", "/dest-1"]).ok();
    cluster.granary(&["fs", "mv", "/tmp/k*", "/dest-?"]).ok();
    assert!(exists(&cluster, "/dest-1/keep.txt"));
    // A destination glob matching nothing is the name as written (as hdfs).
    cluster
        .granary(&["fs", "mv", "/dest-1/keep.txt", "/none-*"])
        .ok();
    assert!(exists(&cluster, "/none-\\*"));
    assert!(!exists(&cluster, "/dest-1/keep.txt"));
}

#[test]
fn a_backslash_names_files_whose_names_hold_glob_characters() {
    let cluster = small_cluster();
    let scratch = tempfile::tempdir().unwrap();
    // A local file whose name has brackets is put under that name, as hdfs does.
    let local = scratch.path().join("x[1].txt");
    std::fs::write(&local, b"bracketed").unwrap();
    cluster.granary(&["fs", "mkdir", "/d"]).ok();
    cluster
        .granary(&["fs", "put", local.to_str().unwrap(), "/d/"])
        .ok();
    put_bytes(&cluster, scratch.path(), "/d/x1.txt", b"plain");
    // Unescaped, `[1]` is a class: it matches x1.txt alone.
    let cat = |path: &str| cluster.granary(&["fs", "cat", path]).ok().stdout;
    assert_eq!(cat("/d/x[1].txt"), "plain");
    assert_eq!(cat("/d/x\\[1\\].txt"), "bracketed");
    assert_eq!(cat("/d/x\\[*"), "bracketed");
    // Escaped names can be created, listed, tested and removed like any other.
    put_bytes(&cluster, scratch.path(), "/d/\\*star", b"star");
    cluster.granary(&["fs", "mkdir", "/d/dir\\[2\\]"]).ok();
    let listed = cluster.granary(&["fs", "ls", "/d"]).ok().stdout;
    for name in ["/d/*star", "/d/dir[2]", "/d/x[1].txt", "/d/x1.txt"] {
        assert!(listed.contains(name), "{name} in {listed}");
    }
    assert!(exists(&cluster, "/d/dir\\[2\\]"));
    cluster
        .granary(&["fs", "rm", "-skipTrash", "/d/x\\[1\\].txt", "/d/\\*star"])
        .ok();
    assert!(!exists(&cluster, "/d/x\\[1\\].txt"));
    assert!(!exists(&cluster, "/d/\\*star"));
    assert_eq!(cat("/d/x1.txt"), "plain", "the lookalike is untouched");
    // A destination glob that matches nothing is the name as written, as hdfs's destinations.
    put_bytes(&cluster, scratch.path(), "/d/q[1].csv", b"literal");
    assert_eq!(cat("/d/q\\[1\\].csv"), "literal");
    let line = cluster
        .granary(&["fs", "put", local.to_str().unwrap(), "/d/*"])
        .fails_with_one_line();
    assert!(line.contains("a destination must be one"), "{line}");
}

#[test]
fn mv_moves_several_sources_into_an_existing_directory_only() {
    let cluster = small_cluster();
    cluster.granary(&["fs", "mkdir", "-p", "/m/dir"]).ok();
    for name in ["a", "b", "c.log", "d.log", "file"] {
        cluster
            .granary(&["fs", "touchz", &format!("/m/{name}")])
            .ok();
    }
    cluster
        .granary(&["fs", "mv", "/m/a", "/m/b", "/m/dir"])
        .ok();
    assert!(exists(&cluster, "/m/dir/a") && exists(&cluster, "/m/dir/b"));
    assert!(!exists(&cluster, "/m/a") && !exists(&cluster, "/m/b"));
    cluster.granary(&["fs", "mv", "/m/*.log", "/m/dir"]).ok();
    assert!(exists(&cluster, "/m/dir/c.log") && exists(&cluster, "/m/dir/d.log"));

    for dst in ["/m/missing", "/m/file"] {
        let line = cluster
            .granary(&["fs", "mv", "/m/dir/a", "/m/dir/b", dst])
            .fails_with_one_line();
        assert!(line.contains("not an existing directory"), "{dst}: {line}");
    }
    let line = cluster
        .granary(&["fs", "mv", "/m/dir/*.log", "/m/file"])
        .fails_with_one_line();
    assert!(line.contains("not an existing directory"), "{line}");
    for path in ["/m/dir/a", "/m/dir/b", "/m/dir/c.log", "/m/file"] {
        assert!(exists(&cluster, path), "{path} stays where it was");
    }
    assert!(!exists(&cluster, "/m/missing"));
}

#[test]
fn put_and_get_copy_directory_trees_and_the_aliases_work_as_hdfs() {
    let cluster = small_cluster();
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(src.join("sub/empty")).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    // Several chunks, not a multiple of any buffer size.
    let big: Vec<u8> = (0..300_001u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(src.join("sub/big.bin"), &big).unwrap();
    std::fs::write(src.join("sub/deeper/_SUCCESS"), b"").unwrap();
    let src_arg = src.to_str().unwrap();

    // A missing destination becomes the copy; -r is still replication, not recursion.
    cluster
        .granary(&["fs", "put", "-r", "1", src_arg, "/tree"])
        .ok();
    assert_eq!(
        cluster.granary(&["fs", "cat", "/tree/a.txt"]).ok().stdout,
        "alpha\n"
    );
    assert!(
        cluster
            .granary(&["fs", "test", "-d", "/tree/sub/empty"])
            .success
    );

    // Into an existing directory, the tree keeps its name.
    cluster.granary(&["fs", "mkdir", "/into"]).ok();
    cluster.granary(&["fs", "put", src_arg, "/into"]).ok();
    assert!(exists(&cluster, "/into/src/sub/deeper/_SUCCESS"));

    // get: a missing local destination becomes the copy, byte for byte.
    let copy = local.path().join("copy");
    cluster
        .granary(&["fs", "get", "/tree", copy.to_str().unwrap()])
        .ok();
    assert_eq!(local_tree(&copy), local_tree(&src));
    // Into an existing local directory, under the source's name.
    let parent = local.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    let parent_arg = parent.to_str().unwrap();
    cluster
        .granary(&["fs", "copyToLocal", "/into/src", parent_arg])
        .ok();
    assert_eq!(local_tree(&parent.join("src")), local_tree(&src));

    // An existing local file is kept without -f, and overwritten with it.
    std::fs::write(parent.join("src/a.txt"), b"changed").unwrap();
    let line = cluster
        .granary(&["fs", "get", "/into/src", parent_arg])
        .fails_with_one_line();
    assert!(
        line.contains("already exists (use -f to overwrite)"),
        "{line}"
    );
    assert_eq!(std::fs::read(parent.join("src/a.txt")).unwrap(), b"changed");
    cluster
        .granary(&["fs", "get", "-f", "/into/src", parent_arg])
        .ok();
    assert_eq!(local_tree(&parent.join("src")), local_tree(&src));
    let no_temp_files = local_tree(&parent)
        .keys()
        .all(|k| !k.contains(".granary-get-"));
    assert!(no_temp_files, "{:?}", local_tree(&parent).keys());

    // copyFromLocal is put, down to refusing to overwrite without -f.
    let one = local.path().join("one.txt");
    std::fs::write(&one, b"one\n").unwrap();
    cluster
        .granary(&["fs", "copyFromLocal", one.to_str().unwrap(), "/one.txt"])
        .ok();
    assert_eq!(
        cluster.granary(&["fs", "cat", "/one.txt"]).ok().stdout,
        "one\n"
    );
    let line = cluster
        .granary(&["fs", "copyFromLocal", one.to_str().unwrap(), "/one.txt"])
        .fails_with_one_line();
    assert!(line.contains("use -f to overwrite"), "{line}");

    // moveFromLocal deletes the local sources only when every one was put.
    cluster.granary(&["fs", "mkdir", "/moved"]).ok();
    let (m1, m2) = (local.path().join("m1"), local.path().join("m2"));
    std::fs::write(&m1, b"m1").unwrap();
    std::fs::create_dir(&m2).unwrap();
    std::fs::write(m2.join("inside"), b"m2").unwrap();
    cluster.granary(&["fs", "touchz", "/moved/m2"]).ok();
    let (m1_arg, m2_arg) = (m1.to_str().unwrap(), m2.to_str().unwrap());
    let line = cluster
        .granary(&["fs", "moveFromLocal", m1_arg, m2_arg, "/moved"])
        .fails_with_one_line();
    assert!(line.contains("/moved/m2: is a file"), "{line}");
    assert!(m1.exists() && m2.join("inside").exists(), "nothing deleted");
    cluster.granary(&["fs", "rm", "/moved/m2"]).ok();
    cluster
        .granary(&["fs", "moveFromLocal", "-f", m1_arg, m2_arg, "/moved"])
        .ok();
    assert!(!m1.exists() && !m2.exists());
    assert_eq!(
        cluster.granary(&["fs", "cat", "/moved/m1"]).ok().stdout,
        "m1"
    );
    assert_eq!(
        cluster
            .granary(&["fs", "cat", "/moved/m2/inside"])
            .ok()
            .stdout,
        "m2"
    );

    let help = cluster.granary(&["fs", "--help"]).ok().stdout;
    for name in ["copyFromLocal", "copyToLocal", "moveFromLocal"] {
        assert!(help.contains(name), "{name} in: {help}");
    }
}

/// A `granary` process this test started; killed and reaped when dropped, also on failure.
struct Running(std::process::Child);

impl Running {
    fn spawn(cluster: &TestCluster, args: &[&str]) -> Self {
        let child = cluster
            .granary_cmd(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run granary");
        Running(child)
    }

    /// Sends SIGINT, then returns the exit code and stderr, waiting at most 15 s.
    fn interrupt(mut self, cluster: &TestCluster) -> (Option<i32>, String) {
        // SAFETY: plain kill(2) of the child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let mut code = None;
        cluster.wait_for("granary to exit", Duration::from_secs(15), || {
            match self.0.try_wait() {
                Ok(Some(status)) => {
                    code = status.code();
                    true
                }
                _ => false,
            }
        });
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (code, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ctrl_c_during_a_tree_copy_removes_the_partial_file_it_was_writing() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        stall_timeout: Some("60s"),
        ..Default::default()
    });
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/data"), vec![7u8; 200_000]).unwrap();
    let src_arg = src.to_str().unwrap();
    cluster.granary(&["fs", "put", src_arg, "/tree"]).ok();

    // A stopped datanode keeps each copy waiting inside its first file.
    let _stopped = cluster.stop_datanode(0);
    let out = local.path().join("out");
    let get = Running::spawn(&cluster, &["fs", "get", "/tree", out.to_str().unwrap()]);
    cluster.wait_for("get's temporary file", Duration::from_secs(10), || {
        std::fs::read_dir(out.join("sub")).is_ok_and(|mut d| d.next().is_some())
    });
    let (code, stderr) = get.interrupt(&cluster);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left = local_tree(&out);
    assert!(left.values().all(Option::is_none), "files left: {left:?}");

    let put = Running::spawn(&cluster, &["fs", "put", src_arg, "/again"]);
    cluster.wait_for("put's file", Duration::from_secs(10), || {
        exists(&cluster, "/again/sub/data")
    });
    let (code, stderr) = put.interrupt(&cluster);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("deleted the partial /again/sub/data"),
        "{stderr}"
    );
    assert!(!exists(&cluster, "/again/sub/data"));
    assert!(
        exists(&cluster, "/again/sub"),
        "directories made so far stay"
    );
}
