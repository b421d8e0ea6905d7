//! Listings page through the namenode's `ls_limit`: the CLI and the client library see every
//! entry of a directory far larger than one page.

use std::collections::BTreeSet;

use granary_client::FsPath;
use granary_integration_tests::{ClusterSpec, TestCluster};

const LS_LIMIT: &str = "7";
const DIRS: usize = 40;

#[test]
fn fs_ls_pages_through_a_directory_larger_than_ls_limit() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        env: vec![("GRANARY_LS_LIMIT", LS_LIMIT)],
        ..Default::default()
    });
    let dirs: Vec<String> = (0..DIRS).map(|i| format!("/many/d{i:02}")).collect();
    let mut mkdir = vec!["fs", "mkdir", "-p"];
    mkdir.extend(dirs.iter().map(String::as_str));
    cluster.granary(&mkdir).ok();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), b"inside\n").unwrap();
    let src = local.path().to_str().unwrap();
    for inner in ["/many/d03/x", "/many/d03/y", "/many/d39/z"] {
        cluster.granary(&["fs", "put", src, inner]).ok();
    }

    let listed = cluster.json(&["fs", "ls", "/many"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, dirs, "every child once, in name order");

    let text = cluster.granary(&["fs", "ls", "/many"]).ok().stdout;
    assert_eq!(text.lines().count(), DIRS);

    let recursive = cluster.json(&["fs", "ls", "-R", "/many"]);
    let all: Vec<&str> = recursive
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(all.len(), DIRS + 3);
    let pos = |p: &str| all.iter().position(|e| *e == p).unwrap();
    assert!(pos("/many/d03") < pos("/many/d03/x"), "directories first");
    assert!(pos("/many/d03/y") < pos("/many/d04"), "then their contents");

    let fs = cluster.client();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let many = FsPath::parse("/many").unwrap();
        let page = fs.list_page(&many, None, Some(1000)).await.unwrap();
        assert_eq!(page.entries.len(), 7, "capped at ls_limit");
        assert_eq!(page.next_start_after.as_deref(), Some("d06"));
        let next = fs.list_page(&many, Some("d06"), None).await.unwrap();
        assert_eq!(next.entries[0].path.as_str(), "/many/d07");
        let children = fs.list(&many, false).await.unwrap();
        assert_eq!(children.len(), DIRS);
        let below: BTreeSet<String> = fs
            .list(&many, true)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.path.to_string())
            .collect();
        assert_eq!(below.len(), DIRS + 3);
    });
}
