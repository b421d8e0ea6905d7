//! Namenode configuration: a TOML file, overridden by command-line flags (`args`), each of which
//! can also come from a `GRANARY_*` environment variable. Every default is documented on its
//! field.

mod args;
mod jobs;
#[cfg(test)]
mod tests;
mod trash;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use granary_client::CHUNK_SIZE;
use humantime_serde::re::humantime;
use serde::Deserialize;

pub use args::NamenodeArgs;

use crate::error::NamenodeError;

/// Smallest block size a file may use: one checksum chunk.
pub const MIN_BLOCK_SIZE: u64 = CHUNK_SIZE as u64;
/// Largest block size a file may use; a replica must fit comfortably on one disk.
pub const MAX_BLOCK_SIZE: u64 = 64 << 30;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamenodeConfig {
    /// HTTP address for clients and datanodes. Default `127.0.0.1:9870` (HDFS's namenode web
    /// port); loopback so that a default start never exposes the namespace.
    pub listen: SocketAddr,
    /// Metadata directory: the sled database, and the journal in `journal/`. Default
    /// `./granary-namenode`.
    pub meta_dir: PathBuf,
    /// Block size of files whose writer does not choose one. Default 128 MiB (as HDFS): large
    /// enough that the namenode holds few blocks per byte stored.
    pub default_block_size: u64,
    /// Replica count of files whose writer does not choose one. Default 3 (as HDFS): survives
    /// the loss of any two datanodes.
    pub default_replication: u16,
    /// How often datanodes are expected to heartbeat. Default 3 s (as HDFS).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// A datanode silent this long is dead and its replicas leave the block map. Default 30 s,
    /// far shorter than HDFS's 10.5 min because our clusters are small and re-replication is
    /// cheap; can be set down to about a second for tests. A datanode whose process dies is
    /// normally declared dead much sooner, through its lifeline.
    #[serde(with = "humantime_serde")]
    pub dead_after: Duration,
    /// How long a mutation's response stays in the retry cache. Default 10 min: far longer than
    /// any client's retry loop, short enough to keep the cache small.
    #[serde(with = "humantime_serde")]
    pub retry_cache_ttl: Duration,
    /// Most answers the retry cache holds; beyond it the oldest go before their TTL (as HDFS
    /// caps its retry cache at a share of the heap). Default 1,000,000 (about 200 bytes each,
    /// 600 for an `add_block` answer): ten minutes of 1,600 mutations a second, and far more
    /// than any client's retry loop spans.
    pub retry_cache_capacity: usize,
    /// Highest replication a writer may ask for. Default 32: more copies than that is a mistake.
    pub max_replication: u16,
    /// Replicas of each block datanodes must have reported before `complete` makes a file
    /// visible (capped by the file's replication). Default 1 (as HDFS's
    /// `dfs.namenode.replication.min`): a put never succeeds with no stored replica, and
    /// healing brings the rest.
    pub min_replication: u16,
    /// How long `complete` waits for the datanodes' reports of the file's blocks before it
    /// answers `not_replicated_yet` (the writer then retries). Default 1.5 s: reports follow
    /// the writer's acks within milliseconds on a healthy cluster.
    #[serde(with = "humantime_serde")]
    pub complete_report_wait: Duration,
    /// A writer that has not renewed its lease for this long loses its files to any other
    /// writer that asks for them (create over, append, truncate), which recovers them
    /// first. Default 60 s (as HDFS); writers renew every half of it.
    #[serde(with = "humantime_serde")]
    pub lease_soft_limit: Duration,
    /// A writer silent this long has its files recovered and closed by the namenode, with no
    /// other writer asking. Default 20 min (as recent HDFS). At least `lease_soft_limit`.
    #[serde(with = "humantime_serde")]
    pub lease_hard_limit: Duration,
    /// How long a block recovery's primary datanode has to commit it before the recovery
    /// starts again, under a new generation, with another primary. Default 30 s: a recovery
    /// reads at most one block's chunk digests from each replica.
    #[serde(with = "humantime_serde")]
    pub recovery_timeout: Duration,
    /// How often the lease monitor looks for leases past `lease_hard_limit` and recoveries
    /// past `recovery_timeout`. Default 2 s (HDFS checks every 2 s too).
    #[serde(with = "humantime_serde")]
    pub lease_check_interval: Duration,
    /// Most entries one listing call answers; longer listings are paged with a cursor.
    /// Default 1000 (as HDFS's `dfs.ls.limit`): the namesystem lock is never held for a
    /// whole large directory.
    pub ls_limit: usize,
    /// After binding, write the bound address (e.g. `127.0.0.1:40123`) to this file, so a
    /// launcher that asked for port 0 can find the namenode. Default: none.
    pub addr_file: Option<PathBuf>,
    /// How often the replication monitor looks for blocks to copy or trim (it also runs at once
    /// after a datanode dies or a copy lands). Default 100 ms: our clusters are small and
    /// healing speed matters more than the few microseconds a pass costs.
    #[serde(with = "humantime_serde")]
    pub replication_check_interval: Duration,
    /// Replica copies one datanode may send, and receive, at once. Default 4: enough to heal
    /// quickly, few enough that clients still get most of the disk and network.
    pub max_replication_streams: usize,
    /// A copy not confirmed this long is given up and ordered again, avoiding its target for a
    /// while. Default 30 s: a 128 MiB block copies in well under a second on a healthy node.
    #[serde(with = "humantime_serde")]
    pub replication_timeout: Duration,
    /// How long a datanode's command long-poll is held open when there is nothing to do.
    /// Default 10 s (the datanode's own timeout is 40 s).
    #[serde(with = "humantime_serde")]
    pub command_poll_timeout: Duration,
    /// When a datanode's lifeline ends, how long each of the two health probes of its data
    /// address may take before the node is declared dead. Default 500 ms: a live datanode
    /// answers at once; a dead one refuses, or accepts and never answers.
    #[serde(with = "humantime_serde")]
    pub lifeline_probe_timeout: Duration,
    /// Longest maintenance window an operator may ask for (and the window when none is given).
    /// Default 1 h: a restart or a disk swap, not a way to keep a node out of service forever.
    #[serde(with = "humantime_serde")]
    pub max_maintenance: Duration,
    /// How often the metadata store is checkpointed (also whenever a journal segment fills):
    /// the changes journaled since the last checkpoint are applied to sled, each key once,
    /// sled is flushed, and the journal segments that made redundant are deleted. Default
    /// 30 s. Acknowledging a change costs only its journal append; sled, at about 15 µs of
    /// CPU per changed key, is background work, and the rarer it runs the more of it merging
    /// saves (a file created, completed and deleted within one interval reaches sled only as
    /// the removal of a key it never had). The price: replay at start-up of at most one
    /// interval, or one segment, of journal; and up to a segment of records held in memory.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Size of each preallocated journal segment (a record larger than this gets a segment of
    /// its own). Default 64 MiB: several seconds of the heaviest metadata load, so segments
    /// roll rarely.
    pub journal_segment_size: u64,
    /// Fraction of the blocks of complete files that must have a reported replica before the
    /// namenode leaves start-up safe mode by itself. Default 0.999 (as HDFS); 0 disables
    /// start-up safe mode. Must be within 0..=1.
    pub safemode_threshold: f64,
    /// How long a job waits for a data-local slot before taking a rack-local one, and as long
    /// again before taking any (delay scheduling). Default 3 s; a job may set its own.
    #[serde(with = "humantime_serde")]
    pub job_locality_wait: Duration,
    /// Attempts per task before a job fails. Default 4 (as Hadoop); a job may set its own.
    pub job_max_attempts: u32,
    /// Map output a map attempt buffers before spilling, in bytes. Default 64 MiB; a job may
    /// set its own.
    pub job_sort_buffer: u64,
    /// Run backup attempts for straggling tasks. Default on; a job may turn it off.
    pub job_speculation: bool,
    /// How long a task runs before it may get a backup attempt. Default 2 s.
    #[serde(with = "humantime_serde")]
    pub job_speculation_min_runtime: Duration,
    /// Finished jobs kept in the job history (`<meta_dir>/jobs`). Default 1000.
    pub job_max_history: usize,
    /// An executor that has not polled for this long is lost and its tasks run elsewhere.
    /// Default: `dead_after`.
    #[serde(with = "humantime_serde")]
    pub executor_dead_after: Option<Duration>,
    /// How long what `fs rm` moves to the trash is kept (HDFS's `fs.trash.interval`), served
    /// to clients; 0 turns the trash off (`fs rm` deletes at once). Default 1 day.
    #[serde(with = "humantime_serde")]
    pub trash_interval: Duration,
    /// How often the trash emptier checkpoints every `/user/*/.Trash/Current` and deletes the
    /// checkpoints older than `trash_interval`. Default 0: `trash_interval` (as HDFS); never
    /// more than it.
    #[serde(with = "humantime_serde")]
    pub trash_checkpoint_interval: Duration,
    /// A file's access time moves at most this often (HDFS's `dfs.namenode.accesstime.precision`),
    /// set by opens and locates for reading; 0 never records it. Default 1 h.
    #[serde(with = "humantime_serde")]
    pub access_time_precision: Duration,
    /// Bits cleared from the mode of new files (666) and directories (777), octal as a
    /// string (HDFS's `fs.permissions.umask-mode`). Default `"022"`: files 644, dirs 755.
    pub umask: String,
    /// Members of this group on the namenode host are superusers, besides the namenode's own
    /// OS user (HDFS's `dfs.permissions.superusergroup`). Default `supergroup`.
    pub superuser_group: String,
}

impl Default for NamenodeConfig {
    fn default() -> Self {
        NamenodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9870)),
            meta_dir: PathBuf::from("./granary-namenode"),
            default_block_size: 128 << 20,
            default_replication: 3,
            heartbeat_interval: Duration::from_secs(3),
            dead_after: Duration::from_secs(30),
            retry_cache_ttl: Duration::from_secs(600),
            retry_cache_capacity: 1_000_000,
            max_replication: 32,
            min_replication: 1,
            complete_report_wait: Duration::from_millis(1500),
            lease_soft_limit: Duration::from_secs(60),
            lease_hard_limit: Duration::from_secs(20 * 60),
            recovery_timeout: Duration::from_secs(30),
            lease_check_interval: Duration::from_secs(2),
            ls_limit: 1000,
            addr_file: None,
            replication_check_interval: Duration::from_millis(100),
            max_replication_streams: 4,
            replication_timeout: Duration::from_secs(30),
            command_poll_timeout: Duration::from_secs(10),
            lifeline_probe_timeout: Duration::from_millis(500),
            max_maintenance: Duration::from_secs(3600),
            safemode_threshold: 0.999,
            checkpoint_interval: Duration::from_secs(30),
            journal_segment_size: crate::namespace::journal::DEFAULT_SEGMENT_SIZE,
            job_locality_wait: Duration::from_secs(3),
            job_max_attempts: 4,
            job_sort_buffer: 64 << 20,
            job_speculation: true,
            job_speculation_min_runtime: Duration::from_secs(2),
            job_max_history: 1000,
            executor_dead_after: None,
            trash_interval: Duration::from_secs(24 * 3600),
            trash_checkpoint_interval: Duration::ZERO,
            access_time_precision: Duration::from_secs(3600),
            umask: "022".to_string(),
            superuser_group: crate::namespace::SUPERGROUP.to_string(),
        }
    }
}

impl NamenodeConfig {
    /// `umask` as bits; `None` when it is not 1 to 3 octal digits.
    pub fn umask_bits(&self) -> Option<u16> {
        let valid = (1..=3).contains(&self.umask.len())
            && self.umask.bytes().all(|b| (b'0'..=b'7').contains(&b));
        valid
            .then(|| u16::from_str_radix(&self.umask, 8).ok())
            .flatten()
    }

    /// Reads a TOML file; missing fields take their defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, NamenodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NamenodeError::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| NamenodeError::Config(format!("{}: {}", path.display(), e.message())))
    }

    pub fn from_toml_str(text: &str) -> Result<Self, NamenodeError> {
        toml::from_str(text).map_err(|e| NamenodeError::Config(e.message().to_string()))
    }

    /// Checks the ranges the rest of the namenode relies on.
    pub fn validate(&self) -> Result<(), NamenodeError> {
        let fail = |msg: String| Err(NamenodeError::Config(msg));
        if self.max_replication == 0 {
            return fail("max_replication must be at least 1".into());
        }
        if self.default_replication == 0 || self.default_replication > self.max_replication {
            return fail(format!(
                "replication must be between 1 and {} (got {})",
                self.max_replication, self.default_replication
            ));
        }
        if self.min_replication == 0 || self.min_replication > self.max_replication {
            return fail(format!(
                "min_replication must be between 1 and {} (got {})",
                self.max_replication, self.min_replication
            ));
        }
        if self.umask_bits().is_none() {
            return fail(format!(
                "umask must be 3 octal digits such as 022 (got {:?})",
                self.umask
            ));
        }
        if self.ls_limit == 0 {
            return fail("ls_limit must be at least 1".into());
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.default_block_size) {
            return fail(format!(
                "block size must be between 64 KiB and 64 GiB (got {} bytes)",
                self.default_block_size
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return fail("heartbeat_interval must be positive".into());
        }
        if self.dead_after <= self.heartbeat_interval {
            return fail(format!(
                "dead_after ({}) must be longer than heartbeat_interval ({})",
                humantime::format_duration(self.dead_after),
                humantime::format_duration(self.heartbeat_interval)
            ));
        }
        let positive = [
            ("retry_cache_ttl", self.retry_cache_ttl),
            (
                "replication_check_interval",
                self.replication_check_interval,
            ),
            ("replication_timeout", self.replication_timeout),
            ("command_poll_timeout", self.command_poll_timeout),
            ("lifeline_probe_timeout", self.lifeline_probe_timeout),
            ("max_maintenance", self.max_maintenance),
            ("checkpoint_interval", self.checkpoint_interval),
            ("complete_report_wait", self.complete_report_wait),
            ("lease_soft_limit", self.lease_soft_limit),
            ("recovery_timeout", self.recovery_timeout),
            ("lease_check_interval", self.lease_check_interval),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return fail(format!("{name} must be positive"));
        }
        if self.lease_hard_limit < self.lease_soft_limit {
            return fail(format!(
                "lease_hard_limit ({}) must be at least lease_soft_limit ({})",
                humantime::format_duration(self.lease_hard_limit),
                humantime::format_duration(self.lease_soft_limit)
            ));
        }
        if self.journal_segment_size < 4096 {
            return fail(format!(
                "journal_segment_size must be at least 4096 bytes (got {})",
                self.journal_segment_size
            ));
        }
        if self.retry_cache_capacity == 0 {
            return fail("retry_cache_capacity must be at least 1".into());
        }
        if self.max_replication_streams == 0 {
            return fail("max_replication_streams must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.safemode_threshold) {
            return fail(format!(
                "safemode_threshold must be within 0 and 1 (got {})",
                self.safemode_threshold
            ));
        }
        self.validate_jobs()?;
        self.validate_trash()
    }
}
