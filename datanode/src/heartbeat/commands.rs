//! Running the namenode's commands, whichever way they arrive (heartbeat and block-report
//! replies, the command long-poll). Deletes run at once. Replications wait for one of
//! `max_concurrent_replications` slots, so re-replication never starves client traffic; a
//! bounded number wait, and beyond that commands are dropped with a warning (the namenode
//! re-issues replications that time out). The same copy (block, first target) arriving twice
//! while the first is queued or running is ignored. Recoveries go to [`Recoveries`], which
//! runs one per block.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use granary_client::protocol::{DatanodeCommand, DatanodeInfo, ReplicationFailedRequest};
use granary_client::{BlockId, DatanodeId};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::link::NamenodeLink;
use super::replicate::replicate;
use crate::recovery::primary::Recovery;
use crate::recovery::Recoveries;
use crate::state::AppState;

/// Replications that may wait for a slot before new ones are dropped.
const REPLICATION_QUEUE: usize = 64;

type CopyKey = (BlockId, DatanodeId);

pub struct CommandExecutor {
    node: Arc<AppState>,
    /// One permit per replication allowed to run.
    slots: Semaphore,
    /// One permit per replication allowed to run or wait.
    admitted: Arc<Semaphore>,
    in_flight: Mutex<HashSet<CopyKey>>,
    stats: ReplicationStats,
    shutdown: CancellationToken,
    /// Where failed copies are reported, so the namenode re-plans them at once.
    failures: Option<(Arc<NamenodeLink>, DatanodeId)>,
    recoveries: Arc<Recoveries>,
}

/// Counters of the replication queue, for logs and tests.
#[derive(Debug, Default)]
pub struct ReplicationStats {
    pub queued: AtomicUsize,
    pub running: AtomicUsize,
    /// Most replications ever running at once.
    pub peak_running: AtomicUsize,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    /// Ignored as duplicates of a queued or running copy.
    pub duplicates: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl CommandExecutor {
    pub fn new(node: Arc<AppState>, max_replications: usize, shutdown: CancellationToken) -> Self {
        CommandExecutor {
            slots: Semaphore::new(max_replications),
            admitted: Arc::new(Semaphore::new(max_replications + REPLICATION_QUEUE)),
            in_flight: Mutex::new(HashSet::new()),
            stats: ReplicationStats::default(),
            recoveries: Arc::new(Recoveries::new(Arc::clone(&node), None, shutdown.clone())),
            node,
            shutdown,
            failures: None,
        }
    }

    /// Reports every failed copy, and commits every recovery it leads, to the namenode as
    /// this datanode.
    pub fn with_namenode(mut self, link: Arc<NamenodeLink>, id: DatanodeId) -> Self {
        self.recoveries = Arc::new(Recoveries::new(
            Arc::clone(&self.node),
            Some(Arc::clone(&link)),
            self.shutdown.clone(),
        ));
        self.failures = Some((link, id));
        self
    }

    pub fn recoveries(&self) -> &Arc<Recoveries> {
        &self.recoveries
    }

    pub fn stats(&self) -> &ReplicationStats {
        &self.stats
    }

    /// Starts every command in the background, so a slow one never delays its caller.
    pub fn run(self: &Arc<Self>, commands: Vec<DatanodeCommand>) {
        for command in commands {
            match command {
                DatanodeCommand::Delete { blocks } => {
                    tokio::spawn(delete(Arc::clone(&self.node), blocks));
                }
                DatanodeCommand::Replicate { block, targets } => self.replicate(block, targets),
                DatanodeCommand::Recover {
                    block,
                    generation,
                    length,
                    replicas,
                } => self.recoveries.start(Recovery {
                    block,
                    generation,
                    length,
                    replicas,
                }),
            }
        }
    }

    fn replicate(self: &Arc<Self>, block: BlockId, targets: Vec<DatanodeInfo>) {
        let Some(first) = targets.first() else {
            tracing::warn!(%block, "replicate command without targets; ignored");
            return;
        };
        let key = (block, first.id.clone());
        if !self.in_flight().insert(key.clone()) {
            tracing::debug!(%block, to = %first.id, "this copy is already queued or running");
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(admission) = Arc::clone(&self.admitted).try_acquire_owned() else {
            self.in_flight().remove(&key);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%block, to = %first.id, "replication queue full; dropping the command (the namenode will issue it again)");
            return;
        };
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let copy = QueuedCopy {
            executor: Arc::clone(self),
            key,
            queued: true,
            running: false,
        };
        tokio::spawn(async move {
            let _admission = admission;
            let shutdown = copy.executor.shutdown.clone();
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = copy.run(targets) => {}
            }
        });
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<CopyKey>> {
        granary_client::sync::lock(&self.in_flight, "replication in-flight set")
    }
}

/// One admitted replication; its counters and in-flight mark are undone when it is dropped,
/// however it ends (done, or cancelled at shutdown).
struct QueuedCopy {
    executor: Arc<CommandExecutor>,
    key: CopyKey,
    queued: bool,
    running: bool,
}

impl QueuedCopy {
    async fn run(mut self, targets: Vec<DatanodeInfo>) {
        let executor = Arc::clone(&self.executor);
        let Ok(_slot) = executor.slots.acquire().await else {
            return;
        };
        let stats = &executor.stats;
        self.queued = false;
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        self.running = true;
        let running = stats.running.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak_running.fetch_max(running, Ordering::Relaxed);
        let outcome = replicate(&executor.node, self.key.0, &targets).await;
        let counter = match &outcome {
            Ok(_) => &stats.succeeded,
            Err(_) => &stats.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let (Err(e), Some((link, id))) = (outcome, &executor.failures) {
            let report = ReplicationFailedRequest {
                id: id.clone(),
                block: self.key.0,
                targets: targets.iter().map(|t| t.id.clone()).collect(),
                reason: e.message,
            };
            // Best effort: an undelivered report only means the namenode waits for its timeout.
            if let Err(e) = link.replication_failed(&report).await {
                tracing::debug!(block = %report.block, "reporting a failed copy: {e}");
            }
        }
    }
}

impl Drop for QueuedCopy {
    fn drop(&mut self) {
        let stats = &self.executor.stats;
        if self.queued {
            stats.queued.fetch_sub(1, Ordering::Relaxed);
        }
        if self.running {
            stats.running.fetch_sub(1, Ordering::Relaxed);
        }
        self.executor.in_flight().remove(&self.key);
    }
}

/// Deletes the replicas and reports them deleted (also those we did not have, so the
/// namenode's block map forgets them either way).
async fn delete(node: Arc<AppState>, blocks: Vec<BlockId>) {
    let store = Arc::clone(&node.store);
    let outcome = tokio::task::spawn_blocking(move || {
        blocks
            .into_iter()
            .filter(|&block| match store.delete(block) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(%block, "deleting replica failed: {e}");
                    false
                }
            })
            .collect::<Vec<_>>()
    })
    .await;
    match outcome {
        Ok(deleted) => deleted
            .into_iter()
            .for_each(|block| node.reports.deleted(block)),
        Err(e) => tracing::warn!("deleting replicas: {e}"),
    }
}
