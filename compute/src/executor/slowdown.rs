//! `task_slowdown`, a fault-injection knob for drills and benchmarks: every attempt on this
//! executor takes `factor` times as long as it would, as on a machine with a bad disk, so the
//! tracker's speculation sees a slow node.
//!
//! The attempt pauses at checkpoints (after each read of a map's input, after each segment a
//! reducer fetches, and once before the part file is uploaded) for as long as it owes: enough
//! that its wall time so far is `factor` × the time it spent working. Paying the debt at many
//! small checkpoints spreads the pauses over the run, so the progress rate drops by the factor
//! instead of the attempt stalling once at its end. Pauses stop at once when the attempt is
//! killed.
//!
//! Attempts reach it through one hook, their `AttemptControl` (`pace`, `input`), which holds
//! no slowdown at all when the knob is off; no function signature carries it.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::error::TaskError;
use crate::task::InputReader;

/// Debts smaller than this wait for a later checkpoint, so reads of a few kilobytes do not
/// each cost a sleep call.
const MIN_PAUSE: Duration = Duration::from_millis(10);

/// The slowdown of one attempt: when it started and how long it has paused so far.
#[derive(Debug)]
pub(crate) struct Slowdown {
    factor: f64,
    started: Instant,
    paused_ns: AtomicU64,
}

impl Slowdown {
    /// Starts the clock of an attempt slowed by `factor`; below or at 1.0 (or not a number) it
    /// never pauses.
    pub fn start(factor: f64) -> Arc<Self> {
        Self::started_at(factor, Instant::now())
    }

    fn started_at(factor: f64, started: Instant) -> Arc<Self> {
        Arc::new(Slowdown {
            factor,
            started,
            paused_ns: AtomicU64::new(0),
        })
    }

    pub fn is_on(&self) -> bool {
        self.factor > 1.0
    }

    /// Pays the pause owed so far. `Err(Cancelled)` as soon as `killed` is cancelled.
    pub async fn pace(&self, killed: &CancellationToken) -> Result<(), TaskError> {
        let owed = self.owed();
        if owed < MIN_PAUSE {
            return Ok(());
        }
        let began = Instant::now();
        let result = tokio::select! {
            () = tokio::time::sleep(owed) => Ok(()),
            () = killed.cancelled() => Err(TaskError::Cancelled),
        };
        self.add_paused(began.elapsed());
        result
    }

    /// `inner`, pacing this attempt after every read. The reader runs on a blocking thread and
    /// waits for its pauses on the runtime `handle`.
    pub fn reader(
        self: &Arc<Self>,
        inner: InputReader,
        killed: CancellationToken,
        handle: Handle,
    ) -> InputReader {
        Box::new(SlowReader {
            inner,
            slowdown: Arc::clone(self),
            killed,
            handle,
        })
    }

    fn owed(&self) -> Duration {
        if !self.is_on() {
            return Duration::ZERO;
        }
        let paused = Duration::from_nanos(self.paused_ns.load(Ordering::Relaxed));
        owed_pause(self.factor, self.started.elapsed(), paused)
    }

    fn add_paused(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.paused_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// The pause owed after `elapsed` wall time, of which `paused` was pausing: the working time
/// `elapsed - paused` calls for `(factor - 1)` × as much pausing in all.
fn owed_pause(factor: f64, elapsed: Duration, paused: Duration) -> Duration {
    let working = elapsed.saturating_sub(paused);
    let due = Duration::try_from_secs_f64(working.as_secs_f64() * (factor - 1.0))
        .unwrap_or(Duration::ZERO);
    due.saturating_sub(paused)
}

/// A reader that pays the attempt's pause debt after each read.
struct SlowReader {
    inner: InputReader,
    slowdown: Arc<Slowdown>,
    killed: CancellationToken,
    handle: Handle,
}

impl Read for SlowReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.handle
            .block_on(self.slowdown.pace(&self.killed))
            .map_err(io::Error::other)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn the_pause_owed_makes_the_run_factor_times_the_work() {
        // 2 s of work at factor 5 owes 8 s of pausing; 3 s of it already paid leaves 5.
        assert_eq!(owed_pause(5.0, 2 * SEC, Duration::ZERO), 8 * SEC);
        assert_eq!(owed_pause(5.0, 5 * SEC, 3 * SEC), 5 * SEC);
        // Paid up: 2 s of work and 8 s of pauses.
        assert_eq!(owed_pause(5.0, 10 * SEC, 8 * SEC), Duration::ZERO);
        assert_eq!(owed_pause(1.5, 4 * SEC, Duration::ZERO), 2 * SEC);
    }

    #[test]
    fn no_factor_above_one_means_no_pause() {
        assert_eq!(owed_pause(1.0, 10 * SEC, Duration::ZERO), Duration::ZERO);
        assert_eq!(owed_pause(0.5, 10 * SEC, Duration::ZERO), Duration::ZERO);
        assert_eq!(
            owed_pause(f64::NAN, 10 * SEC, Duration::ZERO),
            Duration::ZERO
        );
        let long_ago = Instant::now().checked_sub(10 * SEC).unwrap();
        for factor in [1.0, 0.0, f64::NAN] {
            let slowdown = Slowdown::started_at(factor, long_ago);
            assert!(!slowdown.is_on());
            assert_eq!(slowdown.owed(), Duration::ZERO);
        }
    }

    /// A slowdown that has owed 40 s since it started, 10 s ago at factor 5.
    fn deep_in_debt() -> Arc<Slowdown> {
        let long_ago = Instant::now().checked_sub(10 * SEC).unwrap();
        Slowdown::started_at(5.0, long_ago)
    }

    #[tokio::test]
    async fn a_kill_interrupts_a_pause() {
        let slowdown = deep_in_debt();
        let killed = CancellationToken::new();
        let killer = {
            let killed = killed.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                killed.cancel();
            })
        };
        let result = tokio::time::timeout(10 * SEC, slowdown.pace(&killed))
            .await
            .expect("the pause ends when the attempt is killed");
        assert!(matches!(result, Err(TaskError::Cancelled)), "{result:?}");
        killer.await.unwrap();
        assert!(slowdown.owed() > Duration::ZERO);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slowed_reader_passes_the_bytes_through_and_stops_when_killed() {
        let killed = CancellationToken::new();
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let reader = Slowdown::start(2.0).reader(
            Box::new(io::Cursor::new(data.clone())),
            killed.clone(),
            Handle::current(),
        );
        let out = tokio::task::spawn_blocking(move || {
            let (mut reader, mut out) = (reader, Vec::new());
            reader.read_to_end(&mut out).map(|_| out)
        });
        assert_eq!(out.await.unwrap().unwrap(), data);
        killed.cancel();
        let mut slowed =
            deep_in_debt().reader(Box::new(io::Cursor::new(data)), killed, Handle::current());
        let read = tokio::task::spawn_blocking(move || slowed.read(&mut [0; 16]).is_err());
        assert!(read.await.unwrap(), "a killed attempt's read fails");
    }
}
