//! The tracker's settings, and the limits a submitted job's spec is checked against. A job's
//! spec may override the per-job ones (locality wait, attempts, sort buffer, speculation).

use std::time::Duration;

/// Smallest sort buffer a job may ask for: below this, spills would hold a handful of records.
pub const MIN_SORT_BUFFER: u64 = 4 << 10;
/// Largest sort buffer a job may ask for: it is held in memory by every map attempt.
pub const MAX_SORT_BUFFER: u64 = 2 << 30;
/// Most reduce tasks a job may have; each writes a part file and fetches from every map.
pub const MAX_REDUCERS: u32 = 10_000;
/// Longest locality wait a job may ask for; longer would stall a job on a busy cluster.
pub const MAX_LOCALITY_WAIT: Duration = Duration::from_secs(3600);
/// Failed attempts of one job on one executor after which that executor gets none of the
/// job's tasks (unless no other executor could take them).
pub const NODE_FAILURE_LIMIT: u32 = 3;

#[derive(Clone, Debug, PartialEq)]
pub struct TrackerConfig {
    /// How long a job waits for a data-local slot before it takes a rack-local one, and as long
    /// again before it takes any (delay scheduling). Default 3 s: Zaharia et al. found a few
    /// seconds give nearly full locality at a negligible cost in latency.
    pub locality_wait: Duration,
    /// Attempts per task before the job fails. Default 4 (as Hadoop).
    pub max_attempts: u32,
    /// Map output buffered before a spill, in bytes. Default 64 MiB.
    pub sort_buffer: u64,
    /// An executor that has not polled for this long is lost: its running attempts are re-run,
    /// and so are the finished maps whose output it served. Default 30 s (the namenode passes
    /// its `dead_after`).
    pub executor_dead_after: Duration,
    /// Launch backup attempts for stragglers. Default on.
    pub speculation: bool,
    /// A task runs at least this long before it may get a backup attempt. Default 2 s: long
    /// enough for its progress rate to mean something, short enough that a backup of a
    /// block-sized map still saves most of a straggler's time.
    pub speculation_min_runtime: Duration,
    /// A task whose progress rate is below this fraction of the median rate of its job's
    /// tasks of the same kind is a straggler. Default 0.5.
    pub speculation_slowness: f64,
    /// Finished jobs kept in the history. Default 1000.
    pub max_history: usize,
    /// How often the background pass looks for lost executors and stragglers and retries
    /// namespace work that failed. Default 500 ms: a straggler's backup or a retried commit
    /// waits at most this long. (Deaths and the end of safe mode are acted on at once.)
    pub tick_interval: Duration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            locality_wait: Duration::from_secs(3),
            max_attempts: 4,
            sort_buffer: 64 << 20,
            executor_dead_after: Duration::from_secs(30),
            speculation: true,
            speculation_min_runtime: Duration::from_secs(2),
            speculation_slowness: 0.5,
            max_history: 1000,
            tick_interval: Duration::from_millis(500),
        }
    }
}
