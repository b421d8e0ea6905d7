//! Bad input against the `fs` commands, through the real CLI and daemons: what a careless or
//! hostile user types must end in one error line, a non-zero exit and, for `--json`, stdout
//! that is still one valid JSON document.

use granary_integration_tests::{ClusterSpec, TestCluster};
use serde_json::Value;

fn small_cluster() -> TestCluster {
    TestCluster::start(ClusterSpec {
        datanodes: 1,
        replication: 1,
        ..Default::default()
    })
}

#[test]
fn streamed_json_stays_valid_when_a_later_path_is_missing() {
    let cluster = small_cluster();
    cluster.granary(&["fs", "mkdir", "-p", "/d/sub"]).ok();
    cluster.granary(&["fs", "touchz", "/d/a"]).ok();
    let cases: [(&[&str], usize); 4] = [
        (&["fs", "ls", "--json", "/d", "/missing"], 2),
        (&["fs", "find", "--json", "/d", "/missing"], 3),
        (&["fs", "du", "--json", "/d", "/missing"], 2),
        (&["fs", "du", "--json", "/missing"], 0),
    ];
    for (args, listed) in cases {
        let out = cluster.granary(args);
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        let parsed: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", out.stdout));
        assert_eq!(parsed.as_array().map(Vec::len), Some(listed), "{args:?}");
        let error = out.fails_with_one_line();
        assert!(error.contains("/missing"), "{args:?}: {error}");
    }
}
