//! Storage cluster: files round-trip byte-identical, with full replication on distinct datanodes.

use std::collections::HashSet;
use std::net::IpAddr;

use futures_util::StreamExt;
use granary_client::{FsPath, PutOptions};
use granary_integration_tests::{test_bytes, ClusterSpec, TestCluster};

const MIB: usize = 1 << 20;

fn p(s: &str) -> FsPath {
    FsPath::parse(s).unwrap()
}

fn parents() -> PutOptions {
    PutOptions {
        create_parents: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_block_file_round_trips_with_replicas_on_distinct_datanodes() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let data = test_bytes(3 * MIB + 12_345, 1);
    fs.put_bytes(&data, &p("/data/a.bin"), &parents())
        .await
        .unwrap();
    assert_eq!(fs.read_to_vec(&p("/data/a.bin")).await.unwrap(), data);

    let located = fs.locate(&p("/data/a.bin")).await.unwrap();
    assert_eq!(located.blocks.len(), 4);
    let mut offset = 0;
    for block in &located.blocks {
        assert_eq!(block.offset, offset);
        offset += block.length;
        let ids: HashSet<_> = block.locations.iter().map(|l| l.id.clone()).collect();
        assert_eq!(
            ids.len(),
            3,
            "block {} has replicas {:?}",
            block.id,
            block.locations
        );
    }
    assert_eq!(offset, data.len() as u64);

    // The same facts through the CLI's documented JSON.
    let out = cluster
        .granary(&["fs", "stat", "--json", "/data/a.bin"])
        .ok();
    let stat: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(stat["path"], "/data/a.bin");
    assert_eq!(stat["type"], "file");
    assert_eq!(stat["length"], data.len() as u64);
    assert_eq!(stat["replication"], 3);
    assert_eq!(stat["block_size"], MIB as u64);
    let blocks = stat["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 4);
    for b in blocks {
        assert!(b["id"].is_u64() && b["offset"].is_u64() && b["length"].is_u64());
        let locations: HashSet<&str> = b["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(locations.len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_sizes_round_trip() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    let cases = [
        ("/exact-multiple", 2 * MIB, 2),
        ("/empty", 0, 0),
        ("/smaller-than-a-chunk", 100, 1),
        ("/one-chunk", 64 * 1024, 1),
        ("/one-block-plus-one", MIB + 1, 2),
    ];
    for (i, (path, len, blocks)) in cases.iter().enumerate() {
        let data = test_bytes(*len, i as u64 + 10);
        let summary = fs
            .put_bytes(&data, &p(path), &PutOptions::default())
            .await
            .unwrap();
        assert_eq!(summary.blocks, *blocks, "{path}");
        assert_eq!(fs.stat(&p(path)).await.unwrap().length, *len as u64);
        assert_eq!(fs.read_to_vec(&p(path)).await.unwrap(), data, "{path}");
        assert_eq!(
            fs.locate(&p(path)).await.unwrap().blocks.len(),
            *blocks,
            "{path}"
        );
    }
    // An empty local file takes the one-call path too; a zero-length file is complete at once.
    let local = tempfile::NamedTempFile::new().unwrap();
    let opts = PutOptions::default();
    let summary = fs
        .put_file(local.path(), &p("/empty-local"), &opts, None)
        .await
        .unwrap();
    assert_eq!((summary.blocks, summary.status.length), (0, 0));
    assert_eq!(fs.stat(&p("/empty-local")).await.unwrap(), summary.status);
    assert!(fs.read_to_vec(&p("/empty-local")).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_put_and_get_round_trip_and_ranged_reads_are_exact() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let local = tempfile::tempdir().unwrap();
    let data = test_bytes(2 * MIB + 777, 3);
    let src = local.path().join("in.bin");
    std::fs::write(&src, &data).unwrap();
    cluster.granary(&["fs", "mkdir", "-p", "/in"]).ok();
    cluster
        .granary(&["fs", "put", src.to_str().unwrap(), "/in/"])
        .ok();
    let dst = local.path().join("out.bin");
    cluster
        .granary(&["fs", "get", "/in/in.bin", dst.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    let cat = std::process::Command::new(granary_integration_tests::granary_bin())
        .args(["--namenode", &cluster.url, "fs", "cat", "/in/in.bin"])
        .output()
        .unwrap();
    assert!(cat.status.success());
    assert_eq!(cat.stdout, data);

    let reader = cluster.client().open(&p("/in/in.bin")).await.unwrap();
    for (offset, len) in [
        (0, 1),
        (65_535, 2),
        (MIB - 10, 20),
        (2 * MIB, 777),
        (123_456, MIB + 5),
        (2 * MIB + 700, 1000),
    ] {
        let mut got = Vec::new();
        let mut stream = reader.read_range(offset as u64, len as u64);
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        let end = (offset + len).min(data.len());
        assert_eq!(got, &data[offset..end], "range {offset}+{len}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_writers_and_readers() {
    let cluster = TestCluster::start(ClusterSpec::default());
    let fs = cluster.client();
    // Files written before, read while new ones are written.
    for i in 0..8u64 {
        fs.put_bytes(
            &test_bytes(MIB + 1000 * i as usize, 100 + i),
            &p(&format!("/old/{i}")),
            &parents(),
        )
        .await
        .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8u64 {
        let writer = fs.clone();
        tasks.spawn(async move {
            let data = test_bytes(MIB + 500 * i as usize + 3, 200 + i);
            let path = p(&format!("/new/{i}"));
            writer.put_bytes(&data, &path, &parents()).await.unwrap();
            assert_eq!(writer.read_to_vec(&path).await.unwrap(), data);
        });
        let reader = fs.clone();
        tasks.spawn(async move {
            let got = reader.read_to_vec(&p(&format!("/old/{i}"))).await.unwrap();
            assert_eq!(got, test_bytes(MIB + 1000 * i as usize, 100 + i));
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    assert_eq!(fs.list(&p("/new"), false).await.unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_on_a_datanode_gets_the_first_replica_locally() {
    let cluster = TestCluster::start(ClusterSpec {
        replication: 1,
        ..Default::default()
    });
    let dn0 = cluster.datanode(0);
    let ip: IpAddr = dn0
        .address
        .unwrap()
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .ip();
    let fs = cluster.client_from(ip);
    fs.put_bytes(
        &test_bytes(4 * MIB, 5),
        &p("/local.bin"),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let located = cluster.client().locate(&p("/local.bin")).await.unwrap();
    assert_eq!(located.blocks.len(), 4);
    for block in &located.blocks {
        assert_eq!(block.locations.len(), 1);
        assert_eq!(
            Some(block.locations[0].id.0.clone()),
            dn0.id,
            "block {} not on the writer's datanode",
            block.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_span_two_racks_when_racks_are_configured() {
    let cluster = TestCluster::start(ClusterSpec {
        datanodes: 4,
        racks: 2,
        ..Default::default()
    });
    let fs = cluster.client();
    fs.put_bytes(
        &test_bytes(4 * MIB, 6),
        &p("/racked.bin"),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    for block in fs.locate(&p("/racked.bin")).await.unwrap().blocks {
        let racks: HashSet<_> = block.locations.iter().map(|l| l.rack.clone()).collect();
        assert_eq!(block.locations.len(), 3);
        assert_eq!(
            racks.len(),
            2,
            "block {} replicas {:?}",
            block.id,
            block.locations
        );
    }
}
