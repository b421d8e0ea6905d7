//! `fs find`: the paths below each argument whose name matches a glob (`-name`, `-iname`) and
//! whose type is asked for (`-type f|d`), as `hdfs dfs -find` prints them: one a line, each
//! as soon as the walk reaches it, so memory stays one listing page per directory level.

use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;
use glob::{MatchOptions, Pattern};
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::Granary;

use super::paths;
use crate::output::JsonArray;

/// `-type`: which kind of entry to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EntryType {
    /// Files.
    F,
    /// Directories.
    D,
}

/// What an entry must be to be printed.
pub struct Filter {
    name: Option<Pattern>,
    options: MatchOptions,
    kind: Option<FileKind>,
}

impl Filter {
    /// A filter on the name (`name`, or `iname` ignoring case) and the type; a bad glob is
    /// refused here, before anything is walked.
    pub fn new(
        name: Option<&str>,
        iname: Option<&str>,
        kind: Option<EntryType>,
    ) -> anyhow::Result<Self> {
        let glob = name.or(iname);
        let name = glob
            .map(|g| Pattern::new(g).with_context(|| format!("bad -name pattern {g:?}")))
            .transpose()?;
        Ok(Filter {
            name,
            options: MatchOptions {
                case_sensitive: iname.is_none(),
                // A name has no separators; `*` matches a leading dot as in Hadoop.
                require_literal_separator: false,
                require_literal_leading_dot: false,
            },
            kind: kind.map(|k| match k {
                EntryType::F => FileKind::File,
                EntryType::D => FileKind::Directory,
            }),
        })
    }

    fn matches(&self, entry: &FileStatus) -> bool {
        let kind_ok = self.kind.is_none_or(|k| k == entry.kind);
        // The root's name is empty, as Hadoop's `Path.getName` of `/`.
        let name = entry.path.file_name().unwrap_or_default();
        let name_ok = self
            .name
            .as_ref()
            .is_none_or(|p| p.matches_with(name, self.options));
        kind_ok && name_ok
    }
}

/// `fs find`: each argument itself, then everything below it, parents first.
pub async fn find(fs: &Granary, raw: &[String], filter: &Filter, json: bool) -> anyhow::Result<()> {
    let starts = paths::expand(fs, raw).await?;
    let mut out = Printer::new(json)?;
    for start in &starts {
        let status = fs.stat(start).await?;
        let mut walk = fs.walk(start);
        if status.kind == FileKind::Directory {
            // The walk hands out a directory's contents, not the directory itself.
            out.print_if(filter, &status)?;
        }
        while let Some(entry) = walk.next().await? {
            out.print_if(filter, &entry)?;
        }
    }
    out.finish()
}

/// Lines or a streamed JSON array of statuses.
enum Printer {
    Lines(std::io::BufWriter<std::io::StdoutLock<'static>>),
    Json(JsonArray<std::io::BufWriter<std::io::StdoutLock<'static>>>),
}

impl Printer {
    fn new(json: bool) -> anyhow::Result<Self> {
        let out = std::io::BufWriter::new(std::io::stdout().lock());
        Ok(match json {
            true => Printer::Json(JsonArray::start(out)?),
            false => Printer::Lines(out),
        })
    }

    fn print_if(&mut self, filter: &Filter, entry: &FileStatus) -> anyhow::Result<()> {
        if !filter.matches(entry) {
            return Ok(());
        }
        match self {
            Printer::Lines(out) => writeln!(out, "{}", entry.path)?,
            Printer::Json(array) => array.push(entry)?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Printer::Lines(mut out) => out.flush()?,
            Printer::Json(array) => drop(array.finish()?),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use granary_client::FsPath;

    fn entry(path: &str, kind: FileKind) -> FileStatus {
        FileStatus {
            path: FsPath::parse(path).unwrap(),
            kind,
            length: 0,
            replication: 0,
            block_size: 0,
            modified_ms: 0,
            lease_holder: None,
            attrs: Default::default(),
        }
    }

    #[test]
    fn names_match_globs_with_or_without_case_and_types_filter() {
        let log = entry("/a/App.LOG", FileKind::File);
        let dir = entry("/a/logs", FileKind::Directory);
        let name = Filter::new(Some("*.log"), None, None).unwrap();
        assert!(!name.matches(&log), "-name is case-sensitive");
        let iname = Filter::new(None, Some("*.log"), None).unwrap();
        assert!(iname.matches(&log));
        let dirs = Filter::new(Some("log?"), None, Some(EntryType::D)).unwrap();
        assert!(dirs.matches(&dir));
        assert!(!Filter::new(None, None, Some(EntryType::F))
            .unwrap()
            .matches(&dir));
        assert!(Filter::new(Some("*"), None, None)
            .unwrap()
            .matches(&entry("/.hidden", FileKind::File)));
        assert!(Filter::new(Some("[a-"), None, None).is_err(), "a bad glob");
    }
}
