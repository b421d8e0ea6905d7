//! Path globs, as `hdfs dfs` and Hadoop's input formats read them: `*`, `?` and `[...]`
//! within one component, matched level by level from the root against paged directory
//! listings. Names starting with `_` or `.` (`_SUCCESS`, `_temporary`, hidden files) are
//! skipped unless the component asks for them by its first character (`_*`, `.*`). As in
//! Hadoop, a backslash makes the character after it literal (`x\[1\].txt` names the file
//! `x[1].txt`); a path with no unescaped `*`, `?` or `[` is a plain path, its escapes removed.
//!
//! The `granary` CLI and the job tracker both expand through [`expand`], each over its own
//! [`Listing`] of the namespace.

use futures_util::future::BoxFuture;

use crate::error::{Error, Result};
use crate::fs::Granary;
use crate::path::FsPath;
use crate::protocol::{FileKind, FileStatus, ListResponse};

/// What a glob expansion reads of the namespace.
pub trait Listing: Sync {
    /// The status of `path`; `None` if nothing is there.
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> BoxFuture<'a, Result<Option<FileStatus>>>;

    /// One page of directory `dir`'s entries in name order, after the child named
    /// `start_after` (from the start when `None`).
    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListResponse>>;
}

impl Listing for Granary {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> BoxFuture<'a, Result<Option<FileStatus>>> {
        Box::pin(Granary::try_stat(self, path))
    }

    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListResponse>> {
        Box::pin(Granary::list_page(self, dir, start_after, None))
    }
}

/// The characters a backslash makes literal: the wildcards, `]` and the backslash itself.
const ESCAPABLE: &str = "*?[]\\";

/// Whether `raw` is a pattern rather than a plain path: it has a `*`, `?` or `[` that no
/// backslash escapes.
pub fn is_glob(raw: &str) -> bool {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// `raw` with its escapes removed (`\[` is `[`); a backslash before any other character
/// stays, so names with backslashes keep working as plain paths.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && ESCAPABLE.contains(next) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The `glob` crate's spelling of a component with backslash escapes: an escaped character
/// outside a `[...]` class becomes a class of that one character (`\*` is `[*]`).
fn glob_syntax(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    let mut chars = component.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if !in_class && chars.peek().is_some_and(|n| ESCAPABLE.contains(*n)) => {
                if let Some(escaped) = chars.next() {
                    out.extend(['[', escaped, ']']);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` (or `!]`) first in a class is a member, not its end.
                if chars.peek() == Some(&'!') {
                    out.extend(chars.next());
                }
                if chars.peek() == Some(&']') {
                    out.extend(chars.next());
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Names a wildcard (and a job's input listing) leaves out.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// One component of a glob, such as `part-*`.
pub struct ComponentPattern {
    pattern: glob::Pattern,
    asks_for_hidden: bool,
}

impl ComponentPattern {
    /// `component` of the glob `input` (named in the error when the pattern is malformed).
    pub fn new(component: &str, input: &str) -> Result<Self> {
        let pattern = glob::Pattern::new(&glob_syntax(component))
            .map_err(|e| Error::invalid_argument(format!("invalid glob {input}: {}", e.msg)))?;
        Ok(ComponentPattern {
            pattern,
            asks_for_hidden: is_hidden(component),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.pattern.matches(name) && (self.asks_for_hidden || !is_hidden(name))
    }
}

/// The entries `input` names, sorted by path: the entry at a plain path (none if missing), or
/// every entry a glob matches (none if it matches nothing). Only the last component may match
/// files; the ones before it match directories.
pub async fn expand<L: Listing + ?Sized>(ns: &L, input: &str) -> Result<Vec<FileStatus>> {
    if !is_glob(input) {
        let path = FsPath::parse(&unescape(input))?;
        return Ok(ns.try_stat(&path).await?.into_iter().collect());
    }
    let path = FsPath::parse(input)?;
    let components: Vec<&str> = path.components().collect();
    let mut current: Vec<FileStatus> = ns.try_stat(&FsPath::root()).await?.into_iter().collect();
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        let dirs = current.iter().filter(|e| e.kind == FileKind::Directory);
        if is_glob(component) {
            let pattern = ComponentPattern::new(component, input)?;
            for dir in dirs {
                let matching = |entry: &FileStatus| {
                    pattern.matches(entry.path.file_name().unwrap_or_default())
                        && (last || entry.kind == FileKind::Directory)
                };
                next.extend(list_all(ns, &dir.path, matching).await?);
            }
        } else {
            for dir in dirs {
                if let Some(entry) = ns.try_stat(&dir.path.join(&unescape(component))?).await? {
                    next.push(entry);
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(current)
}

/// The entries of directory `dir` that `keep` accepts, listed page by page, so no listing
/// answer is larger than a page.
pub async fn list_all<L: Listing + ?Sized>(
    ns: &L,
    dir: &FsPath,
    keep: impl Fn(&FileStatus) -> bool,
) -> Result<Vec<FileStatus>> {
    let mut kept = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ns.list_page(dir, cursor.as_deref()).await?;
        kept.extend(page.entries.into_iter().filter(|e| keep(e)));
        match page.next_start_after {
            Some(next) => cursor = Some(next),
            None => return Ok(kept),
        }
    }
}

#[cfg(test)]
#[path = "glob_tests.rs"]
mod tests;
