//! Facts the job tracker acts on, sent as they happen: a datanode declared dead, the
//! namespace leaving safe mode. Sent under the namesystem lock, so in the order they happened;
//! sending on the channel never blocks. Before the tracker subscribes nothing is kept.

use granary_client::{Error, ErrorKind};
use granary_compute::tracker::NamespaceEvent;
use tokio::sync::mpsc;

use super::{Namesystem, State};

impl Namesystem {
    /// The channel of [`NamespaceEvent`]s; there is one subscriber, the job tracker.
    pub fn subscribe_tracker_events(
        &self,
    ) -> Result<mpsc::UnboundedReceiver<NamespaceEvent>, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.tracker_events.set(tx).map_err(|_| {
            Error::new(
                ErrorKind::AlreadyExists,
                "the job tracker already subscribed to namespace events",
            )
        })?;
        Ok(rx)
    }

    /// Sends a death event for every datanode declared dead since the last call. At most one
    /// per death, so the channel holds no more than the nodes that died since the tracker
    /// last looked.
    pub(crate) fn publish_deaths(&self, state: &mut State) {
        for datanode in state.datanodes.take_deaths() {
            self.publish(NamespaceEvent::DatanodeDead(datanode));
        }
    }

    pub(crate) fn publish_safe_mode_left(&self) {
        self.publish(NamespaceEvent::SafeModeLeft);
    }

    fn publish(&self, event: NamespaceEvent) {
        if let Some(tx) = self.tracker_events.get() {
            // A closed channel means the tracker stopped; nobody is left to tell.
            let _ = tx.send(event);
        }
    }
}
