//! Datanode loss and data integrity: the cluster notices, keeps serving every file, and heals
//! itself back to full replication.

use std::collections::HashSet;
use std::time::Duration;

use granary_client::{FsPath, Granary, PutOptions};
use granary_integration_tests::{test_bytes, ClusterSpec, TestCluster};

const MIB: usize = 1 << 20;
/// Generous bound for healing in tests (the benchmark measures the real figure).
const HEAL: Duration = Duration::from_secs(30);

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

/// Writes `n` multi-block files and returns them with their contents.
async fn write_files(fs: &Granary, n: u64) -> Vec<(FsPath, Vec<u8>)> {
    let mut files = Vec::new();
    for i in 0..n {
        let path = p(&format!("/data/f{i}"));
        let data = test_bytes(2 * MIB + 1000 * i as usize, 70 + i);
        fs.put_bytes(
            &data,
            &path,
            &PutOptions {
                create_parents: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        files.push((path, data));
    }
    files
}

async fn assert_all_readable(fs: &Granary, files: &[(FsPath, Vec<u8>)]) {
    for (path, data) in files {
        assert_eq!(&fs.read_to_vec(path).await.unwrap(), data, "{path}");
    }
}

/// Whether every block of every file lists exactly `replication` replica locations. A trimmed
/// replica leaves the locations when its datanode reports the deletion, a moment after fsck
/// stops counting it.
fn every_block_has(cluster: &TestCluster, files: &[(FsPath, Vec<u8>)], replication: usize) -> bool {
    files.iter().all(|(path, _)| {
        let stat = cluster.json(&["fs", "stat", path.as_str()]);
        stat["blocks"].as_array().is_some_and(|blocks| {
            blocks.iter().all(|b| {
                b["locations"]
                    .as_array()
                    .is_some_and(|l| l.len() == replication)
            })
        })
    })
}

/// Every block of every file has exactly `replication` replicas, none on `excluded`.
async fn assert_replicas(
    fs: &Granary,
    files: &[(FsPath, Vec<u8>)],
    replication: usize,
    excluded: &[String],
) {
    for (path, _) in files {
        for block in fs.locate(path).await.unwrap().blocks {
            let ids: HashSet<String> = block.locations.iter().map(|l| l.id.0.clone()).collect();
            assert_eq!(ids.len(), replication, "{path} {}: {ids:?}", block.id);
            assert!(
                excluded.iter().all(|x| !ids.contains(x)),
                "{path} {} still on a removed node: {ids:?}",
                block.id
            );
        }
    }
}

/// Finalized replicas in a datanode's data directory (one sidecar each).
fn replicas_on_disk(data_dir: &std::path::Path) -> u64 {
    granary_integration_tests::replica_files(data_dir)
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "meta"))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_four_datanodes_heals_back_to_full_replication() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    let fs = cluster.client();
    let files = write_files(&fs, 3).await;
    let victim = cluster.datanode_id(0);
    cluster.kill_datanode(0);
    assert_all_readable(&fs, &files).await;
    // Found dead through its dropped lifeline, long before the 30 s dead_after.
    cluster.wait_for(
        "the killed datanode to be declared dead",
        Duration::from_secs(10),
        || cluster.datanode_state(&victim) == "dead",
    );
    cluster.wait_for("full replication", HEAL, || cluster.fully_replicated());
    assert_replicas(&fs, &files, 3, &[victim]).await;
    assert_all_readable(&fs, &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_two_of_five_datanodes_at_replication_three_loses_nothing() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 5,
        ..Default::default()
    });
    let fs = cluster.client();
    let files = write_files(&fs, 4).await;
    let victims = vec![cluster.datanode_id(1), cluster.datanode_id(3)];
    cluster.kill_datanode(1);
    cluster.kill_datanode(3);
    assert_all_readable(&fs, &files).await;
    cluster.wait_for("both declared dead", Duration::from_secs(10), || {
        victims.iter().all(|v| cluster.datanode_state(v) == "dead")
    });
    cluster.wait_for("full replication", HEAL, || cluster.fully_replicated());
    assert_replicas(&fs, &files, 3, &victims).await;
    assert_all_readable(&fs, &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_are_found_by_the_scanner_and_repaired() {
    let cluster = TestCluster::start(ClusterSpec {
        env: vec![
            ("GRANARY_SCAN_PERIOD", "500ms"),
            ("GRANARY_SCAN_RATE", "1G"),
        ],
        ..Default::default()
    });
    let fs = cluster.client();
    let files = write_files(&fs, 1).await;
    let block = fs.locate(&files[0].0).await.unwrap().blocks[0].id.0;
    let dn = cluster.datanode(2);
    let replica = dn
        .data_dir
        .join("current")
        .join(format!("{:02x}", block % 256))
        .join(format!("blk_{block}"));
    let mut bytes = std::fs::read(&replica).unwrap();
    bytes[12_345] ^= 0x5a;
    std::fs::write(&replica, &bytes).unwrap();

    // No client reads it: the scanner must find it, and the namenode replace it.
    cluster.wait_for("the corrupt replica to be repaired", HEAL, || {
        std::fs::read(&replica).is_ok_and(|now| now != bytes)
            && cluster.fully_replicated()
            && every_block_has(&cluster, &files, 3)
    });
    assert_replicas(&fs, &files, 3, &[]).await;
    // Every replica is good again: read each one through a reader on its own datanode.
    for index in 0..3 {
        let ip = cluster
            .datanode(index)
            .address
            .unwrap()
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .ip();
        assert_eq!(
            cluster
                .client_from(ip)
                .read_to_vec(&files[0].0)
                .await
                .unwrap(),
            files[0].1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommission_drains_a_datanode_and_recommission_returns_it() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    let fs = cluster.client();
    let files = write_files(&fs, 3).await;
    let drained = cluster.datanode_id(0);
    cluster.granary(&["admin", "decommission", &drained]).ok();
    assert_all_readable(&fs, &files).await;
    cluster.wait_for("decommissioned", HEAL, || {
        cluster.datanode_state(&drained) == "decommissioned"
    });
    // Every block has its full replica count on the other nodes.
    for (path, _) in &files {
        for block in fs.locate(path).await.unwrap().blocks {
            let others = block.locations.iter().filter(|l| l.id.0 != drained).count();
            assert!(
                others >= 3,
                "{path} {}: {others} replicas off the drained node",
                block.id
            );
        }
    }
    // It may now be stopped: nothing is lost.
    cluster.kill_datanode(0);
    assert_all_readable(&fs, &files).await;
    cluster.up();
    cluster.granary(&["admin", "recommission", &drained]).ok();
    cluster.wait_for("back in service and trimmed", HEAL, || {
        cluster.datanode_state(&drained) == "live"
            && cluster.fully_replicated()
            && every_block_has(&cluster, &files, 3)
    });
    assert_replicas(&fs, &files, 3, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_datanode_brings_back_excess_replicas_that_are_trimmed() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    let fs = cluster.client();
    let files = write_files(&fs, 3).await;
    let restarted = cluster.datanode(2);
    cluster.kill_datanode(2);
    cluster.wait_for("healed without it", HEAL, || cluster.fully_replicated());
    cluster.up();
    // Its old replicas come back in its block report: over-replicated, then trimmed. The
    // namenode has seen that report once its count for the node matches the node's disk.
    let id = restarted.id.clone().unwrap();
    cluster.wait_for(
        "the report processed and excess replicas trimmed",
        HEAL,
        || {
            let report = cluster.json(&["admin", "report"]);
            let known = report["datanodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["id"] == id.as_str())
                .cloned();
            let on_disk = replicas_on_disk(&restarted.data_dir);
            known.is_some_and(|d| d["state"] == "live" && d["blocks"] == on_disk)
                && cluster.fully_replicated()
                && every_block_has(&cluster, &files, 3)
        },
    );
    assert_replicas(&fs, &files, 3, &[]).await;
    assert_all_readable(&fs, &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setrep_raises_and_lowers_replication() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    let fs = cluster.client();
    let files = write_files(&fs, 1).await;
    cluster.granary(&["fs", "setrep", "-w", "4", "/data"]).ok();
    assert_replicas(&fs, &files, 4, &[]).await;
    cluster
        .granary(&["fs", "setrep", "-w", "2", "/data/f0"])
        .ok();
    assert_replicas(&fs, &files, 2, &[]).await;
    assert_eq!(cluster.json(&["fs", "stat", "/data/f0"])["replication"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_namenode_is_in_safe_mode_until_blocks_are_reported() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let files = write_files(&fs, 2).await;
    for i in 0..3 {
        cluster.kill_datanode(i);
    }
    cluster.kill_namenode();
    {
        // With no datanode reporting, the restarted namenode stays read-only.
        let _namenode = cluster.start_namenode_alone();
        let status = cluster.json(&["admin", "safemode", "get"]);
        assert_eq!(status["on"], true, "{status}");
        let line = cluster
            .granary(&["fs", "mkdir", "/new"])
            .fails_with_one_line();
        assert!(line.contains("safe mode"), "{line}");
        assert_eq!(
            cluster.json(&["fs", "ls", "/"]).as_array().unwrap().len(),
            1,
            "reads work in safe mode"
        );
    }
    cluster.up();
    cluster.wait_for("safe mode to end once blocks are reported", HEAL, || {
        cluster.json(&["admin", "safemode", "get"])["on"] == false
    });
    assert_all_readable(&cluster.client(), &files).await;
    cluster.granary(&["fs", "mkdir", "/new"]).ok();

    // An operator can also hold the namespace read-only, and release it.
    cluster.granary(&["admin", "safemode", "enter"]).ok();
    let line = cluster
        .granary(&["fs", "mkdir", "/newer"])
        .fails_with_one_line();
    assert!(line.contains("safe mode"), "{line}");
    cluster.granary(&["admin", "safemode", "leave"]).ok();
    cluster.granary(&["fs", "mkdir", "/newer"]).ok();
}

#[test]
fn fsck_reports_missing_blocks_and_exits_non_zero() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 2,
        replication: 1,
        ..Default::default()
    });
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), test_bytes(3 * MIB, 3)).unwrap();
    cluster
        .granary(&["fs", "put", local.path().to_str().unwrap(), "/single"])
        .ok();
    let healthy = cluster.granary(&["admin", "fsck", "/"]).ok();
    assert!(healthy.stdout.contains("HEALTHY"), "{}", healthy.stdout);
    cluster.kill_datanode(0);
    cluster.kill_datanode(1);
    cluster.wait_for("blocks reported missing", HEAL, || {
        cluster.fsck()["missing"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    });
    let out = cluster.granary(&["admin", "fsck", "/", "--json"]);
    assert!(
        !out.success,
        "fsck must exit non-zero when blocks are missing"
    );
    let f: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(f["status"], "CORRUPT");
    assert_eq!(f["missing"][0]["file"], "/single");
    for key in [
        "status",
        "files",
        "blocks",
        "under_replicated",
        "missing",
        "corrupt",
    ] {
        assert!(f.get(key).is_some(), "fsck --json lacks {key}");
    }
}
