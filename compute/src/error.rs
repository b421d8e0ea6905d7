//! Why a task attempt failed. The message goes to the tracker in the attempt's report, and from
//! there into `job status` when attempts run out.

use granary_client::protocol::{AttemptId, FetchFailureCause};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A streaming command could not start or exited non-zero.
    #[error("command `{command}` {status}{}", stderr_suffix(.stderr_tail))]
    Command {
        command: String,
        status: String,
        stderr_tail: String,
    },
    /// A reducer could not fetch one map's output; the tracker re-runs that map.
    #[error("fetching the output of map {map} ({attempt}): {message}")]
    FetchFailed {
        map: u32,
        attempt: AttemptId,
        message: String,
        cause: FetchFailureCause,
    },
    #[error("invalid task: {0}")]
    Invalid(String),
    #[error("killed")]
    Cancelled,
    #[error(transparent)]
    Fs(#[from] granary_client::Error),
}

impl TaskError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TaskError::Io {
            context: context.into(),
            source,
        }
    }
}

fn stderr_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {tail}")
    }
}
