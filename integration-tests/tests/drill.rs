//! `granary drill`: remove datanodes from a live cluster and prove nothing is lost.

use granary_integration_tests::{ClusterSpec, TestCluster};

fn drill(cluster: &TestCluster, args: &[&str]) -> granary_integration_tests::CliOutput {
    let dir = cluster.dir.path().to_str().unwrap().to_string();
    let mut all = vec![
        "drill",
        "--dir",
        &dir,
        "--files",
        "3",
        "--file-size",
        "3M",
        "--json",
    ];
    all.extend_from_slice(args);
    cluster.granary(&all)
}

#[test]
fn a_kill_drill_passes_and_reports_each_phase() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    let out = drill(&cluster, &["--kill", "1"]).ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report}");
    assert_eq!(report["files_verified_while_down"], 3);
    assert_eq!(report["files_verified_after_healing"], 3);
    assert!(report["mismatched_files"].as_array().unwrap().is_empty());
    assert!(
        report["seconds_to_declare_removed"].as_f64().unwrap() < 10.0,
        "{report}"
    );
    assert!(
        report["seconds_to_full_replication"].as_f64().is_some(),
        "{report}"
    );
    assert!(
        report["bytes_re_replicated"].as_u64().unwrap() > 0,
        "{report}"
    );
    let removed = report["removed"][0].as_str().unwrap();
    assert_eq!(cluster.datanode_state(removed), "dead");
    // The data set is cleaned up afterwards.
    assert!(cluster
        .json(&["fs", "ls", "/"])
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn a_decommission_drill_passes() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    let out = drill(&cluster, &["--decommission", "1"]).ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "PASS", "{report}");
    assert_eq!(
        cluster.datanode_state(report["removed"][0].as_str().unwrap()),
        "decommissioned"
    );
}

#[test]
fn a_drill_that_could_not_heal_is_refused_before_it_starts() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let line = drill(&cluster, &["--kill", "1"]).fails_with_one_line();
    assert!(line.contains("too few for replication 3"), "{line}");
    assert!(
        cluster.status().datanodes.iter().all(|d| d.running),
        "nothing was killed"
    );
    assert!(
        cluster
            .json(&["fs", "ls", "/"])
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
}

#[test]
fn a_drill_during_a_job_gets_the_fault_free_output() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 3,
        ..Default::default()
    });
    let dir = cluster.dir.path().to_str().unwrap().to_string();
    for phase in ["map", "reduce"] {
        let out = cluster
            .granary(&[
                "drill",
                "--dir",
                &dir,
                "--during-job",
                "--kill-in",
                phase,
                "--json",
            ])
            .ok();
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["verdict"], "PASS", "{report}");
        assert_eq!(report["mode"], "during-job");
        assert_eq!(report["outputs_identical"], true, "{report}");
        assert_eq!(report["kill_phase"], phase, "{report}");
        let killed = report["killed"].as_str().expect("a datanode was killed");
        assert_eq!(cluster.datanode_state(killed), "dead");
        // Bring the node back for the next round; the drill cleaned up after itself.
        cluster.up();
        assert!(cluster
            .json(&["fs", "ls", "/"])
            .as_array()
            .unwrap()
            .is_empty());
    }
}
