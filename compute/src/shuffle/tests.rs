//! The shuffle server and the fetcher against each other on 127.0.0.1:0, over hand-made map
//! output.

use std::net::SocketAddr;
use std::path::Path;

use granary_client::protocol::{AttemptId, JobId};
use granary_client::{ErrorKind, WireError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{fetch_partition, FetchError};
use crate::task::{MapOutputIndex, MAP_OUTPUT_FILE};

const JOB: &str = "job_1700000000000_0001";
const ATTEMPT: &str = "attempt_1700000000000_0001_m_000000_0";

/// Writes the output of [`ATTEMPT`]: `parts` back to back, and their index.
fn write_output(work_dir: &Path, parts: &[&[u8]]) {
    let dir = work_dir.join(JOB).join(ATTEMPT);
    std::fs::create_dir_all(&dir).unwrap();
    let (mut out, mut partitions) = (Vec::new(), Vec::new());
    for part in parts {
        partitions.push((out.len() as u64, part.len() as u64));
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
        let fetched = fetch_partition(&http, addr, &job, &attempt, partition as u32, &dest)
            .await
            .unwrap();
        assert_eq!(fetched, expected.len() as u64);
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
    let error = fetch_partition(&http, addr, &job, &attempt, 0, &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Status { status: 404, .. }),
        "{error}"
    );
    let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let error = fetch_partition(&http, nobody, &job, &attempt, 0, &dest)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Unreachable(_)), "{error}");
    let unwritable = dir.path().join("missing-dir").join("segment");
    write_output(dir.path(), &[b"a\n"]);
    let error = fetch_partition(&http, addr, &job, &attempt, 0, &unwritable)
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
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n";
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
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, FetchError::Truncated { expected: 100, .. }),
        "{error}"
    );
    assert!(error.is_remote());
}
