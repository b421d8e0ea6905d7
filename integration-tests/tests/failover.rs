//! Storage under faults: dead datanodes, corrupt replicas, failed pipelines, namenode crashes.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use granary_client::{FsPath, PutOptions};
use granary_integration_tests::{test_bytes, ClusterSpec, TestCluster};

const MIB: usize = 1 << 20;

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

/// The on-disk file of a replica in a datanode's data directory.
fn replica_file(data_dir: &std::path::Path, block: u64) -> PathBuf {
    data_dir
        .join("current")
        .join(format!("{:02x}", block % 256))
        .join(format!("blk_{block}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_succeed_with_a_replica_holder_down() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let data = test_bytes(3 * MIB + 5, 7);
    fs.put_bytes(&data, &p("/f"), &PutOptions::default())
        .await
        .unwrap();
    cluster.kill_datanode(0);
    // The namenode still lists the dead node (dead_after is 30 s): the reader must fail over.
    assert_eq!(fs.read_to_vec(&p("/f")).await.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_replica_is_detected_reported_and_read_from_another() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let data = test_bytes(2 * MIB, 8);
    fs.put_bytes(&data, &p("/c"), &PutOptions::default())
        .await
        .unwrap();

    let dn = cluster.datanode(1);
    let dn_id = dn.id.clone().unwrap();
    let block = fs.locate(&p("/c")).await.unwrap().blocks[0].id;
    let file = replica_file(&dn.data_dir, block.0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[300_000] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    // A reader on that datanode's address is sent to the local (corrupt) replica first.
    let ip: IpAddr = dn.address.unwrap().parse::<SocketAddr>().unwrap().ip();
    let local_reader = cluster.client_from(ip);
    let first = local_reader.locate(&p("/c")).await.unwrap().blocks[0].locations[0]
        .id
        .clone();
    assert_eq!(first.0, dn_id, "the local replica should be offered first");

    // Every read returns the right bytes, and the one that meets the corrupt replica reports
    // it: the namenode stops offering it. A read sent past that replica (its datanode busy or
    // slow under load) reports nothing, so read again until one meets it.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        assert_eq!(local_reader.read_to_vec(&p("/c")).await.unwrap(), data);
        let after = fs.locate(&p("/c")).await.unwrap();
        if after.blocks[0].locations.iter().all(|l| l.id.0 != dn_id) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "corrupt replica still offered: {:?}",
            after.blocks[0].locations
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pipeline_node_is_replaced_and_the_put_succeeds() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        ..Default::default()
    });
    // Datanode 1 stays alive and heartbeating, but every block write to it fails: its
    // directory for replicas being written is replaced by a plain file.
    let broken = cluster.datanode(1);
    let broken_id = broken.id.clone().unwrap();
    let tmp = broken.data_dir.join("tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();

    let fs = cluster.client();
    let local = tempfile::NamedTempFile::new().unwrap();
    let data = test_bytes(8 * MIB + 3, 9);
    std::fs::write(local.path(), &data).unwrap();
    let summary = fs
        .put_file(local.path(), &p("/piped"), &PutOptions::default(), None)
        .await
        .unwrap();
    assert!(
        summary.pipeline_recoveries >= 1,
        "no pipeline included the broken node"
    );
    assert!(!summary.under_replicated());
    assert_eq!(fs.read_to_vec(&p("/piped")).await.unwrap(), data);
    for block in fs.locate(&p("/piped")).await.unwrap().blocks {
        let ids: HashSet<_> = block.locations.iter().map(|l| l.id.0.clone()).collect();
        assert_eq!(ids.len(), 3);
        assert!(!ids.contains(&broken_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_namenode_restarts_with_every_file() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let opts = PutOptions {
        create_parents: true,
        ..Default::default()
    };
    let files: Vec<(String, Vec<u8>)> = (0..6u64)
        .map(|i| {
            (
                format!("/dir{}/sub/file{i}", i % 2),
                test_bytes((i as usize) * 700_000, 40 + i),
            )
        })
        .collect();
    for (path, data) in &files {
        fs.put_bytes(data, &p(path), &opts).await.unwrap();
    }
    fs.mkdir(&p("/empty/dir"), true).await.unwrap();
    fs.rename(&p("/dir1"), &p("/moved")).await.unwrap();
    let before = fs.list(&FsPath::root(), true).await.unwrap();

    cluster.kill_namenode();
    cluster.up();
    // Datanodes find the new namenode does not know them, register again and report blocks.
    cluster.wait_for(
        "every block to be reported again",
        Duration::from_secs(20),
        || {
            let report = cluster.granary(&["admin", "report", "--json"]);
            report.success && {
                let v: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
                v["live_datanodes"] == 3
                    && v["missing_blocks"] == 0
                    && v["under_replicated_blocks"] == 0
            }
        },
    );

    let fs = cluster.client();
    assert_eq!(fs.list(&FsPath::root(), true).await.unwrap(), before);
    for (path, data) in &files {
        let path = path.replacen("/dir1", "/moved", 1);
        assert_eq!(&fs.read_to_vec(&p(&path)).await.unwrap(), data, "{path}");
    }
}
