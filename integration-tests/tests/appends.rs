//! Append, truncate, concat and hflush with real processes: content equals a local reference
//! after every step and every replica verifies; a SIGKILLed appender, or a datanode failing or
//! SIGKILLed during an append, leaves the old or the new content, never anything else.

#[path = "writers/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use granary_client::{ErrorKind, PutOptions};
use granary_integration_tests::{test_bytes, Daemon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_appends_across_block_boundaries_equal_the_reference() {
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    let mut reference = test_bytes(200_000, 1);
    fs.put_bytes(&reference, &p("/log"), &PutOptions::default())
        .await
        .unwrap();
    // Partial chunks, exact chunks, the rest of a block, several blocks at once.
    let sizes = [
        1,
        65_535,
        65_536,
        300_001,
        MIB - 631_074,
        2 * MIB + 17,
        4096,
        1_500_000,
    ];
    for (i, size) in sizes.into_iter().enumerate() {
        let more = test_bytes(size, 10 + i as u64);
        let summary = fs.append_reader(&more[..], &p("/log"), None).await.unwrap();
        reference.extend_from_slice(&more);
        assert_eq!(
            summary.status.length,
            reference.len() as u64,
            "after append {i}"
        );
        assert!(
            fs.read_to_vec(&p("/log")).await.unwrap() == reference,
            "content after append {i} of {size} bytes"
        );
    }
    wait_healthy(&cluster);
    every_replica_matches(&cluster, &p("/log"), &reference).await;
    // The CLI appends local files in order, and stdin.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (test_bytes(70_000, 50), test_bytes(1_100_000, 51));
    std::fs::write(dir.path().join("a"), &a).unwrap();
    std::fs::write(dir.path().join("b"), &b).unwrap();
    let (a_path, b_path) = (dir.path().join("a"), dir.path().join("b"));
    cluster
        .granary(&[
            "fs",
            "append",
            a_path.to_str().unwrap(),
            b_path.to_str().unwrap(),
            "/log",
        ])
        .ok();
    reference.extend_from_slice(&a);
    reference.extend_from_slice(&b);
    assert!(fs.read_to_vec(&p("/log")).await.unwrap() == reference);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_appends_truncates_and_concats_get_one_line_and_change_nothing() {
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    let data = test_bytes(1500, 3);
    fs.put_bytes(
        &data,
        &p("/d/f"),
        &PutOptions {
            create_parents: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    fs.put_bytes(
        b"other",
        &p("/e/g"),
        &PutOptions {
            create_parents: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = cluster.granary(&["fs", "ls", "-R", "/"]).ok().stdout;
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), b"more").unwrap();
    let local = local.path().to_str().unwrap();
    for (args, expect) in [
        (
            vec!["fs", "truncate", "2000", "/d/f"],
            "holds only 1500 bytes",
        ),
        (vec!["fs", "append", local, "/d"], "directory"),
        (vec!["fs", "append", local, "/d/missing"], "no such file"),
        (
            vec!["fs", "concat", "/d/f", "/e/g"],
            "not in the target's directory",
        ),
        (vec!["fs", "concat", "/d/f", "/d/f"], "itself"),
    ] {
        let line = cluster.granary(&args).fails_with_one_line();
        assert!(line.to_lowercase().contains(expect), "{args:?}: {line}");
    }
    assert_eq!(
        cluster.granary(&["fs", "ls", "-R", "/"]).ok().stdout,
        before
    );
    assert!(fs.read_to_vec(&p("/d/f")).await.unwrap() == data);
    let refused = fs
        .append_reader(&b"x"[..], &p("/d"), None)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::IsADirectory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_inside_a_block_and_at_a_boundary_then_append_again() {
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    let mut reference = test_bytes(3 * MIB + 12_345, 5);
    fs.put_bytes(&reference, &p("/t"), &PutOptions::default())
        .await
        .unwrap();
    // At a block boundary: closed at once.
    let cut = fs.truncate(&p("/t"), 2 * MIB as u64).await.unwrap();
    assert!(cut.closed);
    reference.truncate(2 * MIB);
    assert!(fs.read_to_vec(&p("/t")).await.unwrap() == reference);
    // Inside a block and inside a chunk: the block is cut on its datanodes.
    cluster
        .granary(&["fs", "truncate", "-w", "1234567", "/t"])
        .ok();
    reference.truncate(1_234_567);
    assert_eq!(wait_closed(&fs, &p("/t")).await, reference.len() as u64);
    assert!(fs.read_to_vec(&p("/t")).await.unwrap() == reference);
    let more = test_bytes(MIB + 99, 6);
    fs.append_reader(&more[..], &p("/t"), None).await.unwrap();
    reference.extend_from_slice(&more);
    assert!(fs.read_to_vec(&p("/t")).await.unwrap() == reference);
    wait_healthy(&cluster);
    every_replica_matches(&cluster, &p("/t"), &reference).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concat_moves_the_sources_blocks_onto_the_target() {
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    let parts: Vec<Vec<u8>> = [MIB + 5, 300, 2 * MIB]
        .iter()
        .enumerate()
        .map(|(i, &n)| test_bytes(n, 20 + i as u64))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        fs.put_bytes(
            part,
            &p(&format!("/c/{i}")),
            &PutOptions {
                create_parents: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let status = fs
        .concat(&p("/c/0"), &[p("/c/1"), p("/c/2")])
        .await
        .unwrap();
    let expected = parts.concat();
    assert_eq!(status.length, expected.len() as u64);
    assert!(fs.read_to_vec(&p("/c/0")).await.unwrap() == expected);
    assert!(fs.try_stat(&p("/c/1")).await.unwrap().is_none());
    assert!(fs.try_stat(&p("/c/2")).await.unwrap().is_none());
    // A concatenated file takes appends like any other.
    let more = test_bytes(10, 30);
    fs.append_reader(&more[..], &p("/c/0"), None).await.unwrap();
    let mut expected = expected;
    expected.extend_from_slice(&more);
    assert!(fs.read_to_vec(&p("/c/0")).await.unwrap() == expected);
    wait_healthy(&cluster);
    every_replica_matches(&cluster, &p("/c/0"), &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_reads_what_the_writer_hflushed_while_it_is_open() {
    let cluster = lease_cluster(&[
        ("GRANARY_LEASE_SOFT_LIMIT", "60s"),
        ("GRANARY_LEASE_HARD_LIMIT", "10m"),
    ]);
    let (writer_fs, reader_fs) = (cluster.client(), cluster.client());
    let mut writer = writer_fs
        .create_writer(&p("/live"), &PutOptions::default())
        .await
        .unwrap();
    let mut reference = Vec::new();
    // Flushes inside a chunk, inside a block, and across a block boundary.
    for (i, size) in [1000, 70_000, MIB, 5].into_iter().enumerate() {
        let piece = test_bytes(size, 40 + i as u64);
        writer.write(&piece).await.unwrap();
        reference.extend_from_slice(&piece);
        writer.hflush().await.unwrap();
        let status = reader_fs.stat(&p("/live")).await.unwrap();
        assert_eq!(status.length, reference.len() as u64, "after hflush {i}");
        assert!(status.lease_holder.is_some());
        assert!(
            reader_fs.read_to_vec(&p("/live")).await.unwrap() == reference,
            "a reader sees the flushed bytes {i}"
        );
    }
    let unflushed = test_bytes(4000, 49);
    writer.write(&unflushed).await.unwrap();
    assert_eq!(
        reader_fs.stat(&p("/live")).await.unwrap().length,
        reference.len() as u64,
        "unflushed bytes are not visible"
    );
    writer.hsync().await.unwrap();
    reference.extend_from_slice(&unflushed);
    let summary = writer.close().await.unwrap();
    assert_eq!(summary.status.length, reference.len() as u64);
    assert!(reader_fs.read_to_vec(&p("/live")).await.unwrap() == reference);
    let out = cluster
        .granary(&["admin", "fsck", "--openforwrite", "/"])
        .ok();
    assert!(out.stdout.contains("open files: 0"), "{}", out.stdout);
}

/// Where a `granary fs append` child is SIGKILLed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KillPoint {
    /// While it spools its input, before anything is sent.
    WhileSpooling,
    /// While every datanode holds the new bytes but has not finalized them (a failpoint
    /// sleeps before the finalizing fsync).
    Unfinalized,
    /// While every datanode has finalized the new bytes but the ack has not reached the
    /// client (a failpoint sleeps before the pipeline ack).
    Unacknowledged,
}

/// Appends 200,000 bytes to a file of a little over half a block through a `granary fs
/// append` child fed by a FIFO, SIGKILLs the child at `point`, recovers the lease, and checks
/// that the file reads as exactly the old or the new content (the one `point` implies), and
/// that every replica verifies.
async fn killed_append(point: KillPoint) {
    let cluster = lease_cluster(&[("GRANARY_LEASE_HARD_LIMIT", "10m")]);
    let fs = cluster.client();
    let old = test_bytes(MIB / 2 + 777, 60);
    fs.put_bytes(&old, &p("/a"), &PutOptions::default())
        .await
        .unwrap();
    let failpoints = match point {
        KillPoint::WhileSpooling => None,
        KillPoint::Unfinalized => Some(format!("{APPEND_FINALIZE_POINT}=sleep(4000)")),
        KillPoint::Unacknowledged => Some("pipeline::ack=sleep(4000)".to_string()),
    };
    if let Some(failpoints) = &failpoints {
        for i in 0..3 {
            cluster.restart(Daemon::Datanode(i), &[("FAILPOINTS", failpoints.as_str())]);
        }
        cluster.wait_writable(Duration::from_secs(30));
    }
    let more = test_bytes(200_000, 61);
    let new_length = (old.len() + more.len()) as u64;
    let mut appender = FifoWriter::start(&cluster, &["append"], "/a");
    appender.feed(&more);
    if point == KillPoint::WhileSpooling {
        cluster.wait_for(
            "the append to open the file",
            Duration::from_secs(20),
            || {
                let out = cluster.granary(&["fs", "ls", "/a"]);
                out.success && out.stdout.contains("open for write")
            },
        );
    } else {
        let dirs: Vec<_> = cluster
            .status()
            .datanodes
            .into_iter()
            .map(|d| d.data_dir)
            .collect();
        let sidecars_before: Vec<Vec<u64>> = dirs.iter().map(|dir| sidecar_sizes(dir)).collect();
        appender.end_input();
        if point == KillPoint::Unfinalized {
            cluster.wait_for(
                "the new bytes on every datanode",
                Duration::from_secs(20),
                || {
                    dirs.iter()
                        .all(|dir| replica_lengths(dir).contains(&new_length))
                },
            );
        } else {
            cluster.wait_for(
                "the new bytes finalized everywhere",
                Duration::from_secs(20),
                || {
                    dirs.iter()
                        .zip(&sidecars_before)
                        .all(|(dir, before)| sidecar_sizes(dir) != *before)
                },
            );
        }
    }
    appender.kill();
    if failpoints.is_some() {
        for i in 0..3 {
            cluster.restart(Daemon::Datanode(i), &[]);
        }
        cluster.wait_writable(Duration::from_secs(30));
    }
    fs.recover_lease(&p("/a")).await.unwrap();
    let length = wait_closed(&fs, &p("/a")).await;
    let mut new = old.clone();
    new.extend_from_slice(&more);
    let expected = if point == KillPoint::Unacknowledged {
        &new
    } else {
        &old
    };
    assert_eq!(length, expected.len() as u64, "{point:?}");
    assert!(
        fs.read_to_vec(&p("/a")).await.unwrap() == *expected,
        "{point:?}"
    );
    wait_healthy(&cluster);
    every_replica_matches(&cluster, &p("/a"), expected).await;
}

/// The datanode failpoint before an appended segment's finalizing fsync.
const APPEND_FINALIZE_POINT: &str = "replica::append_fsync";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_killed_before_sending_leaves_the_old_content() {
    killed_append(KillPoint::WhileSpooling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_killed_before_the_datanodes_finalize_leaves_the_old_content() {
    killed_append(KillPoint::Unfinalized).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_killed_before_the_ack_leaves_the_new_content() {
    killed_append(KillPoint::Unacknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_datanode_killed_mid_append_leaves_the_new_content_on_the_others() {
    let cluster = lease_cluster(&[]);
    let fs = cluster.client();
    let old = test_bytes(MIB / 2 + 3, 70);
    fs.put_bytes(&old, &p("/a"), &PutOptions::default())
        .await
        .unwrap();
    let victim = 2;
    let failpoint = format!("{APPEND_FINALIZE_POINT}=sleep(4000)");
    cluster.restart(
        Daemon::Datanode(victim),
        &[("FAILPOINTS", failpoint.as_str())],
    );
    cluster.wait_writable(Duration::from_secs(30));
    let more = test_bytes(300_000, 71);
    let new_length = (old.len() + more.len()) as u64;
    let append = {
        let fs = fs.clone();
        let more = more.clone();
        tokio::spawn(async move { fs.append_reader(&more[..], &p("/a"), None).await })
    };
    let victim_dir = cluster.datanode(victim).data_dir;
    cluster.wait_for(
        "the new bytes on the victim",
        Duration::from_secs(20),
        || replica_lengths(&victim_dir).contains(&new_length),
    );
    cluster.kill_datanode(victim);
    let summary = append.await.unwrap().unwrap();
    assert_eq!(summary.status.length, new_length);
    let mut new = old;
    new.extend_from_slice(&more);
    assert!(fs.read_to_vec(&p("/a")).await.unwrap() == new);
    // The victim comes back holding the old generation: stale, replaced by a fresh copy.
    cluster.restart(Daemon::Datanode(victim), &[]);
    wait_healthy(&cluster);
    every_replica_matches(&cluster, &p("/a"), &new).await;
}
