//! The mark of a block being changed: at most one writer, cut or recovery state read of a
//! block at a time. A recovery stops the holder of a mark (the write of a writer that lost its
//! lease, HDFS's stopWriter) through its token and waits until the holder lets go, which it
//! does by dropping its [`BlockMark`].

use std::sync::Arc;
use std::time::Duration;

use granary_client::{BlockId, Error, ErrorKind};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{BlockStore, Index};

/// The index's side of a mark.
#[derive(Debug)]
pub(super) struct WriteMark {
    cancel: CancellationToken,
    /// Dropped with the mark: waiters see their receivers close.
    ended: watch::Sender<()>,
}

impl WriteMark {
    pub(super) fn stop(&self) {
        self.cancel.cancel();
    }
}

/// Holds the mark of one block until dropped.
#[derive(Debug)]
pub struct BlockMark {
    store: Arc<BlockStore>,
    block: BlockId,
    cancel: CancellationToken,
}

impl BlockStore {
    /// Marks `block` in `index` (held locked by the caller); `None` if it is marked already.
    pub(super) fn mark_in(
        self: &Arc<Self>,
        index: &mut Index,
        block: BlockId,
    ) -> Option<BlockMark> {
        if index.writing.contains_key(&block) {
            return None;
        }
        let cancel = CancellationToken::new();
        let (ended, _) = watch::channel(());
        index.writing.insert(
            block,
            WriteMark {
                cancel: cancel.clone(),
                ended,
            },
        );
        Some(BlockMark {
            store: Arc::clone(self),
            block,
            cancel,
        })
    }

    /// Whether a write (or cut) of `block` is in progress.
    pub fn is_being_written(&self, block: BlockId) -> bool {
        self.lock().writing.contains_key(&block)
    }

    /// Takes the mark of `block`, first stopping whatever holds it and waiting (up to `wait`
    /// in all) for it to let go.
    pub async fn take_mark(
        self: &Arc<Self>,
        block: BlockId,
        wait: Duration,
    ) -> Result<BlockMark, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut ended = {
                let mut index = self.lock();
                match index.writing.get(&block) {
                    Some(mark) => {
                        mark.stop();
                        mark.ended.subscribe()
                    }
                    None => {
                        return self
                            .mark_in(&mut index, block)
                            .ok_or_else(|| Error::internal("mark vanished under the lock"));
                    }
                }
            };
            tracing::info!(%block, "stopping the write in progress");
            // Only ever closes: nothing is sent on it.
            let stopped = tokio::time::timeout_at(deadline, ended.changed()).await;
            if stopped.is_err() {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("the write of {block} in progress did not stop within {wait:?}"),
                ));
            }
        }
    }
}

impl BlockMark {
    pub fn block(&self) -> BlockId {
        self.block
    }

    /// Cancelled when a recovery asks the holder to stop.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub(super) fn store(&self) -> &Arc<BlockStore> {
        &self.store
    }

    /// Refuses to go on once a recovery asked to stop.
    pub(super) fn check_not_stopped(&self) -> Result<(), Error> {
        if self.cancel.is_cancelled() {
            return Err(stopped(self.block));
        }
        Ok(())
    }
}

/// The error of a write stopped by a recovery of its block.
pub fn stopped(block: BlockId) -> Error {
    Error::new(
        ErrorKind::RecoveryInProgress,
        format!("the write of {block} was stopped: the block is being recovered or was deleted"),
    )
}

impl Drop for BlockMark {
    fn drop(&mut self) {
        self.store.lock().writing.remove(&self.block);
    }
}
