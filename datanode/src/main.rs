//! `granary-datanode`: flags and environment override the TOML configuration, then the
//! datanode runs until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use granary_datanode::DatanodeConfig;
use humantime_serde::re::humantime;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "granary-datanode",
    version,
    about = "Granary datanode: stores and serves block replicas"
)]
struct Args {
    /// TOML configuration file; flags override it.
    #[arg(long, env = "GRANARY_DATANODE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "GRANARY_DATANODE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory holding the replicas and the datanode id.
    #[arg(long, env = "GRANARY_DATANODE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Namenode URL, e.g. http://127.0.0.1:9870.
    #[arg(long, env = "GRANARY_NAMENODE", value_name = "URL")]
    namenode: Option<String>,
    /// Rack reported to the namenode.
    #[arg(long, env = "GRANARY_DATANODE_RACK", value_name = "RACK")]
    rack: Option<String>,
    /// Time between heartbeats, e.g. 3s or 200ms.
    #[arg(long, env = "GRANARY_HEARTBEAT_INTERVAL", value_name = "DUR", value_parser = humantime::parse_duration)]
    heartbeat_interval: Option<Duration>,
    /// Time between full block reports, e.g. 10m.
    #[arg(long, env = "GRANARY_BLOCK_REPORT_INTERVAL", value_name = "DUR", value_parser = humantime::parse_duration)]
    block_report_interval: Option<Duration>,
    /// Bytes offered to the cluster, e.g. 100G (default: the filesystem's size).
    #[arg(long, env = "GRANARY_DATANODE_CAPACITY", value_name = "SIZE", value_parser = parse_size)]
    capacity: Option<u64>,
    /// Time between the bytes of the lifeline request, e.g. 1s.
    #[arg(long, env = "GRANARY_LIFELINE_INTERVAL", value_name = "DUR", value_parser = humantime::parse_duration)]
    lifeline_interval: Option<Duration>,
    /// Replica copies for the namenode that may run at once (default 4).
    #[arg(long, env = "GRANARY_MAX_CONCURRENT_REPLICATIONS", value_name = "N")]
    max_concurrent_replications: Option<usize>,
    /// Bytes per second the block scanner may read, e.g. 32M.
    #[arg(long, env = "GRANARY_SCAN_RATE", value_name = "SIZE", value_parser = parse_size)]
    scan_rate: Option<u64>,
    /// Time from the start of one block scanner pass to the next, e.g. 1h.
    #[arg(long, env = "GRANARY_SCAN_PERIOD", value_name = "DUR", value_parser = humantime::parse_duration)]
    scan_period: Option<Duration>,
    /// Task attempts run at once (default: the number of CPUs).
    #[arg(long, env = "GRANARY_TASK_SLOTS", value_name = "N")]
    task_slots: Option<u32>,
    /// Time between polls of the job tracker for work, e.g. 200ms.
    #[arg(long, env = "GRANARY_TASK_POLL_INTERVAL", value_name = "DUR", value_parser = humantime::parse_duration)]
    task_poll_interval: Option<Duration>,
    /// Fault injection: every task attempt takes this many times as long, e.g. 5 (default 1: off).
    #[arg(long, env = "GRANARY_TASK_SLOWDOWN", value_name = "FACTOR")]
    task_slowdown: Option<f64>,
    /// Block transfers run at once before new ones are refused as busy (default 64).
    #[arg(long, env = "GRANARY_MAX_TRANSFERS", value_name = "N")]
    max_transfers: Option<u32>,
    /// Give up on a transfer peer that makes no progress for this long, e.g. 5s.
    #[arg(long, env = "GRANARY_STALL_TIMEOUT", value_name = "DUR", value_parser = humantime::parse_duration)]
    stall_timeout: Option<Duration>,
    /// After binding, write the actual listen address to this file (atomically).
    #[arg(long, env = "GRANARY_DATANODE_ADDR_FILE", value_name = "FILE")]
    addr_file: Option<PathBuf>,
}

/// Blocking threads of the main runtime beyond one per admitted transfer: 16 for the scanner,
/// store maintenance and finalizing replicas, and one per shuffle serve the compute server
/// allows at once (each has at most one blocking read in flight).
const BLOCKING_THREADS_MARGIN: usize = 16 + granary_compute::shuffle::MAX_CONCURRENT_SERVES;

fn parse_size(raw: &str) -> Result<u64, String> {
    granary_client::size::parse_size(raw).map_err(|e| e.message)
}

impl Args {
    fn config(&self) -> anyhow::Result<DatanodeConfig> {
        let mut config = match &self.config {
            Some(path) => DatanodeConfig::from_file(path)?,
            None => DatanodeConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.namenode {
            config.namenode = url.clone();
        }
        if let Some(rack) = &self.rack {
            config.rack = rack.clone();
        }
        if let Some(interval) = self.heartbeat_interval {
            config.heartbeat_interval = interval;
        }
        if let Some(interval) = self.block_report_interval {
            config.block_report_interval = interval;
        }
        if let Some(capacity) = self.capacity {
            config.capacity = Some(capacity);
        }
        if let Some(interval) = self.lifeline_interval {
            config.lifeline_interval = interval;
        }
        if let Some(n) = self.max_concurrent_replications {
            config.max_concurrent_replications = n;
        }
        if let Some(rate) = self.scan_rate {
            config.scan_rate = rate;
        }
        if let Some(period) = self.scan_period {
            config.scan_period = period;
        }
        if let Some(slots) = self.task_slots {
            config.task_slots = slots;
        }
        if let Some(interval) = self.task_poll_interval {
            config.task_poll_interval = interval;
        }
        if let Some(factor) = self.task_slowdown {
            config.task_slowdown = factor;
        }
        if let Some(n) = self.max_transfers {
            config.max_transfers = n;
        }
        if let Some(timeout) = self.stall_timeout {
            config.stall_timeout = timeout;
        }
        config.validate()?;
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let config = args.config()?;
    for (name, actions) in granary_compute::failpoints::setup_from_env()? {
        tracing::warn!("failpoint {name} armed: {actions}");
    }
    // Every admitted transfer holds at most one blocking thread at a time; the margin covers the
    // scanner, store maintenance, finalizing replicas and the shuffle's serves. Task attempts
    // run on a pool of their own (see `granary_compute::executor`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.max_transfers as usize + BLOCKING_THREADS_MARGIN)
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(granary_datanode::run(
            config,
            args.addr_file.as_deref(),
            granary_client::server::shutdown_signal(),
        ))
        .context("datanode failed")
}

/// Block traffic allocates and frees a few chunk-sized buffers per frame. glibc's defaults hand
/// buffers over 128 KiB to mmap and trim the heap eagerly, so the same memory is faulted in
/// again and again; keeping it costs little and saves a page fault per 4 KiB moved.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes allocator thresholds; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}
