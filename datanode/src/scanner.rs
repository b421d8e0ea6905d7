//! The block scanner: re-verifies every finalized replica in the background, chunk by chunk
//! against its sidecar, so a replica that rots on disk is found and healed from another copy
//! before a reader needs it. Reads are paced to `scan_rate` bytes/s on average, so scanning
//! never competes seriously with client traffic, and run on blocking threads a batch of chunks
//! at a time. A pass over every replica starts every `scan_period` (at once after the previous
//! one if that took longer); replicas written meanwhile wait for the next pass, replicas
//! deleted meanwhile are skipped. A replica that fails verification is marked corrupt (reads
//! of it fail at once with `checksum_mismatch`) and reported to the namenode, which has it
//! deleted once a good copy exists elsewhere.

use std::sync::Arc;
use std::time::Duration;

use granary_client::checksum::CHUNK_SIZE;
use granary_client::{BlockId, Error, ErrorKind};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::DatanodeConfig;
use crate::state::AppState;
use crate::store::ChunkReader;

/// Most chunks read per trip to a blocking thread (1 MiB).
const MAX_BATCH_CHUNKS: u64 = 16;
/// Running behind the rate (a slow disk) builds at most this much credit for a later burst.
const MAX_CREDIT: Duration = Duration::from_secs(1);

pub struct Scanner {
    node: Arc<AppState>,
    rate: u64,
    period: Duration,
    batch_chunks: u64,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Replicas verified to the end or found corrupt.
    pub blocks: u64,
    /// Bytes read and verified.
    pub bytes: u64,
    /// Replicas newly found corrupt.
    pub corrupt: u64,
}

enum Verdict {
    Clean,
    Corrupt(String),
    /// Deleted while queued or being read.
    Gone,
    /// Could not be checked for a reason that says nothing about the replica.
    Skipped(String),
}

enum Batch {
    More(u64),
    Done(u64),
    Failed(u64, Error),
}

/// Starts the scanner; it stops when `shutdown` is cancelled.
pub fn spawn(
    node: Arc<AppState>,
    config: &DatanodeConfig,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let scanner = Scanner::new(node, config.scan_rate, config.scan_period);
    tokio::spawn(scanner.run(shutdown))
}

impl Scanner {
    /// `rate` in bytes per second; both it and `period` must be positive.
    pub fn new(node: Arc<AppState>, rate: u64, period: Duration) -> Self {
        let rate = rate.max(1);
        // About a tenth of a second's worth per batch, so pacing stays smooth at low rates.
        let batch_chunks = (rate / 10 / CHUNK_SIZE as u64).clamp(1, MAX_BATCH_CHUNKS);
        Scanner {
            node,
            rate,
            period,
            batch_chunks,
        }
    }

    async fn run(self, shutdown: CancellationToken) {
        loop {
            let started = Instant::now();
            let stats = tokio::select! {
                () = shutdown.cancelled() => return,
                stats = self.scan_pass() => stats,
            };
            tracing::info!(
                blocks = stats.blocks,
                bytes = stats.bytes,
                corrupt = stats.corrupt,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "block scan pass finished"
            );
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(started + self.period) => {}
            }
        }
    }

    /// Verifies every replica finalized when the pass starts, except those already known to
    /// be corrupt.
    pub async fn scan_pass(&self) -> PassStats {
        let mut pacer = Pacer::new(self.rate);
        let mut stats = PassStats::default();
        for replica in self.node.store.replicas() {
            let block = replica.block;
            if self.node.store.is_corrupt(block) {
                continue;
            }
            match self.verify(block, &mut pacer, &mut stats).await {
                Verdict::Clean => stats.blocks += 1,
                Verdict::Corrupt(reason) => {
                    stats.blocks += 1;
                    if self.node.mark_corrupt(block, reason.clone()) {
                        tracing::warn!(%block, "block scanner found a corrupt replica: {reason}");
                        stats.corrupt += 1;
                    }
                }
                Verdict::Gone => {}
                Verdict::Skipped(reason) => {
                    tracing::warn!(%block, "block scanner skipped a replica: {reason}");
                }
            }
        }
        stats
    }

    async fn verify(&self, block: BlockId, pacer: &mut Pacer, stats: &mut PassStats) -> Verdict {
        let store = Arc::clone(&self.node.store);
        let mut reader = match tokio::task::spawn_blocking(move || {
            store.open_chunks(block, 0, u64::MAX)
        })
        .await
        {
            Ok(Ok(reader)) => reader,
            Ok(Err(e)) => return self.judge(block, e),
            Err(e) => return Verdict::Skipped(format!("opening {block}: {e}")),
        };
        let batch_chunks = self.batch_chunks;
        loop {
            let read = tokio::task::spawn_blocking(move || {
                let batch = read_batch(&mut reader, batch_chunks);
                (reader, batch)
            })
            .await;
            let batch = match read {
                Ok((back, batch)) => {
                    reader = back;
                    batch
                }
                Err(e) => return Verdict::Skipped(format!("reading {block}: {e}")),
            };
            let (bytes, verdict) = match batch {
                Batch::More(bytes) => (bytes, None),
                Batch::Done(bytes) => (bytes, Some(Verdict::Clean)),
                Batch::Failed(bytes, e) => (bytes, Some(self.judge(block, e))),
            };
            stats.bytes += bytes;
            pacer.consume(bytes).await;
            if let Some(verdict) = verdict {
                return verdict;
            }
        }
    }

    /// What a failure to read `block` says about it. A disk that cannot read a replica cannot
    /// serve it either, so I/O errors count as corruption; the namenode deletes the replica
    /// only once a good copy exists elsewhere.
    fn judge(&self, block: BlockId, e: Error) -> Verdict {
        if e.kind == ErrorKind::UnknownBlock || !self.node.store.contains(block) {
            return Verdict::Gone;
        }
        match e.kind {
            ErrorKind::ChecksumMismatch | ErrorKind::Io => Verdict::Corrupt(e.message),
            _ => Verdict::Skipped(e.message),
        }
    }
}

/// Reads and verifies up to `chunks` chunks.
fn read_batch(reader: &mut ChunkReader, chunks: u64) -> Batch {
    let mut bytes = 0;
    for _ in 0..chunks {
        match reader.next() {
            None => return Batch::Done(bytes),
            Some(Ok(frame)) => bytes += frame.data.len() as u64,
            Some(Err(e)) => return Batch::Failed(bytes, e),
        }
    }
    Batch::More(bytes)
}

/// Keeps the average rate of a pass at or under `rate` bytes/s by sleeping whenever the bytes
/// read so far are ahead of schedule.
struct Pacer {
    rate: u64,
    since: Instant,
    bytes: u64,
}

impl Pacer {
    fn new(rate: u64) -> Self {
        Pacer {
            rate,
            since: Instant::now(),
            bytes: 0,
        }
    }

    async fn consume(&mut self, bytes: u64) {
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        let elapsed = self.since.elapsed();
        match due.checked_sub(elapsed) {
            Some(ahead) => tokio::time::sleep(ahead).await,
            None if elapsed - due > MAX_CREDIT => {
                self.since = Instant::now();
                self.bytes = 0;
            }
            None => {}
        }
    }
}

#[cfg(test)]
#[path = "scanner_tests.rs"]
mod tests;
