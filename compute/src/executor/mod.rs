//! The task executor: runs inside each datanode. It polls the job tracker for attempts, runs
//! them in its slots (map input read from the datanode's own block store when it holds the
//! block) and reports how each ended.
//!
//! - `poll` is the conversation with the tracker: polls, launches, kills, reports, and the
//!   removal of finished jobs' local output.
//! - `attempt` takes one attempt from launch to outcome; `map` and `reduce` are what the two
//!   kinds do around the task runtime ([`crate::task`]).
//! - `input` turns a map's split into readers over local replicas and remote ranges.
//! - `pool` is the runtime attempts run on, apart from the datanode's own.
//! - `slowdown` makes attempts slow on purpose (`task_slowdown`), for drills and benchmarks.
//!
//! Local files live under `<work_dir>/<job>/<attempt>/`; a finished map's output stays there
//! for the shuffle server until its job is no longer active.

mod attempt;
mod input;
mod map;
mod poll;
mod pool;
mod reduce;
mod slowdown;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use granary_client::{BlockId, DatanodeId, Error};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::poll::Executor;
use self::pool::TaskPool;
use crate::task::InputReader;

#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Base URL of the namenode, where the job tracker runs.
    pub namenode: String,
    /// The datanode this executor runs in.
    pub datanode: DatanodeId,
    /// The datanode's HTTP address: its shuffle server, and the source address of this
    /// executor's connections, so the namenode recognises it as a local reader and writer.
    pub addr: SocketAddr,
    pub rack: String,
    /// Attempts run at once; also the size of the pool of threads they run on.
    pub slots: u32,
    /// Time between polls when nothing happens; an attempt that ends triggers one at once.
    pub poll_interval: Duration,
    /// Root of the attempts' local files.
    pub work_dir: PathBuf,
    /// Fault injection: every attempt takes this many times as long as it would, its pauses
    /// spread over its run. 1.0 is off.
    pub task_slowdown: f64,
    /// A datanode that sends a map's remote input nothing for this long is given up for the
    /// next replica (the client library's `stall_timeout`), and a reducer's fetch of a map's
    /// output that receives nothing for this long fails, so the map is re-run elsewhere: a
    /// datanode that hangs (stopped, swapping) delays a job by about this much instead of
    /// hanging it. The datanode's `stall_timeout`.
    pub stall_timeout: Duration,
}

/// The datanode's block store, as a source of map input.
pub trait LocalBlocks: Send + Sync + 'static {
    /// A checksum-verified reader of `[offset, offset+len)` of a local replica; `None` if not
    /// held here.
    fn open(&self, block: BlockId, offset: u64, len: u64) -> Option<std::io::Result<InputReader>>;
}

/// Starts the executor: it polls until `shutdown` is cancelled, then kills its attempts and
/// gives them a moment to report. Creates `work_dir` if needed. Attempts run on a pool of
/// `slots` threads of their own, which ends with the executor.
pub fn spawn(
    config: ExecutorConfig,
    blocks: Arc<dyn LocalBlocks>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    std::fs::create_dir_all(&config.work_dir)
        .map_err(|e| Error::io(config.work_dir.display(), e))?;
    let pool = TaskPool::new(config.slots)?;
    let executor = Arc::new(Executor::new(config, blocks, pool.handle(), shutdown)?);
    Ok(tokio::spawn(async move {
        executor.run().await;
        drop(pool);
    }))
}

#[cfg(test)]
mod fake_tracker;
#[cfg(test)]
mod tests;
