//! A job's inputs as a list of files: paths, directories (their files, recursively) and globs.
//! Globs expand as the CLI's do, through [`granary_client::glob`] (which also says which names
//! are hidden); here a directory's hidden names are skipped too, as Hadoop's input formats skip
//! `_SUCCESS`, `_temporary` and dot files.

use std::collections::HashSet;

use futures_util::future::BoxFuture;
use granary_client::glob::{self, is_hidden, list_all, Listing};
use granary_client::protocol::{FileKind, FileStatus, ListResponse};
use granary_client::{Error, ErrorKind, FsPath};

use crate::tracker::namespace::{TrackerNamespace, LIST_PAGE};

impl Listing for dyn TrackerNamespace {
    fn try_stat<'a>(
        &'a self,
        path: &'a FsPath,
    ) -> BoxFuture<'a, Result<Option<FileStatus>, Error>> {
        TrackerNamespace::try_stat(self, path)
    }

    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListResponse, Error>> {
        Box::pin(async move {
            let page = TrackerNamespace::list_page(self, dir, start_after, LIST_PAGE).await?;
            Ok(ListResponse {
                entries: page.entries,
                next_start_after: page.next_start_after,
            })
        })
    }
}

/// The files of `inputs`, each once, in the order the inputs name them (sorted by path within
/// a directory or a glob). A path that does not exist, or a glob that matches nothing, is an
/// error.
pub async fn expand(
    ns: &dyn TrackerNamespace,
    inputs: &[String],
) -> Result<Vec<FileStatus>, Error> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for input in inputs {
        let matches = glob::expand(ns, input).await?;
        if matches.is_empty() {
            return Err(Error::not_found(format!(
                "input path does not exist: {input}"
            )));
        }
        for entry in matches {
            for file in files_under(ns, entry).await? {
                if seen.insert(file.path.clone()) {
                    files.push(file);
                }
            }
        }
    }
    Ok(files)
}

/// A file itself, or a directory's files at any depth outside hidden names, sorted by path.
/// A directory deleted since it was matched contributes nothing.
async fn files_under(
    ns: &dyn TrackerNamespace,
    entry: FileStatus,
) -> Result<Vec<FileStatus>, Error> {
    if entry.kind == FileKind::File {
        return Ok(vec![entry]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![entry.path];
    while let Some(dir) = dirs.pop() {
        let visible = |e: &FileStatus| !is_hidden(e.path.file_name().unwrap_or_default());
        let entries = match list_all(ns, &dir, visible).await {
            Ok(entries) => entries,
            Err(e) if e.kind == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            match entry.kind {
                FileKind::File => files.push(entry),
                FileKind::Directory => dirs.push(entry.path),
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
