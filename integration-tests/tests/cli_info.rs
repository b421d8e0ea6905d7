//! `hdfs dfs`'s information commands through the real CLI: `du`, `count`, `df`, `ls -h`,
//! `stat -c`, `checksum` and `find`, each against a real cluster.

use std::time::{Duration, UNIX_EPOCH};

use granary_client::checksum::block_digest_of;
use granary_integration_tests::{ClusterSpec, TestCluster};
use sha2::{Digest, Sha256};

fn small_cluster() -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    })
}

/// Writes `data` to `dst` through `fs put` with the extra `flags` (`-r 2`, `-b 64K`).
fn put(cluster: &TestCluster, data: &[u8], dst: &str, flags: &[&str]) {
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), data).unwrap();
    let mut args = vec!["fs", "put", "-p"];
    args.extend_from_slice(flags);
    args.extend([local.path().to_str().unwrap(), dst]);
    cluster.granary(&args).ok();
}

/// `/d/a.txt` (100 bytes), `/d/sub/b.log` (2000 bytes at replication 2),
/// `/d/sub/deep/C.LOG` (empty) and the empty directory `/d/empty`.
fn tree() -> TestCluster {
    let cluster = small_cluster();
    cluster
        .granary(&["fs", "mkdir", "-p", "/d/empty", "/d/sub/deep"])
        .ok();
    put(&cluster, &[b'a'; 100], "/d/a.txt", &[]);
    put(&cluster, &[b'b'; 2000], "/d/sub/b.log", &["-r", "2"]);
    cluster.granary(&["fs", "touchz", "/d/sub/deep/C.LOG"]).ok();
    cluster
}

fn stdout(cluster: &TestCluster, args: &[&str]) -> String {
    cluster.granary(args).ok().stdout
}

#[test]
fn du_lists_each_entry_with_its_size_and_the_space_its_replicas_take() {
    let cluster = tree();
    assert_eq!(
        stdout(&cluster, &["fs", "du", "/d"]),
        "100   100   /d/a.txt\n0     0     /d/empty\n2000  4000  /d/sub\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "du", "-v", "/d/sub"]),
        "SIZE  DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS  FULL_PATH_NAME\n\
         2000  4000                                   /d/sub/b.log\n\
         0     0                                      /d/sub/deep\n"
    );
    // A file is its own row.
    assert_eq!(
        stdout(&cluster, &["fs", "du", "/d/sub/b.log"]),
        "2000  4000  /d/sub/b.log\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cluster, &["fs", "du", "--json", "/d"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert_eq!(json[2]["path"], "/d/sub");
    assert_eq!(json[2]["length"], 2000);
    assert_eq!(json[2]["space_consumed"], 4000);
}

#[test]
fn du_s_h_totals_each_path_in_human_units() {
    let cluster = tree();
    assert_eq!(
        stdout(&cluster, &["fs", "du", "-s", "-h", "/d", "/d/sub"]),
        "2.1 K  4.0 K  /d\n2.0 K  3.9 K  /d/sub\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "du", "-s", "/d"]),
        "2100  4100  /d\n"
    );
    // `-h` is human-readable here; `--help` is still help.
    let help = stdout(&cluster, &["fs", "du", "--help"]);
    assert!(help.contains("human units"), "{help}");
}

#[test]
fn count_prints_directories_files_and_bytes_below_each_path() {
    let cluster = tree();
    assert_eq!(
        stdout(&cluster, &["fs", "count", "/d", "/d/sub/b.log"]),
        format!(
            "{:>12} {:>12} {:>18} /d\n{:>12} {:>12} {:>18} /d/sub/b.log\n",
            4, 3, 2100, 0, 1, 2000
        )
    );
    assert_eq!(
        stdout(&cluster, &["fs", "count", "-v", "/d/sub"]),
        format!(
            "{:>12} {:>12} {:>18} PATHNAME\n{:>12} {:>12} {:>18} /d/sub\n",
            "DIR_COUNT", "FILE_COUNT", "CONTENT_SIZE", 2, 2, 2000
        )
    );
    assert_eq!(
        stdout(&cluster, &["fs", "count", "-h", "/d"]),
        format!("{:>12} {:>12} {:>18} /d\n", 4, 3, "2.1 K")
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cluster, &["fs", "count", "--json", "/d"])).unwrap();
    let d = &json[0];
    assert_eq!(d["path"], "/d");
    assert_eq!(d["directory_count"], 4);
    assert_eq!(d["file_count"], 3);
    assert_eq!(d["length"], 2100);
    assert_eq!(d["space_consumed"], 4100);
    assert_eq!(
        (d["quota"].as_i64(), d["space_quota"].as_i64()),
        (Some(-1), Some(-1))
    );
}

#[test]
fn count_q_shows_unset_quotas_as_hdfs_does() {
    let cluster = tree();
    assert_eq!(
        stdout(&cluster, &["fs", "count", "-q", "/d/sub"]),
        format!(
            "{:>12} {:>15} {:>15} {:>15} {:>12} {:>12} {:>18} /d/sub\n",
            "none", "inf", "none", "inf", 2, 2, 2000
        )
    );
    let root = stdout(&cluster, &["fs", "count", "-q", "-h", "/"]);
    let fields: Vec<&str> = root.split_whitespace().collect();
    assert_eq!(
        fields,
        ["none", "inf", "none", "inf", "5", "3", "2.1", "K", "/"],
        "{root}"
    );
}

#[test]
fn df_shows_the_cluster_capacity_as_the_admin_report_has_it() {
    let cluster = small_cluster();
    let report = cluster.json(&["admin", "report"]);
    let df = cluster.json(&["fs", "df"]);
    assert_eq!(df["filesystem"], cluster.url.as_str());
    assert_eq!(df["size"], report["capacity"]);
    let size = df["size"].as_u64().unwrap();
    assert!(size > 0);
    assert!(df["used"].as_u64().unwrap() + df["available"].as_u64().unwrap() <= size);
    let text = stdout(&cluster, &["fs", "df"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["Filesystem", "Size", "Used", "Available", "Use%"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], cluster.url);
    assert_eq!(row[1], size.to_string());
    assert!(row[4].ends_with('%'), "{text}");
    // Right-aligned numbers: the header's Size ends where the row's does.
    let size_end = lines[1][row[0].len()..]
        .find(row[1])
        .map(|i| row[0].len() + i + row[1].len());
    assert_eq!(lines[0].find("Size").map(|i| i + 4), size_end, "{text}");
    let human = stdout(&cluster, &["fs", "df", "-h", "/"]);
    let row = human.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        [" K ", " M ", " G ", " T ", " P "]
            .iter()
            .any(|u| row.contains(u)),
        "{human}"
    );
}

#[test]
fn ls_h_prints_human_sizes_and_help_is_still_there() {
    let cluster = small_cluster();
    put(&cluster, &[7; 1536], "/f", &[]);
    let plain = stdout(&cluster, &["fs", "ls", "/"]);
    assert!(plain.contains(" 1536 "), "{plain}");
    let human = stdout(&cluster, &["fs", "ls", "-h", "/"]);
    assert!(human.contains(" 1.5 K "), "{human}");
    assert!(human.trim_end().ends_with("/f"), "{human}");
    let help = stdout(&cluster, &["fs", "ls", "--help"]);
    assert!(
        help.contains("--human-readable") && help.contains("--help"),
        "{help}"
    );
}

#[test]
fn stat_c_prints_every_directive_as_hdfs_stat() {
    let cluster = tree();
    let status = cluster.json(&["fs", "stat", "/d/sub/b.log"]);
    let ms = status["modified_ms"].as_u64().unwrap();
    let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms))
        .to_string()
        .replace('T', " ")
        .replace('Z', "");
    assert_eq!(
        stdout(
            &cluster,
            &[
                "fs",
                "stat",
                "-c",
                "%n|%b|%r|%o|%y|%Y|%F|%%",
                "/d/sub/b.log"
            ]
        ),
        format!("b.log|2000|2|1048576|{when}|{ms}|regular file|%\n")
    );
    // Several paths, a line each; a directory has no length, replication or block size.
    assert_eq!(
        stdout(
            &cluster,
            &["fs", "stat", "-c", "%F %n %b %r %o", "/d/empty", "/d/a.txt"]
        ),
        "directory empty 0 0 0\nregular file a.txt 100 1 1048576\n"
    );
    // Without -c: today's output.
    let details = stdout(&cluster, &["fs", "stat", "/d/a.txt"]);
    assert!(details.contains("path:        /d/a.txt"), "{details}");
}

#[test]
fn checksums_are_equal_for_equal_bytes_and_block_size_only() {
    let cluster = small_cluster();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut other = data.clone();
    other[150_000] ^= 1;
    put(&cluster, &data, "/one", &["-b", "64K"]);
    put(&cluster, &data, "/two", &["-b", "64K"]);
    put(&cluster, &other, "/changed", &["-b", "64K"]);
    put(&cluster, &data, "/big-blocks", &["-b", "128K"]);
    let sum = |path: &str| {
        let line = stdout(&cluster, &["fs", "checksum", path]);
        let fields: Vec<String> = line.trim_end().split('\t').map(String::from).collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[0], path);
        assert_eq!(fields[1], "SHA256-of-SHA256");
        fields[2].clone()
    };
    assert_eq!(sum("/one"), sum("/two"));
    assert_ne!(sum("/one"), sum("/changed"));
    assert_ne!(
        sum("/one"),
        sum("/big-blocks"),
        "the checksum depends on the block size"
    );
    // The definition: SHA-256 over the block digests, each computed here from the bytes.
    let mut hasher = Sha256::new();
    for block in data.chunks(64 * 1024) {
        hasher.update(block_digest_of(block).0);
    }
    assert_eq!(sum("/one"), hex(&hasher.finalize()));
    let json = cluster.json(&["fs", "checksum", "/one", "/two"]);
    assert_eq!(json[1]["path"], "/two");
    assert_eq!(json[1]["algorithm"], "SHA256-of-SHA256");
    assert_eq!(json[1]["bytes"], sum("/one").as_str());
    assert_eq!(json[1]["length"], 32);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn find_prints_the_paths_whose_name_and_type_match() {
    let cluster = tree();
    assert_eq!(
        stdout(&cluster, &["fs", "find", "/d", "--name", "*.log"]),
        "/d/sub/b.log\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "find", "/d", "--iname", "*.log"]),
        "/d/sub/b.log\n/d/sub/deep/C.LOG\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "find", "/d", "--type", "d"]),
        "/d\n/d/empty\n/d/sub\n/d/sub/deep\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "find", "/", "--name", "d", "--type", "d"]),
        "/d\n"
    );
    // Everything, parents first, when nothing filters.
    let all = stdout(&cluster, &["fs", "find", "/d/sub"]);
    assert_eq!(
        all,
        "/d/sub\n/d/sub/b.log\n/d/sub/deep\n/d/sub/deep/C.LOG\n"
    );
    let json = cluster.json(&["fs", "find", "/d", "--type", "f"]);
    let paths: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["/d/a.txt", "/d/sub/b.log", "/d/sub/deep/C.LOG"]);
}

#[test]
fn find_takes_hadoops_single_dash_spellings() {
    let cluster = tree();
    assert_eq!(
        stdout(
            &cluster,
            &["fs", "find", "/d", "-name", "*.txt", "-type", "f"]
        ),
        "/d/a.txt\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "find", "/d", "-iname", "c.*"]),
        "/d/sub/deep/C.LOG\n"
    );
    assert_eq!(
        stdout(&cluster, &["fs", "find", "/d", "-type", "d", "-name", "e*"]),
        "/d/empty\n"
    );
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let cluster = tree();
    for (args, expected) in [
        (&["fs", "du", "/missing"][..], "no such file or directory"),
        (
            &["fs", "count", "/missing"][..],
            "no such file or directory",
        ),
        (
            &["fs", "stat", "-c", "%n %q", "/d"][..],
            "unknown directive %q",
        ),
        (&["fs", "stat", "-c", "100%", "/d"][..], "lone %"),
        (&["fs", "stat", "/d", "/d/a.txt"][..], "one path at a time"),
        (&["fs", "checksum", "/d"][..], "is a directory"),
        (
            &["fs", "checksum", "/missing"][..],
            "no such file or directory",
        ),
        (
            &["fs", "find", "/d", "-name", "[a-"][..],
            "bad -name pattern",
        ),
        (&["fs", "find", "/missing"][..], "no such file or directory"),
        (&["fs", "df", "/missing"][..], "no such file or directory"),
    ] {
        let out = cluster.granary(args);
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed {}", out.stdout);
        let line = out.fails_with_one_line();
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    // Usage mistakes exit 2.
    for args in [
        &["fs", "find", "/d", "-type", "x"][..],
        &["fs", "stat", "-c", "%n", "--json", "/d"][..],
        &["fs", "count"][..],
        &["fs", "find", "/d", "-name", "a", "-iname", "b"][..],
    ] {
        let out = cluster.granary(args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
    }
}
