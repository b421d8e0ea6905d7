//! Facts the job tracker acts on, sent as they happen: a datanode declared dead, the
//! namespace leaving safe mode. Sent under the namesystem lock, so in the order they happened;
//! sending on the channel never blocks. Before the tracker subscribes nothing is kept.

use std::sync::OnceLock;

use granary_client::{Error, ErrorKind};
use granary_compute::tracker::NamespaceEvent;
use tokio::sync::mpsc;

use super::{Namesystem, State};

/// The sending end of the tracker's event channel, kept in the locked [`State`] so that
/// whatever changes the state (the replication pass included) can announce it.
#[derive(Debug, Default)]
pub(crate) struct TrackerEvents {
    tx: OnceLock<mpsc::UnboundedSender<NamespaceEvent>>,
}

impl TrackerEvents {
    /// The one subscriber's channel.
    pub(crate) fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<NamespaceEvent>, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.tx.set(tx).map_err(|_| {
            Error::new(
                ErrorKind::AlreadyExists,
                "the job tracker already subscribed to namespace events",
            )
        })?;
        Ok(rx)
    }

    pub(crate) fn send(&self, event: NamespaceEvent) {
        if let Some(tx) = self.tx.get() {
            // A closed channel means the tracker stopped; nobody is left to tell.
            let _ = tx.send(event);
        }
    }
}

impl Namesystem {
    /// The channel of [`NamespaceEvent`]s; there is one subscriber, the job tracker.
    pub fn subscribe_tracker_events(
        &self,
    ) -> Result<mpsc::UnboundedReceiver<NamespaceEvent>, Error> {
        self.lock().events.subscribe()
    }

    /// Sends a death event for every datanode declared dead since the last call. At most one
    /// per death, so the channel holds no more than the nodes that died since the tracker
    /// last looked.
    pub(crate) fn publish_deaths(&self, state: &mut State) {
        for datanode in state.datanodes.take_deaths() {
            state.events.send(NamespaceEvent::DatanodeDead(datanode));
        }
    }
}

/// Safe mode just turned off (the threshold reached, or an operator): deletions held back
/// are released and the tracker is told, so output work refused meanwhile is retried. The
/// one way out of safe mode, whoever takes it.
pub(crate) fn leave_safe_mode(state: &mut State) {
    state.datanodes.set_hold_deletes(false);
    state.events.send(NamespaceEvent::SafeModeLeft);
}

/// Leaves start-up safe mode if enough blocks are now reported; true if it did.
pub(crate) fn update_safe_mode(state: &mut State) -> bool {
    let (reported, total) = state.blocks.safe_counts();
    let left = state.safemode.update(reported, total);
    if left {
        leave_safe_mode(state);
    }
    left
}
