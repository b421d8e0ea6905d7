//! The command long-poll: `GET /v1/datanode/commands?id=<id>` in a loop. The namenode answers
//! as soon as it has work for this datanode (or with an empty list after its own poll timeout,
//! about 10 s), and we ask again at once, so a command starts within milliseconds of being
//! queued instead of at the next heartbeat. Heartbeat replies still carry commands too; both
//! paths feed the same [`CommandExecutor`].

use std::sync::Arc;
use std::time::Duration;

use granary_client::{DatanodeId, ErrorKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::commands::CommandExecutor;
use super::link::NamenodeLink;
use super::registration::Registration;
use super::throttle::{Backoff, LogThrottle};
use super::WARN_EVERY;

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// An empty answer sooner than this comes from a namenode that does not hold polls open;
/// waiting this long before the next poll keeps us from spinning against it.
const MIN_EMPTY_POLL: Duration = Duration::from_millis(200);

/// Polls for commands until `shutdown`.
pub async fn run(
    link: Arc<NamenodeLink>,
    id: DatanodeId,
    registration: Arc<Registration>,
    executor: Arc<CommandExecutor>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
    let mut log = LogThrottle::new(WARN_EVERY);
    // Only a registered datanode gets commands: wait for a session newer than this one.
    let mut stale_session = 0;
    loop {
        let epoch = tokio::select! {
            () = shutdown.cancelled() => return,
            epoch = registration.registered_after(stale_session) => epoch,
        };
        let asked = Instant::now();
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = link.poll_commands(&id) => outcome,
        };
        let pause = match outcome {
            Ok(response) if response.commands.is_empty() => {
                backoff.reset();
                MIN_EMPTY_POLL.saturating_sub(asked.elapsed())
            }
            Ok(response) => {
                backoff.reset();
                tracing::debug!(
                    commands = response.commands.len(),
                    "commands from the namenode"
                );
                executor.run(response.commands);
                Duration::ZERO
            }
            Err(e) if e.kind == ErrorKind::UnknownDatanode => {
                tracing::info!(
                    "the namenode does not know this datanode (command poll); registering again"
                );
                registration.namenode_forgot(epoch);
                stale_session = epoch;
                backoff.next_delay()
            }
            Err(e) => {
                log.warn(format_args!(
                    "polling the namenode for commands failed: {e}"
                ));
                backoff.next_delay()
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
