//! SIGINT (Ctrl-C) and SIGTERM during a transfer: the command stops it, undoes what it left
//! half done and exits 130, as shells report an interrupted command.

use std::future::Future;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

/// The most the clean-up after an interrupt may take: a namenode that cannot be reached must
/// not keep an interrupted command running for its whole retry window.
pub const CLEANUP_LIMIT: Duration = Duration::from_secs(10);

/// A command stopped by a signal; `main` prints it and exits 130.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// Runs `op` until it ends, or until SIGINT or SIGTERM arrives: `None` then, and `op` has been
/// dropped (the library's writers and readers stop cleanly when dropped). The handlers stay
/// installed, so a second Ctrl-C does not cut the caller's clean-up short.
pub async fn until_signal<F: Future>(op: F) -> anyhow::Result<Option<F::Output>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        out = op => Ok(Some(out)),
        _ = interrupt.recv() => Ok(None),
        _ = terminate.recv() => Ok(None),
    }
}
