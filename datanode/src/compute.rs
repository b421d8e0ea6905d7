//! The datanode's part in compute: the task executor runs here, reading map input straight
//! from this node's block store, and the shuffle server serves map output from
//! `<data_dir>/jobs`.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use granary_client::protocol::DatanodeInfo;
use granary_client::{BlockId, Error};
use granary_compute::executor::{self, ExecutorConfig, LocalBlocks};
use granary_compute::task::InputReader;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::DatanodeConfig;
use crate::state::AppState;
use crate::store::VerifiedRead;

/// The attempts' local files: `<data_dir>/jobs/<job>/<attempt>/`. The block store's start-up
/// scan looks only at `current/` and `tmp/`, so it never sees these.
pub fn jobs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("jobs")
}

/// Empties the jobs directory. Map output left by an earlier process is not trusted: the
/// tracker re-runs the maps of a datanode that went away.
pub fn reset_jobs_dir(data_dir: &Path) -> io::Result<()> {
    let dir = jobs_dir(data_dir);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&dir)
}

/// Starts the executor for the node `info`; it stops when `shutdown` is cancelled.
pub fn spawn_executor(
    state: &Arc<AppState>,
    info: &DatanodeInfo,
    config: &DatanodeConfig,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    let executor_config = ExecutorConfig {
        namenode: config.namenode.clone(),
        datanode: info.id.clone(),
        addr: info.addr,
        rack: info.rack.clone(),
        slots: config.task_slots,
        poll_interval: config.task_poll_interval,
        work_dir: jobs_dir(state.store.data_dir()),
        task_slowdown: config.task_slowdown,
        stall_timeout: config.stall_timeout,
    };
    let blocks = Arc::new(StoreBlocks(Arc::clone(state)));
    executor::spawn(executor_config, blocks, shutdown)
}

/// The block store as the source of local map input.
pub struct StoreBlocks(pub Arc<AppState>);

impl LocalBlocks for StoreBlocks {
    fn open(&self, block: BlockId, offset: u64, len: u64) -> Option<io::Result<InputReader>> {
        let store = &self.0.store;
        // A replica known to be corrupt is as good as absent: read the block elsewhere.
        if !store.contains(block) || store.is_corrupt(block) {
            return None;
        }
        Some(match store.open_verified(block, offset, len) {
            Ok(read) => Ok(Box::new(CorruptionWatch {
                read,
                state: Arc::clone(&self.0),
                block,
            })),
            Err(e) => Err(io::Error::other(e)),
        })
    }
}

/// A local read that marks the replica corrupt when a chunk fails verification, as a client's
/// read through the block server would, so it is reported and replaced.
struct CorruptionWatch {
    read: VerifiedRead,
    state: Arc<AppState>,
    block: BlockId,
}

impl Read for CorruptionWatch {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.read(buf).inspect_err(|e| {
            let cause = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>());
            if let Some(error) = cause {
                self.state.note_corruption(self.block, error);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{data, start_node, test_state, wire_error, write_replica};

    #[test]
    fn local_blocks_are_read_verified_and_absent_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = test_state(&dir);
        let bytes = data(200_000, 3);
        write_replica(&state.store, 5, &bytes);
        let blocks = StoreBlocks(Arc::clone(&state));
        let mut out = Vec::new();
        blocks
            .open(BlockId(5), 70_000, 100_000)
            .unwrap()
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, bytes[70_000..170_000]);
        assert!(blocks.open(BlockId(6), 0, 10).is_none());
        state.mark_corrupt(BlockId(5), "test");
        assert!(blocks.open(BlockId(5), 0, 10).is_none());
    }

    #[test]
    fn the_jobs_directory_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let stale = jobs_dir(dir.path())
            .join("job_1_0001")
            .join("attempt_1_0001_m_000000_0");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("map.out"), b"old").unwrap();
        reset_jobs_dir(dir.path()).unwrap();
        assert!(jobs_dir(dir.path()).is_dir());
        assert_eq!(std::fs::read_dir(jobs_dir(dir.path())).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_shuffle_is_served_next_to_the_blocks() {
        let node = start_node().await;
        assert!(jobs_dir(node.store.data_dir()).is_dir());
        let base = format!("http://{}/v1/shuffle/job_1_0001", node.info.addr);
        let client = crate::test_support::client();
        let bad_id = client.get(format!("{base}/bad/0")).send().await.unwrap();
        assert_eq!(wire_error(bad_id).await.0, 400);
        let unknown = client
            .get(format!("{base}/attempt_1_0001_m_000000_0/0"))
            .send()
            .await
            .unwrap();
        assert_eq!(wire_error(unknown).await.0, 404);
    }
}
