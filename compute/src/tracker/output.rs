//! Performs the state's [`OutputWork`] against the namespace, as a client of the namenode.
//! Each step is safe to repeat after a failure: renames and deletes carry request ids, a
//! missing `_temporary` is already deleted, and `_SUCCESS` is overwritten.

use granary_client::{Error, ErrorKind, FsPath, Granary, PutOptions};

use super::state::OutputWork;

pub async fn perform(fs: &Granary, work: &OutputWork) -> Result<(), Error> {
    match work {
        OutputWork::Commit { from, to, .. } => commit(fs, from, to).await,
        OutputWork::Finalize { output, .. } => finalize(fs, output).await,
        OutputWork::RemoveOutput { output, .. } => fs.delete(output, true).await.map(drop),
    }
}

/// Renames a part file into place. A rename whose answer was lost (the request was cancelled)
/// is repeated with a new request id; finding the file already moved is success.
async fn commit(fs: &Granary, from: &FsPath, to: &FsPath) -> Result<(), Error> {
    fail::fail_point!("job::output_rename");
    let Err(e) = fs.rename(from, to).await else {
        return Ok(());
    };
    let moved = matches!(e.kind, ErrorKind::NotFound | ErrorKind::AlreadyExists)
        && fs.try_stat(from).await?.is_none()
        && fs.try_stat(to).await?.is_some();
    if moved {
        Ok(())
    } else {
        Err(e)
    }
}

/// Deletes the attempts' leftovers, then marks the output complete: `_SUCCESS` comes last,
/// so a reader that sees it sees every part file and nothing else.
async fn finalize(fs: &Granary, output: &FsPath) -> Result<(), Error> {
    match fs.delete(&output.join("_temporary")?, true).await {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let options = PutOptions {
        overwrite: true,
        ..PutOptions::default()
    };
    fs.put_bytes(b"", &output.join("_SUCCESS")?, &options)
        .await
        .map(drop)
}
