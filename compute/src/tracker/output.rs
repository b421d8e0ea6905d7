//! Performs the state's [`OutputWork`] against the namespace, in process through
//! [`TrackerNamespace`]. Each step is safe to repeat after a failure: a rename found already
//! done is success, a missing `_temporary` is already deleted, and `_SUCCESS` is overwritten.

use granary_client::{Error, ErrorKind, FsPath};

use super::namespace::TrackerNamespace;
use super::state::OutputWork;

pub async fn perform(ns: &dyn TrackerNamespace, work: &OutputWork) -> Result<(), Error> {
    match work {
        OutputWork::Commit { from, to, .. } => commit(ns, from, to).await,
        OutputWork::Finalize { output, owner, .. } => {
            finalize(ns, output).await?;
            match owner {
                Some(owner) => ns.give_output(output, owner).await,
                None => Ok(()),
            }
        }
        OutputWork::RemoveOutput { output, .. } => ns.delete(output, true).await,
    }
}

/// Renames a part file into place. A rename whose answer was lost (its request was cancelled
/// after the change was made) is repeated; finding the file already moved is success.
async fn commit(ns: &dyn TrackerNamespace, from: &FsPath, to: &FsPath) -> Result<(), Error> {
    fail::fail_point!("job::output_rename");
    let Err(e) = ns.rename(from, to).await else {
        return Ok(());
    };
    let moved = matches!(e.kind, ErrorKind::NotFound | ErrorKind::AlreadyExists)
        && ns.try_stat(from).await?.is_none()
        && ns.try_stat(to).await?.is_some();
    if moved {
        Ok(())
    } else {
        Err(e)
    }
}

/// Deletes the attempts' leftovers (the output is then given to its submitter), then marks the output complete: `_SUCCESS` comes last,
/// so a reader that sees it sees every part file and nothing else.
async fn finalize(ns: &dyn TrackerNamespace, output: &FsPath) -> Result<(), Error> {
    match ns.delete(&output.join("_temporary")?, true).await {
        Ok(()) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    ns.create_empty(&output.join("_SUCCESS")?).await
}
