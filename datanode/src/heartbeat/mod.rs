//! The datanode's side of liveness and of the namenode's commands.
//!
//! The heartbeat lifecycle registers with the namenode (retrying until it answers), sends a
//! full block report, then heartbeats every `heartbeat_interval` and re-reports every
//! `block_report_interval`. A namenode that answers `unknown_datanode` has restarted: register
//! again and send a full report. Beside it run the lifeline (so the namenode notices at once
//! when this process dies), the command long-poll, and the incremental and bad-replica
//! reporters. Commands from every source go to one [`CommandExecutor`].

mod bad_replicas;
mod command_poll;
mod commands;
mod lifeline;
mod link;
mod registration;
mod replicate;
mod reports;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::{
    BlockReportRequest, DatanodeInfo, HeartbeatRequest, RegisterRequest,
};
use granary_client::{Error, ErrorKind};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

pub use self::bad_replicas::BadReplicaSignal;
pub use self::commands::{CommandExecutor, ReplicationStats};
pub use self::link::NamenodeLink;
pub use self::registration::{Registration, Session};
pub use self::replicate::replicate;
pub use self::reports::{send_incremental_reports, ReportQueue, ReportReceiver};
use self::throttle::{Backoff, LogThrottle};
use crate::config::DatanodeConfig;
use crate::state::AppState;

/// Warnings about an unreachable namenode are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub struct Heartbeats {
    node: Arc<AppState>,
    link: Arc<NamenodeLink>,
    info: DatanodeInfo,
    heartbeat_interval: Duration,
    block_report_interval: Duration,
    executor: Arc<CommandExecutor>,
    registration: Arc<Registration>,
}

/// Starts every task that talks to the namenode for the node `info`. The lifeline, the
/// command poll and queued replications stop when `shutdown` is cancelled; the caller aborts
/// the returned tasks when it is done.
pub fn spawn(
    node: Arc<AppState>,
    info: DatanodeInfo,
    config: &DatanodeConfig,
    reports: ReportReceiver,
    shutdown: CancellationToken,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let host = Some(info.addr.ip()).filter(|ip| !ip.is_unspecified());
    let link = Arc::new(NamenodeLink::bound_to(&config.namenode, host)?);
    let registration = Arc::new(Registration::default());
    let id = info.id.clone();
    let executor = Arc::new(
        CommandExecutor::new(
            Arc::clone(&node),
            config.max_concurrent_replications,
            shutdown.clone(),
        )
        .with_namenode(Arc::clone(&link), id.clone()),
    );
    let tasks = vec![
        tokio::spawn(send_incremental_reports(
            Arc::clone(&link),
            id.clone(),
            reports,
        )),
        tokio::spawn(bad_replicas::send_bad_replica_reports(
            Arc::clone(&link),
            Arc::clone(&node.store),
            id.clone(),
            Arc::clone(&registration),
            node.bad_replicas.clone(),
        )),
        tokio::spawn(lifeline::run(
            Arc::clone(&link),
            id.clone(),
            config.lifeline_interval,
            Arc::clone(&registration),
            shutdown.clone(),
        )),
        tokio::spawn(command_poll::run(
            Arc::clone(&link),
            id,
            Arc::clone(&registration),
            Arc::clone(&executor),
            shutdown,
        )),
    ];
    let heartbeats = Arc::new(Heartbeats {
        node,
        link,
        info,
        heartbeat_interval: config.heartbeat_interval,
        block_report_interval: config.block_report_interval,
        executor,
        registration,
    });
    Ok(tasks
        .into_iter()
        .chain([tokio::spawn(heartbeats.lifecycle())])
        .collect())
}

impl Heartbeats {
    async fn lifecycle(self: Arc<Self>) {
        let mut log = LogThrottle::new(WARN_EVERY);
        loop {
            let epoch = self.register(&mut log).await;
            let mut next_full_report = Instant::now();
            let mut ticker = tokio::time::interval(self.heartbeat_interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                if Instant::now() >= next_full_report {
                    match self.full_report().await {
                        Ok(()) => {
                            next_full_report = Instant::now() + self.block_report_interval;
                            self.registration.full_report_sent();
                        }
                        Err(e) if e.kind == ErrorKind::UnknownDatanode => break,
                        // Retried after the next heartbeat.
                        Err(e) => log.warn(format_args!("block report failed: {e}")),
                    }
                }
                tokio::select! {
                    _ = ticker.tick() => {}
                    // The lifeline or the command poll was told the namenode forgot us.
                    () = self.registration.forgotten(epoch) => break,
                }
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

    /// Registers, retrying with a bounded backoff until the namenode accepts, and returns the
    /// new session's epoch.
    async fn register(&self, log: &mut LogThrottle) -> u64 {
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
                    return self.registration.registered();
                }
                Err(e) => log.warn(format_args!(
                    "registering with the namenode failed (retrying): {e}"
                )),
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn full_report(&self) -> Result<(), Error> {
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
        self.executor.run(response.commands);
        Ok(())
    }

    async fn heartbeat(&self) -> Result<(), Error> {
        let request = HeartbeatRequest {
            id: self.info.id.clone(),
            storage: self.node.store.storage_report(),
            active_transfers: self.node.transfers.active(),
        };
        let response = self.link.heartbeat(&request).await?;
        self.executor.run(response.commands);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
