//! The threads task attempts run on: a runtime of their own, sized to the executor's slots, so
//! a heavy map (CPU, disk, its remote input and uploads) cannot take the datanode's main
//! runtime away from heartbeats, the lifeline and client reads.

use granary_client::Error;
use tokio::runtime::{Builder, Handle, Runtime};

/// Blocking threads per slot: an attempt's task runtime holds one for its whole run, and its
/// local file work (directories, the upload's frames) briefly needs another.
const BLOCKING_THREADS_PER_SLOT: usize = 2;

/// A dedicated runtime, shut down without waiting when dropped (its attempts are killed and
/// reported before that, by the executor's shutdown).
pub(crate) struct TaskPool {
    /// `None` only once dropped.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl TaskPool {
    pub fn new(slots: u32) -> Result<Self, Error> {
        let slots = usize::try_from(slots.max(1)).unwrap_or(usize::MAX);
        let runtime = Builder::new_multi_thread()
            .worker_threads(slots)
            .max_blocking_threads(slots.saturating_mul(BLOCKING_THREADS_PER_SLOT))
            .thread_name("granary-task")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("starting the task pool: {e}")))?;
        Ok(TaskPool {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Drop for TaskPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks for its blocking threads, which an async context (where
        // the executor ends) must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_run_on_the_pool_threads_not_the_callers() {
        let pool = TaskPool::new(2).unwrap();
        let names = pool
            .handle()
            .spawn(async {
                let worker = std::thread::current().name().map(str::to_string);
                let blocking = tokio::task::spawn_blocking(|| {
                    std::thread::current().name().map(str::to_string)
                })
                .await
                .unwrap();
                (worker, blocking)
            })
            .await
            .unwrap();
        assert_eq!(
            names,
            (Some("granary-task".into()), Some("granary-task".into()))
        );
        drop(pool);
    }
}
