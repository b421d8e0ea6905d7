//! Leases and lease recovery with real processes and fast timers: a `granary fs put` SIGKILLed
//! mid-file is recovered by the next writer after the soft limit, or by the namenode after the
//! hard limit, or on demand (also with a datanode SIGKILLed during the recovery); a second
//! writer of a leased file is refused; a namenode restart does not fail writers in flight.

#[path = "writers/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use granary_client::{ErrorKind, PutOptions};
use granary_integration_tests::{sha256_hex, test_bytes, Daemon};

/// Starts `granary fs put` of a FIFO, feeds it 2.5 blocks and waits until the first two
/// blocks are finalized on every datanode (the third is still being spooled by the writer),
/// then SIGKILLs it. Returns the bytes the file should keep: the two blocks.
fn put_then_kill(cluster: &granary_integration_tests::TestCluster, path: &str) -> Vec<u8> {
    let data = test_bytes(5 * MIB / 2, 11);
    let mut writer = FifoWriter::start(cluster, &["put"], path);
    writer.feed(&data);
    wait_for_replicas(cluster, 2);
    writer.kill();
    data[..2 * MIB].to_vec()
}

/// Appends `data` to `/f`, trying again while the namenode answers `lease_held` (for at most
/// 10 s: the soft limit is 1 s).
async fn append_past_lease_held(
    fs: &granary_client::Granary,
    data: &[u8],
) -> granary_client::PutSummary {
    let mut refusals = 0;
    loop {
        match fs.append_reader(data, &p("/f"), None).await {
            Err(e) if e.kind == ErrorKind::LeaseHeld && refusals < 50 => {
                assert!(e.message.contains("granary-"), "names the holder: {e}");
                refusals += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            result => return result.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_is_recovered_by_the_next_append_after_the_soft_limit() {
    let cluster = lease_cluster(&[("GRANARY_LEASE_HARD_LIMIT", "10m")]);
    let fs = cluster.client();
    let kept = put_then_kill(&cluster, "/f");
    let open = fs.stat(&p("/f")).await.unwrap();
    assert!(
        open.lease_holder.is_some(),
        "the dead writer still holds /f"
    );
    let listing = cluster.granary(&["fs", "ls", "/"]).ok();
    assert!(
        listing.stdout.contains("[open for write by granary-"),
        "{}",
        listing.stdout
    );
    let fsck = cluster
        .granary(&["admin", "fsck", "--openforwrite", "/"])
        .ok();
    assert!(fsck.stdout.contains("open files: 1"), "{}", fsck.stdout);
    assert!(fsck.stdout.contains("open by granary-"), "{}", fsck.stdout);
    assert!(fsck.stdout.contains("HEALTHY"), "{}", fsck.stdout);

    let more = test_bytes(300_000, 12);
    // Within the soft limit the dead writer's lease still holds; past it the append
    // recovers the file first, then appends.
    let summary = append_past_lease_held(&fs, &more).await;
    let mut expected = kept;
    expected.extend_from_slice(&more);
    assert_eq!(summary.status.length, expected.len() as u64);
    assert!(summary.status.lease_holder.is_none());
    assert!(fs.read_to_vec(&p("/f")).await.unwrap() == expected);
    wait_healthy(&cluster);
    every_replica_matches(&cluster, &p("/f"), &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hard_limit_closes_an_abandoned_file_with_no_client_action() {
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    let kept = put_then_kill(&cluster, "/abandoned");
    let length = wait_closed(&fs, &p("/abandoned")).await;
    assert_eq!(length, kept.len() as u64);
    assert!(fs.read_to_vec(&p("/abandoned")).await.unwrap() == kept);
    wait_healthy(&cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datanode_killed_during_lease_recovery_does_not_stop_it() {
    let cluster = lease_cluster(&[("GRANARY_LEASE_HARD_LIMIT", "10m")]);
    let fs = cluster.client();
    let kept = put_then_kill(&cluster, "/f");
    let asked = cluster.granary(&["fs", "recover-lease", "/f"]);
    assert!(asked.stdout.contains("/f:"), "{}", asked.stdout);
    cluster.kill_datanode(0);
    let length = wait_closed(&fs, &p("/f")).await;
    assert_eq!(length, kept.len() as u64);
    assert!(fs.read_to_vec(&p("/f")).await.unwrap() == kept);
    let out = cluster
        .granary(&["fs", "recover-lease", "--wait", "/f"])
        .ok();
    assert!(
        out.stdout
            .contains(&format!("/f: closed, {} bytes", kept.len())),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_gets_lease_held_and_exactly_one_of_two_appenders_wins() {
    let cluster = lease_cluster(&[
        ("GRANARY_LEASE_SOFT_LIMIT", "60s"),
        ("GRANARY_LEASE_HARD_LIMIT", "10m"),
    ]);
    let (first, second) = (cluster.client(), cluster.client());
    first
        .put_bytes(&test_bytes(1000, 1), &p("/shared"), &PutOptions::default())
        .await
        .unwrap();
    let mut holder = first.append_writer(&p("/shared")).await.unwrap();
    holder.write(b"from the first").await.unwrap();
    let refused = second
        .append_writer(&p("/shared"))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.kind, ErrorKind::LeaseHeld);
    assert!(
        refused.message.contains(first.lease_holder().as_str()),
        "names the holder: {}",
        refused.message
    );
    let overwrite = PutOptions {
        overwrite: true,
        ..PutOptions::default()
    };
    let refused = second.put_bytes(b"x", &p("/shared"), &overwrite).await;
    assert_eq!(refused.unwrap_err().kind, ErrorKind::LeaseHeld);
    let out = cluster.granary(&["fs", "append", "/dev/null", "/shared"]);
    assert!(
        out.fails_with_one_line().contains("lease"),
        "one line naming the lease"
    );
    holder.close().await.unwrap();

    // Two appenders racing from the start: one wins, the other is told who holds the lease.
    let shared = p("/shared");
    let (a, b) = tokio::join!(first.append_writer(&shared), second.append_writer(&shared));
    let (winner, loser) = match (a, b) {
        (Ok(w), Err(e)) | (Err(e), Ok(w)) => (w, e),
        (Ok(_), Ok(_)) => panic!("both appenders hold the lease"),
        (Err(a), Err(b)) => panic!("neither appender won: {a}; {b}"),
    };
    assert_eq!(loser.kind, ErrorKind::LeaseHeld);
    winner.close().await.unwrap();
    assert_eq!(first.stat(&p("/shared")).await.unwrap().length, 1000 + 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_in_flight_ride_out_a_namenode_kill_9_and_restart() {
    use tokio::io::AsyncWriteExt;
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    fs.mkdir(&p("/in"), true).await.unwrap();
    let files: Vec<Vec<u8>> = (0..8)
        .map(|i| test_bytes(3 * MIB + 1000 * i, 100 + i as u64))
        .collect();
    let mut feeds = Vec::new();
    let mut puts = Vec::new();
    for (i, data) in files.iter().enumerate() {
        let (mut feed, reader) = tokio::io::duplex(64 * 1024);
        let fs = fs.clone();
        puts.push(tokio::spawn(async move {
            fs.put_reader(
                reader,
                &p(&format!("/in/f{i}")),
                &PutOptions::default(),
                None,
            )
            .await
        }));
        let first_half = data[..3 * MIB / 2].to_vec();
        feeds.push(tokio::spawn(async move {
            feed.write_all(&first_half).await.unwrap();
            feed
        }));
    }
    let mut writers = Vec::new();
    for feed in feeds {
        writers.push(feed.await.unwrap());
    }
    // Every put is open, with its first block written and its second being spooled.
    let listed = fs.list(&p("/in"), false).await.unwrap();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|f| f.lease_holder.is_some()));

    cluster.kill_namenode();
    cluster.restart(Daemon::Namenode, &[]);
    for (writer, data) in writers.iter_mut().zip(&files) {
        writer.write_all(&data[3 * MIB / 2..]).await.unwrap();
        writer.shutdown().await.unwrap();
    }
    drop(writers);
    for (i, put) in puts.into_iter().enumerate() {
        let summary = tokio::time::timeout(Duration::from_secs(90), put)
            .await
            .expect("put within 90 s")
            .unwrap()
            .unwrap_or_else(|e| panic!("/in/f{i}: {e}"));
        assert_eq!(summary.status.length, files[i].len() as u64);
    }
    for (i, data) in files.iter().enumerate() {
        let read = fs.read_to_vec(&p(&format!("/in/f{i}"))).await.unwrap();
        assert_eq!(sha256_hex(&read), sha256_hex(data), "/in/f{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_writer_renews_its_lease_past_the_soft_limit() {
    let cluster = lease_cluster(&[("GRANARY_LEASE_HARD_LIMIT", "10m")]);
    let (writer_fs, other) = (cluster.client(), cluster.client());
    let mut writer = writer_fs
        .create_writer(&p("/slow"), &PutOptions::default())
        .await
        .unwrap();
    writer.write(b"first\n").await.unwrap();
    writer.hflush().await.unwrap();
    // Three soft limits with no write: only the background renewal keeps the lease.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = other
        .append_writer(&p("/slow"))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.kind, ErrorKind::LeaseHeld, "{refused}");
    writer.write(b"second\n").await.unwrap();
    let summary = writer.close().await.unwrap();
    assert_eq!(summary.status.length, 13);
    assert_eq!(
        other.read_to_vec(&p("/slow")).await.unwrap(),
        b"first\nsecond\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_an_open_file_reads_what_was_flushed_when_it_was_planned() {
    let cluster = lease_cluster(&[
        ("GRANARY_LEASE_SOFT_LIMIT", "60s"),
        ("GRANARY_LEASE_HARD_LIMIT", "10m"),
    ]);
    let fs = cluster.client();
    let mut writer = fs
        .create_writer(
            &p("/in/open.txt"),
            &PutOptions {
                create_parents: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    writer.write(b"apple pear\napple\n").await.unwrap();
    writer.hflush().await.unwrap();
    writer.write(b"unflushed plum\n").await.unwrap();
    let out = cluster
        .granary(&[
            "job",
            "run",
            "--input",
            "/in",
            "--output",
            "/out",
            "--builtin",
            "wordcount",
            "--json",
        ])
        .ok();
    let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["state"], "succeeded", "{status:#}");
    let mut output = Vec::new();
    for part in fs.part_files(&p("/out")).await.unwrap() {
        output.extend(fs.read_to_vec(&part).await.unwrap());
    }
    let mut lines: Vec<&str> = std::str::from_utf8(&output).unwrap().lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, vec!["apple\t2", "pear\t1"]);
    writer.close().await.unwrap();
}
