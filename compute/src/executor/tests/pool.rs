//! Attempts run on the executor's task pool, not on the runtime that started the executor.

use std::sync::Mutex;

use super::*;

/// The name the task pool gives its threads (`pool::TaskPool::new`).
const POOL_THREAD: &str = "granary-task";

/// Holds the input file's one block, like [`InputBlock`], and records the name of each thread
/// it is opened on.
#[derive(Default)]
struct RecordingBlock {
    threads: Mutex<Vec<Option<String>>>,
}

impl LocalBlocks for RecordingBlock {
    fn open(&self, block: BlockId, offset: u64, len: u64) -> Option<io::Result<InputReader>> {
        let name = std::thread::current().name().map(str::to_string);
        self.threads.lock().unwrap().push(name);
        InputBlock.open(block, offset, len)
    }
}

#[tokio::test]
async fn a_map_attempt_reads_its_input_on_a_task_pool_thread() {
    let (url, tracker) = start_tracker().await;
    let work_dir = tempfile::tempdir().unwrap();
    let map = assignment(
        TaskKind::Map,
        0,
        TaskWork::Map {
            split: input_split(),
        },
    );
    let attempt = map.attempt.clone();
    tracker.active_jobs.lock().unwrap().push(map.job.clone());
    tracker.launch.lock().unwrap().push(map);
    let blocks = Arc::new(RecordingBlock::default());
    let executor = TestExecutor::start_with(&url, work_dir.path(), blocks.clone()).await;
    let outcome = reported_outcome(&tracker, &attempt).await;
    assert!(
        matches!(outcome, TaskOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let threads = blocks.threads.lock().unwrap().clone();
    assert!(!threads.is_empty(), "the map never opened its local block");
    assert!(
        threads.iter().all(|t| t.as_deref() == Some(POOL_THREAD)),
        "the attempt ran off the task pool: {threads:?}"
    );
    executor.stop().await;
}
