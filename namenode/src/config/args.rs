//! Command-line flags of `granary-namenode`; each overrides the TOML file and can also come from
//! a `GRANARY_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use granary_client::size::parse_size;
use humantime_serde::re::humantime;

use super::NamenodeConfig;
use crate::error::NamenodeError;

#[derive(Clone, Debug, Default, Parser)]
#[command(name = "granary-namenode", version, about = "Granary namenode")]
pub struct NamenodeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "GRANARY_NAMENODE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", env = "GRANARY_NAMENODE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Metadata directory.
    #[arg(long, value_name = "DIR", env = "GRANARY_NAMENODE_META_DIR")]
    pub meta_dir: Option<PathBuf>,
    /// Default block size, e.g. 64M, 128MiB, 1G.
    #[arg(long, value_name = "SIZE", env = "GRANARY_BLOCK_SIZE", value_parser = parse_size_arg)]
    pub block_size: Option<u64>,
    /// Default replication.
    #[arg(long, value_name = "N", env = "GRANARY_REPLICATION")]
    pub replication: Option<u16>,
    /// Expected datanode heartbeat interval, e.g. 3s, 500ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_HEARTBEAT_INTERVAL",
        value_parser = parse_duration
    )]
    pub heartbeat_interval: Option<Duration>,
    /// Silence after which a datanode is dead, e.g. 30s.
    #[arg(long, value_name = "DUR", env = "GRANARY_DEAD_AFTER", value_parser = parse_duration)]
    pub dead_after: Option<Duration>,
    /// Write the bound address to this file once listening.
    #[arg(long, value_name = "FILE", env = "GRANARY_NAMENODE_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
    /// Fraction of blocks that must be reported before start-up safe mode ends (0..=1).
    #[arg(long, value_name = "FRACTION", env = "GRANARY_SAFEMODE_THRESHOLD")]
    pub safemode_threshold: Option<f64>,
    /// How often the replication monitor runs, e.g. 100ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_REPLICATION_CHECK_INTERVAL",
        value_parser = parse_duration
    )]
    pub replication_check_interval: Option<Duration>,
    /// Replica copies a datanode may send (and receive) at once.
    #[arg(long, value_name = "N", env = "GRANARY_MAX_REPLICATION_STREAMS")]
    pub max_replication_streams: Option<usize>,
    /// A replica copy not confirmed within this is ordered again elsewhere, e.g. 30s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_REPLICATION_TIMEOUT",
        value_parser = parse_duration
    )]
    pub replication_timeout: Option<Duration>,
    /// How long an idle command long-poll is held open, e.g. 10s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_COMMAND_POLL_TIMEOUT",
        value_parser = parse_duration
    )]
    pub command_poll_timeout: Option<Duration>,
    /// Timeout of each health probe of a datanode whose lifeline ended, e.g. 500ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_LIFELINE_PROBE_TIMEOUT",
        value_parser = parse_duration
    )]
    pub lifeline_probe_timeout: Option<Duration>,
    /// Longest maintenance window, e.g. 1h.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_MAX_MAINTENANCE",
        value_parser = parse_duration
    )]
    pub max_maintenance: Option<Duration>,
    /// How long a job waits for a data-local slot before taking a rack-local one, e.g. 3s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_JOB_LOCALITY_WAIT",
        value_parser = parse_duration
    )]
    pub job_locality_wait: Option<Duration>,
    /// Attempts per task before a job fails.
    #[arg(long, value_name = "N", env = "GRANARY_JOB_MAX_ATTEMPTS")]
    pub job_max_attempts: Option<u32>,
    /// Map output buffered before a spill, e.g. 64M.
    #[arg(long, value_name = "SIZE", env = "GRANARY_JOB_SORT_BUFFER", value_parser = parse_size_arg)]
    pub job_sort_buffer: Option<u64>,
    /// Run backup attempts for straggling tasks (true or false).
    #[arg(long, value_name = "BOOL", env = "GRANARY_JOB_SPECULATION")]
    pub job_speculation: Option<bool>,
    /// How long a task runs before it may get a backup attempt, e.g. 5s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_JOB_SPECULATION_MIN_RUNTIME",
        value_parser = parse_duration
    )]
    pub job_speculation_min_runtime: Option<Duration>,
    /// Finished jobs kept in the job history.
    #[arg(long, value_name = "N", env = "GRANARY_JOB_MAX_HISTORY")]
    pub job_max_history: Option<usize>,
    /// Datanode reports of each block needed before `complete` makes a file visible.
    #[arg(long, value_name = "N", env = "GRANARY_MIN_REPLICATION")]
    pub min_replication: Option<u16>,
    /// How long `complete` waits for datanode reports before answering not_replicated_yet,
    /// e.g. 1500ms.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_COMPLETE_REPORT_WAIT",
        value_parser = parse_duration
    )]
    pub complete_report_wait: Option<Duration>,
    /// Lease age after which another writer may take a file over, e.g. 60s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_LEASE_SOFT_LIMIT",
        value_parser = parse_duration
    )]
    pub lease_soft_limit: Option<Duration>,
    /// Lease age after which the namenode recovers a writer's files itself, e.g. 20m.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_LEASE_HARD_LIMIT",
        value_parser = parse_duration
    )]
    pub lease_hard_limit: Option<Duration>,
    /// Time a block recovery's primary has before another one is chosen, e.g. 30s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_RECOVERY_TIMEOUT",
        value_parser = parse_duration
    )]
    pub recovery_timeout: Option<Duration>,
    /// How often the lease monitor checks hard limits and recovery timeouts, e.g. 2s.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_LEASE_CHECK_INTERVAL",
        value_parser = parse_duration
    )]
    pub lease_check_interval: Option<Duration>,
    /// Most entries one listing call answers.
    #[arg(long, value_name = "N", env = "GRANARY_LS_LIMIT")]
    pub ls_limit: Option<usize>,
    /// Silence after which an executor is lost, e.g. 30s (default: --dead-after).
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_EXECUTOR_DEAD_AFTER",
        value_parser = parse_duration
    )]
    pub executor_dead_after: Option<Duration>,
    /// How long deleted files stay in the trash, e.g. 1d; 0 turns the trash off.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_TRASH_INTERVAL",
        value_parser = parse_duration
    )]
    pub trash_interval: Option<Duration>,
    /// How often the trash emptier runs, e.g. 1h (0: the trash interval).
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_TRASH_CHECKPOINT_INTERVAL",
        value_parser = parse_duration
    )]
    pub trash_checkpoint_interval: Option<Duration>,
    /// A file's access time moves at most this often, e.g. 1h; 0 never records it.
    #[arg(
        long,
        value_name = "DUR",
        env = "GRANARY_ACCESS_TIME_PRECISION",
        value_parser = parse_duration
    )]
    pub access_time_precision: Option<Duration>,
    /// Bits cleared from the mode of new files and directories, octal, e.g. 022.
    #[arg(long, value_name = "OCTAL", env = "GRANARY_UMASK")]
    pub umask: Option<String>,
    /// Members of this host group are superusers, besides the namenode's own user.
    #[arg(long, value_name = "GROUP", env = "GRANARY_SUPERUSER_GROUP")]
    pub superuser_group: Option<String>,
}

impl NamenodeArgs {
    /// The TOML file (or the defaults) with the flags applied, validated.
    pub fn into_config(self) -> Result<NamenodeConfig, NamenodeError> {
        let mut config = match &self.config {
            Some(path) => NamenodeConfig::from_toml_file(path)?,
            None => NamenodeConfig::default(),
        };
        fn set<T>(field: &mut T, flag: Option<T>) {
            if let Some(value) = flag {
                *field = value;
            }
        }
        set(&mut config.listen, self.listen);
        set(&mut config.meta_dir, self.meta_dir);
        set(&mut config.default_block_size, self.block_size);
        set(&mut config.default_replication, self.replication);
        set(&mut config.heartbeat_interval, self.heartbeat_interval);
        set(&mut config.dead_after, self.dead_after);
        if self.addr_file.is_some() {
            config.addr_file = self.addr_file;
        }
        set(&mut config.safemode_threshold, self.safemode_threshold);
        set(
            &mut config.replication_check_interval,
            self.replication_check_interval,
        );
        set(
            &mut config.max_replication_streams,
            self.max_replication_streams,
        );
        set(&mut config.replication_timeout, self.replication_timeout);
        set(&mut config.command_poll_timeout, self.command_poll_timeout);
        set(
            &mut config.lifeline_probe_timeout,
            self.lifeline_probe_timeout,
        );
        set(&mut config.max_maintenance, self.max_maintenance);
        set(&mut config.job_locality_wait, self.job_locality_wait);
        set(&mut config.job_max_attempts, self.job_max_attempts);
        set(&mut config.job_sort_buffer, self.job_sort_buffer);
        set(&mut config.job_speculation, self.job_speculation);
        set(
            &mut config.job_speculation_min_runtime,
            self.job_speculation_min_runtime,
        );
        set(&mut config.job_max_history, self.job_max_history);
        set(&mut config.min_replication, self.min_replication);
        set(&mut config.complete_report_wait, self.complete_report_wait);
        set(&mut config.ls_limit, self.ls_limit);
        set(&mut config.lease_soft_limit, self.lease_soft_limit);
        set(&mut config.lease_hard_limit, self.lease_hard_limit);
        set(&mut config.recovery_timeout, self.recovery_timeout);
        set(&mut config.lease_check_interval, self.lease_check_interval);
        if self.executor_dead_after.is_some() {
            config.executor_dead_after = self.executor_dead_after;
        }
        set(&mut config.trash_interval, self.trash_interval);
        set(
            &mut config.trash_checkpoint_interval,
            self.trash_checkpoint_interval,
        );
        set(
            &mut config.access_time_precision,
            self.access_time_precision,
        );
        set(&mut config.umask, self.umask);
        set(&mut config.superuser_group, self.superuser_group);
        config.validate()?;
        Ok(config)
    }
}

/// A size such as `64M`: block sizes and sort buffers.
fn parse_size_arg(raw: &str) -> Result<u64, String> {
    parse_size(raw).map_err(|e| e.message)
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("invalid duration {raw:?}: {e}"))
}
