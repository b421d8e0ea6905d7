//! The shuffle server and the fetcher against each other on 127.0.0.1:0, over hand-made map
//! output.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use granary_client::protocol::{AttemptId, JobId};
use granary_client::{ErrorKind, WireError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{fetch_partition, FetchError};
use crate::task::{MapOutputIndex, Segment, MAP_OUTPUT_FILE};

const JOB: &str = "job_1700000000000_0001";
const ATTEMPT: &str = "attempt_1700000000000_0001_m_000000_0";

/// The stall timeout of fetches from live servers: generous, they never wait this long.
const STALL: Duration = Duration::from_secs(10);

/// Writes the output of [`ATTEMPT`]: `parts` back to back, and their index.
fn write_output(work_dir: &Path, parts: &[&[u8]]) {
    let dir = work_dir.join(JOB).join(ATTEMPT);
    std::fs::create_dir_all(&dir).unwrap();
    let (mut out, mut partitions) = (Vec::new(), Vec::new());
    for part in parts {
        partitions.push(Segment {
            offset: out.len() as u64,
            length: part.len() as u64,
            crc32c: crc32c::crc32c(part),
        });
        out.extend_from_slice(part);
    }
    std::fs::write(dir.join(MAP_OUTPUT_FILE), out).unwrap();
    MapOutputIndex { partitions }.write(&dir).unwrap();
}

async fn serve(work_dir: &Path) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = super::router(work_dir.to_path_buf());
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn ids() -> (JobId, AttemptId) {
    (
        JobId::parse(JOB).unwrap(),
        AttemptId::parse(ATTEMPT).unwrap(),
    )
}

async fn get(addr: SocketAddr, path: &str) -> (u16, WireError) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn each_partition_is_served_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let parts: [&[u8]; 4] = [b"apple\t1\n", b"", &big, b"zebra\t2\n"];
    write_output(dir.path(), &parts);
    let addr = serve(dir.path()).await;
    let (job, attempt) = ids();
    let http = reqwest::Client::new();
    for (partition, expected) in parts.iter().enumerate() {
        let dest = dir.path().join(format!("segment-{partition}"));
        let fetched = fetch_partition(&http, addr, &job, &attempt, partition as u32, &dest, STALL)
            .await
            .unwrap();
        assert_eq!(fetched.bytes, expected.len() as u64);
        assert_eq!(fetched.crc32c, crc32c::crc32c(expected));
        assert_eq!(std::fs::read(&dest).unwrap(), *expected, "{partition}");
    }
    let response = reqwest::get(format!("http://{addr}/v1/shuffle/{JOB}/{ATTEMPT}/2"))
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(big.len() as u64));
}

#[tokio::test]
async fn ids_with_path_characters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_output(dir.path(), &[b"a\n"]);
    let addr = serve(dir.path()).await;
    for path in [
        format!("/v1/shuffle/job_1..%2F..%2F/{ATTEMPT}/0"),
        format!("/v1/shuffle/{JOB}/attempt_1.x/0"),
        format!("/v1/shuffle/{JOB}/..%2F{ATTEMPT}/0"),
        format!("/v1/shuffle/{JOB}/{ATTEMPT}/x"),
        format!("/v1/shuffle/{JOB}/{ATTEMPT}/-1"),
    ] {
        let (status, error) = get(addr, &path).await;
        assert_eq!(
            (status, error.kind),
            (400, ErrorKind::InvalidArgument),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_output_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    write_output(dir.path(), &[b"a\n", b"b\n"]);
    let addr = serve(dir.path()).await;
    for path in [
        format!("/v1/shuffle/{JOB}/attempt_1700000000000_0001_m_000009_0/0"),
        format!("/v1/shuffle/job_1700000000000_0002/{ATTEMPT}/0"),
        format!("/v1/shuffle/{JOB}/{ATTEMPT}/2"),
    ] {
        let (status, error) = get(addr, &path).await;
        assert_eq!((status, error.kind), (404, ErrorKind::NotFound), "{path}");
    }
}

#[tokio::test]
async fn fetch_failures_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (job, attempt) = ids();
    let http = reqwest::Client::new();
    let dest = dir.path().join("segment");
    let addr = serve(dir.path()).await;
    let error = fetch_partition(&http, addr, &job, &attempt, 0, &dest, STALL)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Status { status: 404, .. }),
        "{error}"
    );
    let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let error = fetch_partition(&http, nobody, &job, &attempt, 0, &dest, STALL)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Unreachable(_)), "{error}");
    let unwritable = dir.path().join("missing-dir").join("segment");
    write_output(dir.path(), &[b"a\n"]);
    let error = fetch_partition(&http, addr, &job, &attempt, 0, &unwritable, STALL)
        .await
        .unwrap_err();
    assert!(!error.is_remote(), "{error}");
}

#[tokio::test]
async fn a_truncated_body_is_detected() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Announces 100 bytes, sends 10, hangs up; once per try of the fetcher.
    tokio::spawn(async move {
        for _ in 0..10 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nx-granary-crc32c: 0\r\n\
                        connection: close\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(&[b'x'; 10]).await.unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (job, attempt) = ids();
    let error = fetch_partition(
        &reqwest::Client::new(),
        addr,
        &job,
        &attempt,
        0,
        &dir.path().join("segment"),
        STALL,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, FetchError::Truncated { expected: 100, .. }),
        "{error}"
    );
    assert!(error.is_remote());
}

/// Flips one bit of the stored `map.out` at `at`, as a bad disk would.
fn damage(work_dir: &Path, at: usize) {
    let path = work_dir.join(JOB).join(ATTEMPT).join(MAP_OUTPUT_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at] ^= 0x04;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test]
async fn a_damaged_segment_is_a_checksum_mismatch_at_the_first_try() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    write_output(dir.path(), &[b"apple\t1\n", &big]);
    // Deep inside partition 1, past the first body chunk.
    damage(dir.path(), 8 + 200_000);
    let addr = serve(dir.path()).await;
    let (job, attempt) = ids();
    let http = reqwest::Client::new();
    let dest = dir.path().join("segment");
    let error = fetch_partition(&http, addr, &job, &attempt, 1, &dest, STALL)
        .await
        .unwrap_err();
    let FetchError::ChecksumMismatch { expected, actual } = error else {
        panic!("not a checksum mismatch: {error}");
    };
    assert_eq!(expected, crc32c::crc32c(&big));
    assert_ne!(actual, expected);
    assert!(error.is_remote());
    // The same bytes would fail every try: the map is re-run instead.
    assert!(!error.is_worth_retrying());
    // The partition next to it is intact and still served.
    let fetched = fetch_partition(&http, addr, &job, &attempt, 0, &dest, STALL).await;
    assert_eq!(fetched.unwrap().bytes, 8);
}

#[tokio::test]
async fn a_response_without_a_checksum_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A whole body but no checksum header, once per try of the fetcher.
    tokio::spawn(async move {
        for _ in 0..10 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(b"a\tb").await.unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (job, attempt) = ids();
    let dest = dir.path().join("segment");
    let error = fetch_partition(
        &reqwest::Client::new(),
        addr,
        &job,
        &attempt,
        0,
        &dest,
        STALL,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, FetchError::NoChecksum), "{error}");
}

/// A server that accepts connections and reads requests but never answers, as a stopped
/// process's kernel does (its listen backlog accepts; nobody reads); then one that sends the
/// headers and part of the body and stops.
#[tokio::test]
async fn a_datanode_that_stops_answering_fails_the_fetch_within_the_stall_timeout() {
    let stall = Duration::from_millis(500);
    let (job, attempt) = ids();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("segment");
    for sends_part_of_the_body in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::clone(&connections);
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            for _ in 0..10 {
                let (mut socket, _) = listener.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                if sends_part_of_the_body {
                    let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\
                                x-granary-crc32c: 0\r\n\r\n";
                    socket.write_all(head.as_bytes()).await.unwrap();
                    socket.write_all(&[b'x'; 10]).await.unwrap();
                }
                held.push(socket);
            }
        });
        let started = Instant::now();
        let http = reqwest::Client::new();
        let error = fetch_partition(&http, addr, &job, &attempt, 0, &dest, stall)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        server.abort();
        assert!(
            matches!(error, FetchError::Stalled(d) if d == stall),
            "{error}"
        );
        assert!(error.is_remote());
        // One stall, not one per try: the tracker hears of it after a single stall timeout.
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        assert!(elapsed >= stall, "{elapsed:?}");
        assert!(elapsed < STALL, "{elapsed:?}");
    }
}
