//! Owners and permissions through the real `granary` CLI, acting as different users with
//! `--user` (HDFS's "simple" mode). The namenode takes a user's groups from this host, so
//! the tests rely on Debian's standard system users `daemon`, `bin` and `sys`, each alone in
//! its own primary group; they check that first and fail loudly otherwise.

use granary_integration_tests::{CliOutput, ClusterSpec, Daemon, TestCluster};

/// The file's owner, a member of its group, and another user.
const OWNER: &str = "daemon";
const MEMBER: &str = "bin";
const OTHER: &str = "sys";

/// Fails the test unless the host has the users and groups it relies on.
fn require_host_users() {
    for user in [OWNER, MEMBER, OTHER] {
        let out = std::process::Command::new("id")
            .args(["-nG", user])
            .output()
            .expect("run id");
        let groups = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && groups.split_whitespace().collect::<Vec<_>>() == [user],
            "this test needs a host user {user:?} whose only group is {user:?} (Debian's \
             standard system users); `id -nG {user}` said: {groups:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn cluster() -> TestCluster {
    require_host_users();
    TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    })
}

fn as_user(cluster: &TestCluster, user: &str, args: &[&str]) -> CliOutput {
    let mut full = vec!["--user", user];
    full.extend_from_slice(args);
    cluster.granary(&full)
}

/// `owner group mode` of `path`, from `stat -c`.
fn attrs(cluster: &TestCluster, path: &str) -> String {
    let out = cluster
        .granary(&["fs", "stat", "-c", "%u %g %a %A", path])
        .ok();
    out.stdout.trim().to_string()
}

fn denied(out: CliOutput, want: &str) {
    let line = out.fails_with_one_line();
    assert!(line.contains("Permission denied"), "{line}");
    assert!(line.contains(want), "{line} lacks {want}");
}

#[test]
fn owner_group_and_other_get_their_own_access() {
    let cluster = cluster();
    cluster.granary(&["fs", "mkdir", "/d"]).ok();
    cluster
        .granary(&["fs", "chown", &format!("{OWNER}:{MEMBER}"), "/d"])
        .ok();
    cluster.granary(&["fs", "chmod", "750", "/d"]).ok();
    assert_eq!(
        attrs(&cluster, "/d"),
        format!("{OWNER} {MEMBER} 750 rwxr-x---")
    );

    // The owner creates inside; the new file is its, with the directory's group, 644.
    as_user(&cluster, OWNER, &["fs", "touchz", "/d/f"]).ok();
    as_user(&cluster, OWNER, &["fs", "mkdir", "/d/sub"]).ok();
    assert_eq!(
        attrs(&cluster, "/d/f"),
        format!("{OWNER} {MEMBER} 644 rw-r--r--")
    );
    assert_eq!(
        attrs(&cluster, "/d/sub"),
        format!("{OWNER} {MEMBER} 755 rwxr-xr-x")
    );

    // The group may list and read, not create or delete.
    as_user(&cluster, MEMBER, &["fs", "ls", "/d"]).ok();
    as_user(&cluster, MEMBER, &["fs", "cat", "/d/f"]).ok();
    denied(
        as_user(&cluster, MEMBER, &["fs", "touchz", "/d/g"]),
        &format!("user={MEMBER}, access=WRITE_EXECUTE, inode=\"/d\":{OWNER}:{MEMBER}:drwxr-x---"),
    );
    denied(
        as_user(&cluster, MEMBER, &["fs", "rm", "-skipTrash", "/d/f"]),
        "access=WRITE_EXECUTE",
    );

    // Others may not even pass through.
    denied(
        as_user(&cluster, OTHER, &["fs", "ls", "/d"]),
        &format!("user={OTHER}, access=READ_EXECUTE, inode=\"/d\""),
    );
    denied(
        as_user(&cluster, OTHER, &["fs", "cat", "/d/f"]),
        &format!("user={OTHER}, access=EXECUTE, inode=\"/d\""),
    );

    // Read needs r on the file: the owner takes its own away and is refused.
    as_user(&cluster, OWNER, &["fs", "chmod", "u-r", "/d/f"]).ok();
    denied(
        as_user(&cluster, OWNER, &["fs", "cat", "/d/f"]),
        "access=READ, inode=\"/d/f\"",
    );
    // The superuser (root, the namenode's user) passes every check.
    cluster.granary(&["fs", "cat", "/d/f"]).ok();
    // Nothing the refusals touched changed.
    let listing = cluster.granary(&["fs", "ls", "/d"]).ok().stdout;
    assert_eq!(listing.lines().count(), 2, "{listing}");
}

#[test]
fn chown_needs_the_superuser_and_chgrp_a_group_of_ones_own() {
    let cluster = cluster();
    cluster.granary(&["fs", "mkdir", "/home"]).ok();
    cluster.granary(&["fs", "chown", OWNER, "/home"]).ok();
    as_user(&cluster, OWNER, &["fs", "touchz", "/home/f"]).ok();
    denied(
        as_user(&cluster, OWNER, &["fs", "chown", OTHER, "/home/f"]),
        "not the superuser",
    );
    denied(
        as_user(&cluster, OWNER, &["fs", "chgrp", OTHER, "/home/f"]),
        &format!("does not belong to {OTHER}"),
    );
    denied(
        as_user(&cluster, OTHER, &["fs", "chmod", "777", "/home/f"]),
        "not the owner",
    );
    as_user(&cluster, OWNER, &["fs", "chgrp", OWNER, "/home/f"]).ok();
    assert_eq!(
        attrs(&cluster, "/home/f"),
        format!("{OWNER} {OWNER} 644 rw-r--r--")
    );
    // A bad mode is a usage-style error and changes nothing.
    cluster
        .granary(&["fs", "chmod", "u+q", "/home/f"])
        .fails_with_one_line();
    assert_eq!(
        attrs(&cluster, "/home/f"),
        format!("{OWNER} {OWNER} 644 rw-r--r--")
    );
}

#[test]
fn chmod_r_changes_everything_below_and_the_sticky_bit_protects_others_entries() {
    let cluster = cluster();
    cluster.granary(&["fs", "mkdir", "-p", "/t/a/b"]).ok();
    cluster.granary(&["fs", "touchz", "/t/a/b/f"]).ok();
    cluster.granary(&["fs", "chmod", "-R", "700", "/t"]).ok();
    for path in ["/t", "/t/a", "/t/a/b", "/t/a/b/f"] {
        assert!(attrs(&cluster, path).ends_with("700 rwx------"), "{path}");
    }
    cluster.granary(&["fs", "chmod", "-R", "go+rX", "/t"]).ok();
    assert!(attrs(&cluster, "/t/a/b").ends_with("755 rwxr-xr-x"));
    // X: the file is executable by its owner, so it gets x too.
    assert!(attrs(&cluster, "/t/a/b/f").ends_with("755 rwxr-xr-x"));

    cluster.granary(&["fs", "mkdir", "/tmp"]).ok();
    cluster.granary(&["fs", "chmod", "1777", "/tmp"]).ok();
    as_user(&cluster, OWNER, &["fs", "touchz", "/tmp/mine"]).ok();
    denied(
        as_user(&cluster, OTHER, &["fs", "rm", "-skipTrash", "/tmp/mine"]),
        "sticky bit",
    );
    denied(
        as_user(&cluster, OTHER, &["fs", "mv", "/tmp/mine", "/tmp/theirs"]),
        "sticky bit",
    );
    as_user(&cluster, OWNER, &["fs", "rm", "-skipTrash", "/tmp/mine"]).ok();
    let line = cluster.granary(&["fs", "ls", "/"]).ok().stdout;
    assert!(
        line.lines()
            .any(|l| l.starts_with("drwxrwxrwt ") && l.ends_with(" /tmp")),
        "{line}"
    );
}

#[test]
fn ls_shows_mode_owner_and_group_and_json_has_them_and_a_restart_keeps_them() {
    let cluster = cluster();
    cluster.granary(&["fs", "mkdir", "/d"]).ok();
    cluster
        .granary(&["fs", "chown", &format!("{OWNER}:{MEMBER}"), "/d"])
        .ok();
    cluster.granary(&["fs", "chmod", "1750", "/d"]).ok();
    as_user(&cluster, OWNER, &["fs", "touchz", "/d/f"]).ok();

    let listing = cluster.granary(&["fs", "ls", "/"]).ok().stdout;
    let fields: Vec<&str> = listing
        .lines()
        .find(|l| l.ends_with(" /d"))
        .unwrap_or_else(|| panic!("no /d in {listing}"))
        .split_whitespace()
        .collect();
    // drwxr-x--T   - daemon bin   0 2026-12-04 21:00 /d
    assert_eq!(fields.len(), 8, "{fields:?}");
    assert_eq!(
        &fields[..5],
        ["drwxr-x--T", "-", OWNER, MEMBER, "0"],
        "{fields:?}"
    );
    let file = cluster.granary(&["fs", "ls", "/d"]).ok().stdout;
    let fields: Vec<&str> = file.split_whitespace().collect();
    assert_eq!(
        &fields[..5],
        ["-rw-r--r--", "1", OWNER, MEMBER, "0"],
        "{file}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&cluster.granary(&["fs", "ls", "--json", "/d"]).ok().stdout).unwrap();
    let entry = &json[0];
    assert_eq!(entry["owner"], OWNER);
    assert_eq!(entry["group"], MEMBER);
    assert_eq!(entry["permission"], "644", "an octal string, as WebHDFS");
    let stat: serde_json::Value =
        serde_json::from_str(&cluster.granary(&["fs", "stat", "--json", "/d"]).ok().stdout)
            .unwrap();
    assert_eq!(stat["permission"], "1750");
    assert_eq!(stat["owner"], OWNER);

    cluster.restart(Daemon::Namenode, &[]);
    assert_eq!(
        attrs(&cluster, "/d"),
        format!("{OWNER} {MEMBER} 1750 rwxr-x--T")
    );
    assert_eq!(
        attrs(&cluster, "/d/f"),
        format!("{OWNER} {MEMBER} 644 rw-r--r--")
    );
    denied(
        as_user(&cluster, OTHER, &["fs", "ls", "/d"]),
        "access=READ_EXECUTE",
    );
}

#[test]
fn jobs_run_as_their_submitter() {
    let cluster = cluster();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), "a line\n").unwrap();
    cluster.granary(&["fs", "mkdir", "/jobs", "/locked"]).ok();
    cluster.granary(&["fs", "chmod", "777", "/jobs"]).ok();
    let src = local.path().to_str().unwrap();
    cluster.granary(&["fs", "put", src, "/jobs/in.txt"]).ok();
    cluster
        .granary(&["fs", "chmod", "600", "/jobs/in.txt"])
        .ok();
    let job = |output: &str| {
        as_user(
            &cluster,
            OTHER,
            &[
                "job",
                "run",
                "--input",
                "/jobs/in.txt",
                "--output",
                output,
                "--mapper",
                r#"cat >/dev/null; echo "ran as $mapreduce_job_user_name""#,
                "--reducers",
                "0",
            ],
        )
    };
    // The submitter must be able to read the inputs and create the output.
    denied(
        job("/jobs/out"),
        &format!("user={OTHER}, access=READ, inode=\"/jobs/in.txt\""),
    );
    cluster
        .granary(&["fs", "chmod", "644", "/jobs/in.txt"])
        .ok();
    denied(
        job("/locked/out"),
        "access=WRITE_EXECUTE, inode=\"/locked\"",
    );
    assert!(
        !cluster
            .granary(&["fs", "test", "-e", "/locked/out"])
            .success
    );
    // Streaming commands are told who submitted the job.
    job("/jobs/out").ok();
    let out = cluster
        .granary(&["fs", "cat", "/jobs/out/part-m-00000"])
        .ok();
    assert_eq!(out.stdout.trim(), format!("ran as {OTHER}"));
    // The output is the submitter's.
    for path in ["/jobs/out", "/jobs/out/part-m-00000", "/jobs/out/_SUCCESS"] {
        let attrs = attrs(&cluster, path);
        assert!(attrs.starts_with(&format!("{OTHER} ")), "{path}: {attrs}");
    }
}
