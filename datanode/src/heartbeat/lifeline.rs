//! The lifeline: one request to the namenode that stays open for as long as this process
//! lives, `POST /v1/datanode/lifeline?id=<id>` with a body that yields a newline every
//! `lifeline_interval` and never ends. When the process dies the kernel closes the socket, so
//! the namenode sees the body end within milliseconds and, after probing our address, declares
//! us dead at once instead of after `dead_after` without heartbeats. The bytes keep the
//! connection from looking idle to the namenode and to anything in between.
//!
//! Whenever the request ends (namenode restart, network error, any answer) it is reopened
//! after a short bounded backoff, for as long as the datanode runs; an `unknown_datanode`
//! answer first has the heartbeat lifecycle register again.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use granary_client::{DatanodeId, ErrorKind};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::link::NamenodeLink;
use super::registration::Registration;
use super::throttle::{Backoff, LogThrottle};
use super::WARN_EVERY;

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A lifeline that stayed open this long was established: its end is a fresh failure, so the
/// backoff starts over.
const ESTABLISHED: Duration = BACKOFF_MAX;

/// Keeps the lifeline open until `shutdown`.
pub async fn run(
    link: Arc<NamenodeLink>,
    id: DatanodeId,
    interval: Duration,
    registration: Arc<Registration>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
    let mut log = LogThrottle::new(WARN_EVERY);
    // The lifeline is only accepted from a registered datanode: wait for a session newer
    // than this one before opening it.
    let mut stale_session = 0;
    loop {
        let epoch = tokio::select! {
            () = shutdown.cancelled() => return,
            epoch = registration.registered_after(stale_session) => epoch,
        };
        let opened = Instant::now();
        tracing::debug!("opening the lifeline to the namenode");
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = open(&link, &id, interval) => outcome,
        };
        match outcome {
            Ok(()) => tracing::debug!("the namenode ended the lifeline; reopening it"),
            Err(e) if e.kind == ErrorKind::UnknownDatanode => {
                tracing::info!(
                    "the namenode does not know this datanode (lifeline); registering again"
                );
                registration.namenode_forgot(epoch);
                stale_session = epoch;
            }
            Err(e) => log.warn(format_args!(
                "lifeline to the namenode ended (reopening): {e}"
            )),
        }
        if opened.elapsed() >= ESTABLISHED {
            backoff.reset();
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// One lifeline request, until the namenode answers or the connection breaks.
async fn open(
    link: &NamenodeLink,
    id: &DatanodeId,
    interval: Duration,
) -> Result<(), granary_client::Error> {
    let stop = CancellationToken::new();
    // Whatever ends this attempt also ends its body, so a connection hyper still holds can
    // never keep beating on its own.
    let _stop_body = stop.clone().drop_guard();
    let body = reqwest::Body::wrap_stream(beats(interval, stop));
    link.lifeline(id, body).await
}

/// A newline at once, then one per `interval`, until `stop`; then an error, so the request is
/// aborted on the wire rather than ended cleanly.
fn beats(
    interval: Duration,
    stop: CancellationToken,
) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    futures_util::stream::unfold(Some((ticker, stop)), |state| async move {
        let (mut ticker, stop) = state?;
        tokio::select! {
            biased;
            () = stop.cancelled() => Some((Err(io::Error::other("lifeline closed")), None)),
            _ = ticker.tick() => Some((Ok(Bytes::from_static(b"\n")), Some((ticker, stop)))),
        }
    })
}
