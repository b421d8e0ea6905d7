//! One attempt from launch to outcome: its work directory, the map or reduce work, the upload
//! of its part file, the cleanup of its local files, and the outcome reported for it.
//!
//! A part file goes to `<output>/_temporary/<attempt>/`. The tracker creates
//! `<output>/_temporary` at submission and deletes it when the job ends, so an attempt that
//! finds it missing has lost (the job committed or failed without it) and must not write into
//! the finished output: it creates only its own directory, never missing parents.

use granary_client::protocol::{
    AttemptId, JobId, TaskAssignment, TaskCounters, TaskKind, TaskOutcome, TaskWork,
};
use granary_client::{ErrorKind, Granary, PutOptions};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::slowdown::Slowdown;
use super::{map, reduce, LocalBlocks};
use crate::error::TaskError;
use crate::task::{InputReader, TaskControl};

/// Longest error message sent to the tracker.
const MAX_ERROR_LEN: usize = 2000;

/// What every attempt on this executor shares.
pub(crate) struct AttemptContext {
    /// Reads input and writes part files, from this datanode's address.
    pub granary: Granary,
    /// Fetches map output from other datanodes' shuffle servers.
    pub shuffle: reqwest::Client,
    /// A shuffle fetch that receives nothing for this long fails (the datanode's
    /// `stall_timeout`).
    pub stall_timeout: Duration,
    pub blocks: Arc<dyn LocalBlocks>,
    pub work_dir: PathBuf,
    /// `task_slowdown`: the factor every attempt is slowed by.
    pub slowdown: f64,
}

/// A running attempt's controls: the task runtime's progress and kill flag, the token its
/// async parts wait on (a kill wakes them at once, nothing polls), and the `task_slowdown`
/// hook, which is off (`None`) unless the executor is slowed on purpose.
pub(crate) struct AttemptControl {
    pub task: Arc<TaskControl>,
    killed: CancellationToken,
    slowdown: Option<Arc<Slowdown>>,
}

impl AttemptControl {
    /// The controls of an attempt starting now on an executor slowed by `slowdown`.
    pub fn start(slowdown: f64) -> Arc<Self> {
        let slowdown = Slowdown::start(slowdown);
        Arc::new(AttemptControl {
            task: Arc::new(TaskControl::default()),
            killed: CancellationToken::new(),
            slowdown: slowdown.is_on().then_some(slowdown),
        })
    }

    /// Kills the attempt: the task runtime sees its flag at its next check, and every await
    /// in [`AttemptControl::unless_killed`] ends now.
    pub fn kill(&self) {
        self.task.cancel();
        self.killed.cancel();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.is_cancelled()
    }

    /// Runs `work` until it ends or the attempt is killed, whichever comes first.
    pub async fn unless_killed<T>(
        &self,
        work: impl Future<Output = Result<T, TaskError>>,
    ) -> Result<T, TaskError> {
        tokio::select! {
            result = work => result,
            () = self.killed.cancelled() => Err(TaskError::Cancelled),
        }
    }

    /// Whether the executor is slowed (`task_slowdown` above 1).
    pub fn is_slowed(&self) -> bool {
        self.slowdown.is_some()
    }

    /// The slowdown hook: pays the pause the attempt owes so far, if it is slowed.
    pub async fn pace(&self) -> Result<(), TaskError> {
        match &self.slowdown {
            Some(slowdown) => slowdown.pace(&self.killed).await,
            None => Ok(()),
        }
    }

    /// `input`, paced after every read when the attempt is slowed. Called in async code: a
    /// slowed reader waits for its pauses on this runtime.
    pub fn input(&self, input: InputReader) -> InputReader {
        match &self.slowdown {
            Some(slowdown) => {
                let handle = tokio::runtime::Handle::current();
                slowdown.reader(input, self.killed.clone(), handle)
            }
            None => input,
        }
    }
}

/// Runs an attempt to its end and says how it ended. Its local files are removed unless they
/// are map output for the shuffle.
pub(crate) async fn execute(
    ctx: &AttemptContext,
    assignment: Arc<TaskAssignment>,
    control: &Arc<AttemptControl>,
) -> TaskOutcome {
    let result = match attempt_dir(&ctx.work_dir, &assignment) {
        Ok(dir) => {
            let result = run(ctx, &assignment, &dir, control).await;
            if result.is_err() {
                remove_dir(dir).await;
            }
            result
        }
        Err(e) => Err(e),
    };
    outcome(result, control)
}

async fn run(
    ctx: &AttemptContext,
    assignment: &Arc<TaskAssignment>,
    dir: &Path,
    control: &Arc<AttemptControl>,
) -> Result<TaskCounters, TaskError> {
    let created = tokio::fs::create_dir_all(dir).await;
    created.map_err(|e| TaskError::io(format!("creating {}", dir.display()), e))?;
    match &assignment.work {
        TaskWork::Map { split } => map::run(ctx, assignment, split, dir, control).await,
        TaskWork::Reduce { map_outputs } => {
            reduce::run(ctx, assignment, map_outputs, dir, control).await
        }
    }
}

/// `<work_dir>/<job>/<attempt>`, from ids checked to be safe as path components.
fn attempt_dir(work_dir: &Path, assignment: &TaskAssignment) -> Result<PathBuf, TaskError> {
    let job = JobId::parse(&assignment.job.0).map_err(TaskError::Invalid)?;
    let attempt = AttemptId::parse(&assignment.attempt.0).map_err(TaskError::Invalid)?;
    Ok(work_dir.join(job.0).join(attempt.0))
}

/// A killed attempt is `killed` whatever error its interruption caused.
fn outcome(result: Result<TaskCounters, TaskError>, control: &AttemptControl) -> TaskOutcome {
    match result {
        Ok(counters) => TaskOutcome::Succeeded { counters },
        Err(_) if control.is_killed() => TaskOutcome::Failed {
            error: TaskError::Cancelled.to_string(),
        },
        Err(TaskError::FetchFailed {
            map,
            attempt,
            message,
            cause,
        }) => TaskOutcome::FetchFailed {
            map,
            attempt,
            error: one_line(&message),
            cause,
        },
        Err(e) => TaskOutcome::Failed {
            error: one_line(&e.to_string()),
        },
    }
}

/// An error message as one line of bounded length.
fn one_line(message: &str) -> String {
    let mut line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// Runs CPU and disk work on a blocking thread. A panic there is resumed here, so the
/// executor reports it like any other panic of the attempt.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, TaskError> + Send + 'static,
) -> Result<T, TaskError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(TaskError::Cancelled),
    }
}

/// Uploads the attempt's part file to `<output>/_temporary/<attempt>/part-{m,r}-NNNNN`, where
/// the tracker renames the winning attempt's into place. An attempt whose job is over ends as
/// killed, having written nothing.
pub(super) async fn upload_part(
    ctx: &AttemptContext,
    assignment: &TaskAssignment,
    local: &Path,
    control: &AttemptControl,
) -> Result<(), TaskError> {
    let kind = match assignment.task.kind {
        TaskKind::Map => 'm',
        TaskKind::Reduce => 'r',
    };
    let name = format!("part-{kind}-{:05}", assignment.task.index);
    let attempt_dir = assignment
        .output
        .join("_temporary")?
        .join(&assignment.attempt.0)?;
    let dst = attempt_dir.join(&name)?;
    let options = PutOptions {
        replication: assignment.output_replication,
        block_size: None,
        // Only this attempt writes this path, so replacing whatever is there is safe.
        overwrite: true,
        create_parents: false,
    };
    control.task.check()?;
    control
        .unless_killed(async {
            match ctx.granary.mkdir(&attempt_dir, false).await {
                Ok(_) => {}
                // Ours from an earlier try whose answer was lost: only this attempt uses the name.
                Err(e) if e.kind == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(unless_job_over(assignment, e)),
            }
            let put = ctx.granary.put_file(local, &dst, &options, None).await;
            put.map_err(|e| unless_job_over(assignment, e))?;
            Ok(())
        })
        .await
}

/// A namespace error of the upload; `not_found` means `_temporary` is gone with the job, and
/// the attempt ends as killed.
fn unless_job_over(assignment: &TaskAssignment, e: granary_client::Error) -> TaskError {
    if e.kind != ErrorKind::NotFound {
        return e.into();
    }
    let attempt = &assignment.attempt;
    tracing::info!(%attempt, "the job is over; the part file is not uploaded ({e})");
    TaskError::Cancelled
}

/// Removes an attempt's (or a job's) local files; a failure is only logged.
pub(super) async fn remove_dir(dir: PathBuf) {
    let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err((dir, e)),
        _ => Ok(()),
    })
    .await;
    if let Ok(Err((dir, e))) = removed {
        tracing::warn!("removing {}: {e}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use granary_client::protocol::FetchFailureCause;

    use super::*;

    #[test]
    fn errors_become_one_bounded_line() {
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        let long = "é".repeat(MAX_ERROR_LEN);
        let line = one_line(&long);
        assert!(line.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(line.ends_with('…'));
    }

    #[test]
    fn a_killed_attempt_reports_killed_whatever_failed() {
        let control = AttemptControl::start(1.0);
        control.kill();
        let fetch = TaskError::FetchFailed {
            map: 1,
            attempt: AttemptId("attempt_1_0001_m_000001_0".into()),
            message: "refused".into(),
            cause: FetchFailureCause::Unavailable,
        };
        let killed = TaskOutcome::Failed {
            error: "killed".into(),
        };
        assert_eq!(outcome(Err(fetch), &control), killed);
    }
}
