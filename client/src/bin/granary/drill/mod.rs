//! `granary drill`: failure drills against a running cluster.
//!
//! - `healing` (`--kill K`, `--decommission K`): removes datanodes, checks every byte of a data
//!   set reads back while they are gone, and times how long the cluster takes to heal.
//! - `during_job` (`--during-job`): SIGKILLs a datanode while a job runs and checks the job
//!   still produces exactly the output of a fault-free run.

mod data_set;
mod during_job;
mod healing;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use granary_client::size::parse_size;
use granary_client::{DatanodeId, Granary};

use crate::cluster::{cluster_dir, process, state};

/// How often the drill polls the namenode while it waits.
const POLL: Duration = Duration::from_millis(20);

#[derive(Args)]
pub struct DrillArgs {
    /// Datanodes to SIGKILL (local cluster only).
    #[arg(long, conflicts_with_all = ["decommission", "during_job"])]
    kill: Option<u32>,
    /// Datanodes to decommission (works on any cluster).
    #[arg(long, conflicts_with = "during_job")]
    decommission: Option<u32>,
    /// Run a wordcount job twice, SIGKILLing one datanode during the second run (local cluster
    /// only), and check both runs' outputs are identical.
    #[arg(long, conflicts_with = "files")]
    during_job: bool,
    /// With --during-job: kill once half the maps are done (map, the default) or while
    /// reducers run (reduce).
    #[arg(long, value_enum)]
    kill_in: Option<KillPhase>,
    /// Files in the data set.
    #[arg(long, default_value_t = 4)]
    files: u32,
    /// Size of each file (default: 2.5 blocks, at most 320 MiB), e.g. 40M. With --during-job,
    /// of the job's input (default: 4 blocks per datanode, at most 320 MiB).
    #[arg(long, value_parser = |s: &str| parse_size(s).map_err(|e| e.message))]
    file_size: Option<u64>,
    /// Give up (and fail) if the cluster has not healed (with --during-job: a job has not
    /// ended) by then.
    #[arg(long, default_value = "120s")]
    timeout: humantime::Duration,
    /// Keep the data set (and the jobs' outputs) afterwards.
    #[arg(long)]
    keep: bool,
    /// Local cluster directory, for --kill and --during-job (default: as `granary cluster`).
    #[arg(long, env = "GRANARY_CLUSTER_DIR")]
    dir: Option<PathBuf>,
    /// Print the findings as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// When `--during-job` kills its datanode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum KillPhase {
    Map,
    Reduce,
}

pub async fn run(fs: Granary, args: DrillArgs) -> anyhow::Result<ExitCode> {
    if args.during_job {
        during_job::run(fs, args).await
    } else if args.kill_in.is_some() {
        anyhow::bail!("--kill-in goes with --during-job")
    } else {
        healing::run(fs, args).await
    }
}

/// A drill data set's root directory, unique to this run.
fn drill_root() -> anyhow::Result<granary_client::FsPath> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    Ok(granary_client::FsPath::parse(&format!("/drill-{ms}"))?)
}

/// Polls `check` until it yields `Some` or `deadline` passes.
async fn wait_until<T, F, Fut>(deadline: Instant, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The cluster started by `granary cluster up` in `dir` (or the default directory).
fn local_cluster(dir: &Option<PathBuf>, flag: &str) -> anyhow::Result<state::ClusterState> {
    let dir = cluster_dir(dir.clone())?;
    state::ClusterState::load(&dir)?.with_context(|| {
        format!(
            "{flag} needs a local cluster started by `granary cluster up` (none in {}); on a real cluster use --decommission",
            dir.display()
        )
    })
}

/// SIGKILLs the datanodes of the local cluster with these ids.
fn kill_local(cluster: &state::ClusterState, victims: &[DatanodeId]) -> anyhow::Result<()> {
    for id in victims {
        let dn = cluster
            .datanodes
            .iter()
            .find(|d| state::datanode_id(&d.data_dir).as_deref() == Some(id.as_str()))
            .with_context(|| format!("datanode {id} is not part of the local cluster"))?;
        let pid = dn
            .pid
            .filter(|pid| process::is_running(*pid, &dn.data_dir))
            .with_context(|| format!("datanode {id} is not running"))?;
        process::signal(pid, libc::SIGKILL)?;
    }
    Ok(())
}
