//! The trash through the real CLI and daemons, as `hdfs dfs` has it: `fs rm` moves to
//! `/user/$USER/.Trash/Current`, `-skipTrash` and anything already in the trash are deleted at
//! once, `fs expunge` checkpoints, the namenode's emptier deletes old checkpoints, and jobs
//! never use the trash.

use std::time::Duration;

use granary_client::protocol::{JobProgram, JobSpec};
use granary_client::FsPath;
use granary_integration_tests::{CliOutput, ClusterSpec, Daemon, TestCluster};

/// A cluster where everyone may write everywhere (`/` is 777 and the umask 000), so `alice`
/// (who is `--user` too, and not the superuser) may delete what the tests put as root: these
/// tests are of the trash, not of permissions.
fn cluster_with(mut env: Vec<(&'static str, &'static str)>) -> TestCluster {
    env.push(("GRANARY_UMASK", "000"));
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        env,
        ..Default::default()
    });
    cluster.granary(&["fs", "chmod", "777", "/"]).ok();
    cluster
}

/// `granary <args>` run by the local user `user` (so also as that user, for the namenode).
fn as_user(cluster: &TestCluster, user: &str, args: &[&str]) -> CliOutput {
    cluster
        .granary_cmd(args)
        .env("USER", user)
        .output()
        .expect("run granary")
        .into()
}

fn alice(cluster: &TestCluster, args: &[&str]) -> CliOutput {
    as_user(cluster, "alice", args)
}

/// Puts `data` at `path`, creating its parents.
fn put(cluster: &TestCluster, path: &str, data: &str) {
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), data).unwrap();
    let src = local.path().to_str().unwrap();
    cluster.granary(&["fs", "put", "-p", src, path]).ok();
}

fn cat(cluster: &TestCluster, path: &str) -> String {
    cluster.granary(&["fs", "cat", path]).ok().stdout
}

fn exists(cluster: &TestCluster, path: &str) -> bool {
    cluster.granary(&["fs", "test", "-e", path]).success
}

/// The names of the children of `dir`.
fn children(cluster: &TestCluster, dir: &str) -> Vec<String> {
    let entries = cluster.json(&["fs", "ls", dir]);
    entries
        .as_array()
        .expect("ls --json is an array")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .filter_map(|p| p.rsplit('/').next().map(str::to_string))
        .collect()
}

/// Every path in the namespace.
fn all_paths(cluster: &TestCluster) -> Vec<String> {
    let entries = cluster.json(&["fs", "ls", "-R", "/"]);
    entries
        .as_array()
        .expect("ls --json is an array")
        .iter()
        .filter_map(|e| e["path"].as_str().map(str::to_string))
        .collect()
}

fn is_checkpoint_name(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

fn blocks(cluster: &TestCluster) -> u64 {
    cluster.json(&["admin", "report"])["blocks"]
        .as_u64()
        .unwrap()
}

#[test]
fn rm_moves_to_the_users_trash_where_it_can_be_read_and_restored() {
    let cluster = cluster_with(Vec::new());
    put(&cluster, "/data/a.txt", "hello");
    put(&cluster, "/data/dir/sub/b", "b");

    let out = alice(&cluster, &["fs", "rm", "/data/a.txt"]).ok();
    let in_trash = "/user/alice/.Trash/Current/data/a.txt";
    assert_eq!(
        out.stdout,
        format!("Moved: '/data/a.txt' to trash at: {in_trash}\n")
    );
    assert!(!exists(&cluster, "/data/a.txt"));
    assert_eq!(cat(&cluster, in_trash), "hello");
    cluster.granary(&["fs", "mv", in_trash, "/data/a.txt"]).ok();
    assert_eq!(cat(&cluster, "/data/a.txt"), "hello", "restored by mv");

    // A non-empty directory needs -r, and a refused rm changes nothing.
    let before = all_paths(&cluster);
    let line = alice(&cluster, &["fs", "rm", "/data/dir"]).fails_with_one_line();
    assert!(line.contains("not empty"), "{line}");
    assert_eq!(all_paths(&cluster), before);
    let out = alice(&cluster, &["fs", "rm", "-r", "/data/dir"]).ok();
    assert!(
        out.stdout
            .contains("to trash at: /user/alice/.Trash/Current/data/dir\n"),
        "{}",
        out.stdout
    );
    assert_eq!(
        cat(&cluster, "/user/alice/.Trash/Current/data/dir/sub/b"),
        "b"
    );

    // A name already taken in Current gets the time as a suffix, as HDFS.
    alice(&cluster, &["fs", "rm", "/data/a.txt"]).ok();
    put(&cluster, "/data/a.txt", "second");
    let out = alice(&cluster, &["fs", "rm", "/data/a.txt"]).ok();
    let moved_to = out
        .stdout
        .trim_end()
        .rsplit("to trash at: ")
        .next()
        .unwrap()
        .to_string();
    let suffix = moved_to.strip_prefix(in_trash).expect("suffixed name");
    assert!(
        suffix.len() >= 13 && suffix.bytes().all(|b| b.is_ascii_digit()),
        "{moved_to}"
    );
    assert_eq!(cat(&cluster, in_trash), "hello");
    assert_eq!(cat(&cluster, &moved_to), "second");

    // Each local user has a trash of their own.
    put(&cluster, "/x", "x");
    let out = as_user(&cluster, "bob", &["fs", "rm", "/x"]).ok();
    assert!(
        out.stdout
            .contains("to trash at: /user/bob/.Trash/Current/x"),
        "{}",
        out.stdout
    );

    // Deleting inside the trash is for real.
    let out = alice(&cluster, &["fs", "rm", in_trash]).ok();
    assert_eq!(out.stdout, format!("Deleted {in_trash}\n"));
    assert!(!exists(&cluster, in_trash));
    assert!(!all_paths(&cluster)
        .iter()
        .any(|p| p.contains("/Current/user/alice")));

    // A path that contains the trash cannot go into it.
    let line = alice(&cluster, &["fs", "rm", "-r", "/user"]).fails_with_one_line();
    assert!(line.contains("contains the trash"), "{line}");
    assert_eq!(cat(&cluster, &moved_to), "second");
}

#[test]
fn skip_trash_deletes_at_once_in_both_spellings() {
    let cluster = cluster_with(Vec::new());
    put(&cluster, "/s/one", "1");
    put(&cluster, "/s/two", "2");
    let out = alice(&cluster, &["fs", "rm", "-skipTrash", "/s/one"]).ok();
    assert_eq!(out.stdout, "Deleted /s/one\n");
    let out = alice(&cluster, &["fs", "rm", "--skip-trash", "/s/two"]).ok();
    assert_eq!(out.stdout, "Deleted /s/two\n");
    assert!(!exists(&cluster, "/user"), "{:?}", all_paths(&cluster));
    assert_eq!(blocks(&cluster), 0, "deleted blocks are freed");
}

#[test]
fn a_file_where_the_trash_directory_should_be_stops_rm_and_moves_nothing() {
    let cluster = cluster_with(Vec::new());
    put(&cluster, "/keep/f", "data");
    cluster.granary(&["fs", "mkdir", "-p", "/user/alice"]).ok();
    cluster
        .granary(&["fs", "touchz", "/user/alice/.Trash"])
        .ok();
    let error = alice(&cluster, &["fs", "rm", "/keep/f"]).fails_with_one_line();
    assert!(
        error.contains("/user/alice/.Trash is a file") && error.contains("-skipTrash"),
        "{error}"
    );
    assert_eq!(cat(&cluster, "/keep/f"), "data");
    assert_eq!(
        children(&cluster, "/user/alice"),
        [".Trash"],
        "nothing beside it"
    );
}

#[test]
fn expunge_checkpoints_current_and_immediate_empties_the_trash() {
    let cluster = cluster_with(Vec::new());
    put(&cluster, "/e/a", "a");
    alice(&cluster, &["fs", "rm", "/e/a"]).ok();
    let out = alice(&cluster, &["fs", "expunge"]).ok();
    let created = out
        .stdout
        .strip_prefix("Created trash checkpoint: /user/alice/.Trash/")
        .unwrap_or_else(|| panic!("{}", out.stdout))
        .trim_end()
        .to_string();
    assert!(is_checkpoint_name(&created), "{created}");
    assert_eq!(
        children(&cluster, "/user/alice/.Trash"),
        vec![created.clone()]
    );
    assert_eq!(
        cat(&cluster, &format!("/user/alice/.Trash/{created}/e/a")),
        "a"
    );
    // Nothing in Current and no checkpoint older than a day: nothing to do.
    let out = alice(&cluster, &["fs", "expunge", "--json"]).ok();
    let done: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(done, serde_json::json!({"created": null, "deleted": []}));

    put(&cluster, "/e/b", "b");
    alice(&cluster, &["fs", "rm", "/e/b"]).ok();
    let out = alice(&cluster, &["fs", "expunge", "-immediate"]).ok();
    assert_eq!(
        out.stdout.matches("Deleted trash checkpoint: ").count(),
        2,
        "{}",
        out.stdout
    );
    assert!(children(&cluster, "/user/alice/.Trash").is_empty());
    assert_eq!(blocks(&cluster), 0, "expunged blocks are freed");
}

#[test]
fn a_trash_interval_of_0_turns_the_trash_off() {
    let cluster = cluster_with(vec![("GRANARY_TRASH_INTERVAL", "0s")]);
    put(&cluster, "/z", "z");
    let out = alice(&cluster, &["fs", "rm", "/z"]).ok();
    assert_eq!(out.stdout, "Deleted /z\n");
    assert!(!exists(&cluster, "/z"));
    assert!(!exists(&cluster, "/user"));
}

#[test]
fn the_namenode_emptier_checkpoints_and_deletes_old_checkpoints() {
    let cluster = cluster_with(vec![
        ("GRANARY_TRASH_INTERVAL", "3s"),
        ("GRANARY_TRASH_CHECKPOINT_INTERVAL", "1s"),
    ]);
    put(&cluster, "/old", "old");
    alice(&cluster, &["fs", "rm", "/old"]).ok();
    let trash = "/user/alice/.Trash";
    let mut checkpoint = String::new();
    cluster.wait_for("the emptier's checkpoint", Duration::from_secs(20), || {
        let names = children(&cluster, trash);
        match names.as_slice() {
            [one] if is_checkpoint_name(one) => {
                checkpoint = one.clone();
                true
            }
            _ => false,
        }
    });
    assert_eq!(cat(&cluster, &format!("{trash}/{checkpoint}/old")), "old");
    cluster.wait_for(
        "the emptier to delete the old checkpoint",
        Duration::from_secs(30),
        || children(&cluster, trash).is_empty(),
    );
    // The block map lets go once the delete is durable, just after the namespace shows it.
    cluster.wait_for(
        "the emptier's delete to free the blocks",
        Duration::from_secs(10),
        || blocks(&cluster) == 0,
    );
}

#[test]
fn trash_settings_and_contents_survive_a_namenode_restart() {
    let cluster = cluster_with(vec![("GRANARY_TRASH_INTERVAL", "1h")]);
    put(&cluster, "/r/f", "kept");
    alice(&cluster, &["fs", "rm", "/r/f"]).ok();
    cluster.restart(Daemon::Namenode, &[]);
    cluster.wait_writable(Duration::from_secs(30));
    assert_eq!(cat(&cluster, "/user/alice/.Trash/Current/r/f"), "kept");
    let defaults = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(cluster.client().server_defaults())
        .unwrap();
    assert_eq!(defaults.trash_interval_ms, 3_600_000);
    put(&cluster, "/r/g", "g");
    let out = alice(&cluster, &["fs", "rm", "/r/g"]).ok();
    assert!(out.stdout.starts_with("Moved: '/r/g'"), "{}", out.stdout);
}

#[test]
fn jobs_clean_up_without_the_trash() {
    let cluster = cluster_with(Vec::new());
    put(&cluster, "/in/x", "a b\nb c\n");
    let job = |output: &str, mapper: &[&str]| {
        let mut args = vec!["job", "run", "--input", "/in", "--output", output];
        args.extend_from_slice(mapper);
        alice(&cluster, &args)
    };
    job("/out/ok", &["--builtin", "wordcount"]).ok();
    let failed = job(
        "/out/failed",
        &[
            "--mapper",
            "false",
            "--reducers",
            "0",
            "--max-attempts",
            "1",
        ],
    );
    assert!(!failed.success, "{}", failed.stdout);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fs = cluster.client();
    let slow = JobSpec {
        reducers: Some(0),
        ..JobSpec::new(
            vec!["/in".into()],
            FsPath::parse("/out/killed").unwrap(),
            JobProgram::Streaming {
                mapper: "sleep 30".into(),
                combiner: None,
                reducer: None,
            },
        )
    };
    let killed = runtime.block_on(fs.submit_job(slow)).unwrap();
    alice(&cluster, &["job", "kill", &killed.id.0]).ok();

    let leftover = |p: &String| {
        p.starts_with("/out/failed") || p.starts_with("/out/killed") || p.contains("_temporary")
    };
    cluster.wait_for(
        "the failed and killed jobs' output to be removed",
        Duration::from_secs(20),
        || !all_paths(&cluster).iter().any(leftover),
    );
    let paths = all_paths(&cluster);
    assert!(paths.iter().any(|p| p == "/out/ok/_SUCCESS"), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains(".Trash")), "{paths:?}");
    // The trash is on in this cluster: an rm does use it.
    let out = alice(&cluster, &["fs", "rm", "/in/x"]).ok();
    assert!(out.stdout.starts_with("Moved: "), "{}", out.stdout);
}
