//! Block recovery (HDFS's `BlockRecoveryCommand` and `commitBlockSynchronization`): the
//! routes every replica's datanode answers ([`routes`]), and the primary that a `Recover`
//! command makes of this datanode ([`primary`]). One recovery per block runs at a time; a
//! command for a newer generation supersedes the one running, an older or equal one is
//! ignored.

mod calls;
pub mod primary;
pub mod routes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use granary_client::{BlockId, Generation};
use tokio_util::sync::CancellationToken;

use self::primary::Recovery;
use crate::heartbeat::NamenodeLink;
use crate::state::AppState;

/// The recoveries this datanode leads.
pub struct Recoveries {
    node: Arc<AppState>,
    /// Where the result is committed; `None` only in tests that run no namenode.
    namenode: Option<Arc<NamenodeLink>>,
    running: Mutex<HashMap<BlockId, (Generation, CancellationToken)>>,
    shutdown: CancellationToken,
}

impl Recoveries {
    pub fn new(
        node: Arc<AppState>,
        namenode: Option<Arc<NamenodeLink>>,
        shutdown: CancellationToken,
    ) -> Self {
        Recoveries {
            node,
            namenode,
            running: Mutex::default(),
            shutdown,
        }
    }

    /// Starts leading `recovery` in the background, unless one of the same block at its
    /// generation or newer is running; an older one is cancelled.
    pub fn start(self: &Arc<Self>, recovery: Recovery) {
        let (block, generation) = (recovery.block, recovery.generation);
        let cancel = {
            let mut running = self.running();
            if let Some((current, token)) = running.get(&block) {
                if *current >= generation {
                    tracing::debug!(%block, %generation, running = %current, "a recovery of this block is already running");
                    return;
                }
                tracing::info!(%block, %generation, superseded = %current, "a newer recovery supersedes the one running");
                token.cancel();
            }
            let cancel = self.shutdown.child_token();
            running.insert(block, (generation, cancel.clone()));
            cancel
        };
        let recoveries = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {
                    tracing::info!(%block, %generation, "recovery cancelled");
                }
                () = primary::lead(&recoveries.node, recoveries.namenode.as_deref(), &recovery) => {}
            }
            let mut running = recoveries.running();
            if running.get(&block).is_some_and(|(g, _)| *g == generation) {
                running.remove(&block);
            }
        });
    }

    /// Recoveries running now.
    pub fn running_count(&self) -> usize {
        self.running().len()
    }

    fn running(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<BlockId, (Generation, CancellationToken)>> {
        granary_client::sync::lock(&self.running, "running recoveries")
    }
}

#[cfg(test)]
mod tests;
