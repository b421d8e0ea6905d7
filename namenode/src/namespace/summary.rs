//! Content summaries (HDFS's `getContentSummary`): the totals of everything at or below a
//! path, counted in resumable steps so a huge subtree never holds the namesystem lock long.
//!
//! Each [`SummaryWalk::step`] looks at about `budget` entries under one hold of the lock and
//! then lets go (as HDFS yields its lock every `dfs.content-summary.limit` entries). The walk
//! keeps one cursor per directory level, by inode id and child name, so it needs memory for
//! the depth of the tree only. Entries changed between steps are counted as they are when
//! reached; a directory removed meanwhile is skipped with what is left of it.

use std::ops::Bound;

use granary_client::protocol::ContentSummary;
use granary_client::{Error, FsPath, InodeId};

use super::{InodeKind, Namespace};

/// One directory being counted: where in its children the walk is.
struct Level {
    dir: InodeId,
    /// The last child counted; `None` before the first.
    after: Option<String>,
}

pub struct SummaryWalk {
    summary: ContentSummary,
    /// Until the first step: the path asked about.
    start: Option<FsPath>,
    levels: Vec<Level>,
}

impl SummaryWalk {
    pub fn new(path: &FsPath) -> Self {
        SummaryWalk {
            summary: ContentSummary::EMPTY,
            start: Some(path.clone()),
            levels: Vec::new(),
        }
    }

    /// Counts on until about `budget` entries were looked at; `true` once everything is.
    /// The first step fails when nothing is at the path.
    pub fn step(&mut self, ns: &Namespace, budget: usize) -> Result<bool, Error> {
        if let Some(start) = self.start.take() {
            let top = ns.inode_at(&start)?;
            self.count(top.id, &top.kind);
        }
        let mut budget = budget.max(1);
        while budget > 0 {
            let Some(level) = self.levels.last_mut() else {
                return Ok(true);
            };
            let next = ns.children.get(&level.dir).and_then(|children| {
                let from = match &level.after {
                    Some(name) => Bound::Excluded(name.as_str()),
                    None => Bound::Unbounded,
                };
                children
                    .range::<str, _>((from, Bound::Unbounded))
                    .next()
                    .map(|(name, id)| (name.clone(), *id))
            });
            // Done with this directory, or it is gone since the last step.
            let Some((name, id)) = next else {
                self.levels.pop();
                continue;
            };
            level.after = Some(name);
            budget -= 1;
            if let Some(inode) = ns.inodes.get(&id) {
                self.count(id, &inode.kind);
            }
        }
        Ok(self.levels.is_empty())
    }

    pub fn finish(self) -> ContentSummary {
        self.summary
    }

    fn count(&mut self, id: InodeId, kind: &InodeKind) {
        match kind {
            InodeKind::Dir => {
                self.summary.add_directory();
                self.levels.push(Level {
                    dir: id,
                    after: None,
                });
            }
            InodeKind::File(f) => self.summary.add_file(f.length, f.replication),
        }
    }
}

impl Namespace {
    /// The totals at or below `path` in one go (for tests and small trees; the namesystem
    /// steps a [`SummaryWalk`] itself to let go of its lock in between).
    pub fn content_summary(&self, path: &FsPath) -> Result<ContentSummary, Error> {
        let mut walk = SummaryWalk::new(path);
        while !walk.step(self, usize::MAX)? {}
        Ok(walk.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::{Changes, FileParams};

    fn p(s: &str) -> FsPath {
        FsPath::parse(s).unwrap()
    }

    fn mkdir(ns: &mut Namespace, path: &str) {
        ns.mkdir(&p(path), true, 1, &mut Changes::default())
            .unwrap();
    }

    /// A complete file that claims `length` bytes (no blocks: the walk reads lengths only).
    fn file(ns: &mut Namespace, path: &str, length: u64, replication: u16) {
        let params = FileParams {
            replication,
            block_size: 1 << 20,
            complete: true,
        };
        let holder = "test-writer".parse().unwrap();
        let id = ns
            .create(
                &p(path),
                params,
                &holder,
                false,
                true,
                1,
                &mut Changes::default(),
            )
            .unwrap();
        if let Some(f) = ns.inodes.get_mut(&id).and_then(|i| i.file_mut()) {
            f.length = length;
        }
    }

    fn delete(ns: &mut Namespace, path: &str) {
        ns.delete(&p(path), true, 1, &mut Changes::default())
            .unwrap();
    }

    #[test]
    fn counts_every_directory_and_file_below_a_path_in_small_steps() {
        let mut ns = Namespace::new(0);
        mkdir(&mut ns, "/a/b/c");
        mkdir(&mut ns, "/a/e");
        file(&mut ns, "/a/f1", 100, 3);
        file(&mut ns, "/a/b/f2", 10, 1);
        file(&mut ns, "/a/b/c/f3", 0, 2);
        file(&mut ns, "/other", 1000, 1);
        let whole = ns.content_summary(&p("/a")).unwrap();
        assert_eq!(
            (
                whole.directory_count,
                whole.file_count,
                whole.length,
                whole.space_consumed
            ),
            (4, 3, 110, 310)
        );
        assert_eq!((whole.quota, whole.space_quota), (-1, -1));
        // One entry a step: the same totals, in as many steps as there are entries.
        let mut walk = SummaryWalk::new(&p("/a"));
        let mut steps = 1;
        while !walk.step(&ns, 1).unwrap() {
            steps += 1;
            assert!(steps < 100);
        }
        assert_eq!(walk.finish(), whole);
        assert!(steps >= 6, "{steps} steps");
        let root = ns.content_summary(&p("/")).unwrap();
        assert_eq!((root.directory_count, root.file_count), (5, 4));
    }

    #[test]
    fn a_file_is_its_own_summary_and_a_missing_path_fails() {
        let mut ns = Namespace::new(0);
        file(&mut ns, "/f", 7, 3);
        let s = ns.content_summary(&p("/f")).unwrap();
        assert_eq!(
            (s.directory_count, s.file_count, s.length, s.space_consumed),
            (0, 1, 7, 21)
        );
        assert!(ns.content_summary(&p("/nope")).is_err());
    }

    #[test]
    fn a_directory_removed_between_steps_is_skipped() {
        let mut ns = Namespace::new(0);
        mkdir(&mut ns, "/a/b");
        for i in 0..5 {
            file(&mut ns, &format!("/a/b/f{i}"), 1, 1);
        }
        file(&mut ns, "/a/z", 1, 1);
        let mut walk = SummaryWalk::new(&p("/a"));
        assert!(!walk.step(&ns, 2).unwrap());
        delete(&mut ns, "/a/b");
        while !walk.step(&ns, 2).unwrap() {}
        let s = walk.finish();
        assert_eq!(s.directory_count, 2);
        assert!(s.file_count >= 1 && s.file_count < 6, "{s:?}");
    }
}
