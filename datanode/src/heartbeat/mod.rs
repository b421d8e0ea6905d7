//! The datanode's side of liveness: register with the namenode (retrying until it answers),
//! send a full block report, then heartbeat every `heartbeat_interval` and re-report every
//! `block_report_interval`. A namenode that answers `unknown_datanode` has restarted: register
//! again and send a full report. Commands in the replies are run in the background.

mod commands;
mod link;
mod reports;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::{
    BlockReportRequest, DatanodeInfo, HeartbeatRequest, RegisterRequest,
};
use granary_client::{Error, ErrorKind};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use self::commands::replicate;
pub use self::link::NamenodeLink;
pub use self::reports::{send_incremental_reports, ReportQueue, ReportReceiver};
use crate::api::AppState;
use crate::config::DatanodeConfig;

/// Replications the namenode may have running on this node at once.
const MAX_REPLICATIONS: usize = 2;
/// Warnings about an unreachable namenode are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub struct Heartbeats {
    node: Arc<AppState>,
    link: Arc<NamenodeLink>,
    info: DatanodeInfo,
    heartbeat_interval: Duration,
    block_report_interval: Duration,
    replications: Semaphore,
}

/// Starts the heartbeat lifecycle and the incremental reporter for the node `info`.
pub fn spawn(
    node: Arc<AppState>,
    info: DatanodeInfo,
    config: &DatanodeConfig,
    reports: ReportReceiver,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let link = Arc::new(NamenodeLink::new(&config.namenode)?);
    let reporter = tokio::spawn(send_incremental_reports(
        Arc::clone(&link),
        info.id.clone(),
        reports,
    ));
    let heartbeats = Arc::new(Heartbeats {
        node,
        link,
        info,
        heartbeat_interval: config.heartbeat_interval,
        block_report_interval: config.block_report_interval,
        replications: Semaphore::new(MAX_REPLICATIONS),
    });
    Ok(vec![reporter, tokio::spawn(heartbeats.lifecycle())])
}

impl Heartbeats {
    async fn lifecycle(self: Arc<Self>) {
        let mut log = LogThrottle::new(WARN_EVERY);
        loop {
            self.register(&mut log).await;
            let mut next_full_report = Instant::now();
            let mut ticker = tokio::time::interval(self.heartbeat_interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                if Instant::now() >= next_full_report {
                    match self.full_report().await {
                        Ok(()) => next_full_report = Instant::now() + self.block_report_interval,
                        Err(e) if e.kind == ErrorKind::UnknownDatanode => break,
                        // Retried after the next heartbeat.
                        Err(e) => log.warn(format_args!("block report failed: {e}")),
                    }
                }
                ticker.tick().await;
                match self.heartbeat().await {
                    Ok(()) => {}
                    Err(e) if e.kind == ErrorKind::UnknownDatanode => {
                        tracing::info!(
                            "the namenode does not know this datanode; registering again"
                        );
                        break;
                    }
                    Err(e) => log.warn(format_args!("heartbeat failed: {e}")),
                }
            }
        }
    }

    /// Registers, retrying with a bounded backoff until the namenode accepts.
    async fn register(&self, log: &mut LogThrottle) {
        let ceiling = self
            .heartbeat_interval
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut backoff = Backoff::new(Duration::from_millis(100), ceiling);
        loop {
            let request = RegisterRequest {
                datanode: self.info.clone(),
                storage: self.node.store.storage_report(),
            };
            match self.link.register(&request).await {
                Ok(_) => {
                    tracing::info!(id = %self.info.id, addr = %self.info.addr, "registered with the namenode");
                    return;
                }
                Err(e) => log.warn(format_args!(
                    "registering with the namenode failed (retrying): {e}"
                )),
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn full_report(self: &Arc<Self>) -> Result<(), Error> {
        let replicas = self.node.store.replicas();
        let count = replicas.len();
        let request = BlockReportRequest {
            id: self.info.id.clone(),
            replicas,
        };
        let response = self.link.block_report(&request).await?;
        tracing::debug!(
            replicas = count,
            commands = response.commands.len(),
            "full block report sent"
        );
        commands::run(self, response.commands);
        Ok(())
    }

    async fn heartbeat(self: &Arc<Self>) -> Result<(), Error> {
        let request = HeartbeatRequest {
            id: self.info.id.clone(),
            storage: self.node.store.storage_report(),
            active_transfers: self.node.transfers.active(),
        };
        let response = self.link.heartbeat(&request).await?;
        commands::run(self, response.commands);
        Ok(())
    }
}

/// Exponential backoff between `initial` and `max`.
struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        delay
    }

    fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// Logs a recurring warning at most once per period, counting the ones it held back.
struct LogThrottle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    fn new(every: Duration) -> Self {
        LogThrottle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    fn warn(&mut self, message: fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.every)
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                "{message} ({} similar warnings suppressed)",
                self.suppressed
            );
        } else {
            tracing::warn!("{message}");
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests;
