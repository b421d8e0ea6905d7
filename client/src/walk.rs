//! `Walk`: every entry below a path (or only its children), one directory page at a time, directories before their
//! contents (preorder). The namenode lists one page of one directory per call, so a walk of any
//! tree holds its lock only briefly, and the walk itself holds at most one page per level of
//! the tree in memory.

use std::collections::VecDeque;

use crate::error::Result;
use crate::fs::Granary;
use crate::path::FsPath;
use crate::protocol::{FileKind, FileStatus};

/// One directory being listed: the entries of its current page not yet handed out, and
/// where its next page starts.
struct Level {
    dir: FsPath,
    page: VecDeque<FileStatus>,
    /// `None` once the last page was fetched.
    next: Option<Option<String>>,
}

pub struct Walk {
    fs: Granary,
    /// The path to start from, until the first call.
    start: Option<FsPath>,
    levels: Vec<Level>,
    /// Into subdirectories (`false`: the starting directory's children only).
    descend: bool,
}

impl Walk {
    pub(crate) fn new(fs: Granary, path: FsPath) -> Self {
        Walk {
            fs,
            start: Some(path),
            levels: Vec::new(),
            descend: true,
        }
    }

    /// Only the starting directory's children, not what is below them.
    pub fn children_only(mut self) -> Self {
        self.descend = false;
        self
    }

    /// The next entry, or `None` when the walk is done. The entry at the starting path is
    /// not returned when it is a directory (its contents are); a file is returned itself.
    pub async fn next(&mut self) -> Result<Option<FileStatus>> {
        if let Some(start) = self.start.take() {
            let status = self.fs.stat(&start).await?;
            match status.kind {
                FileKind::File => return Ok(Some(status)),
                FileKind::Directory => self.levels.push(Level::new(start)),
            }
        }
        loop {
            let Some(level) = self.levels.last_mut() else {
                return Ok(None);
            };
            if let Some(entry) = level.page.pop_front() {
                if self.descend && entry.kind == FileKind::Directory {
                    self.levels.push(Level::new(entry.path.clone()));
                }
                return Ok(Some(entry));
            }
            let Some(cursor) = level.next.take() else {
                self.levels.pop();
                continue;
            };
            let page = self.fs.list_page(&level.dir, cursor.as_deref(), None).await;
            let page = match page {
                Ok(page) => page,
                // Deleted while we walked: nothing left in it to visit.
                Err(e) if e.kind == crate::ErrorKind::NotFound => {
                    self.levels.pop();
                    continue;
                }
                Err(e) => return Err(e),
            };
            level.page = page.entries.into();
            level.next = page.next_start_after.map(Some);
        }
    }
}

impl Level {
    fn new(dir: FsPath) -> Self {
        Level {
            dir,
            page: VecDeque::new(),
            next: Some(None),
        }
    }
}
