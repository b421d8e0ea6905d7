//! `admin fsck`: every block of every complete file at or below a path, checked against the
//! block map. Lists are capped at [`MAX_LISTED`] entries each (the counts and the status stay
//! exact), so fsck of a huge tree cannot produce an answer of unbounded size.
//!
//! The walk is resumable: each [`Fsck::step`] runs under one hold of the namesystem lock and
//! looks at about `budget` entries and blocks, then lets go, so fsck of a large tree never
//! holds the lock for long (HDFS's fsck likewise walks through `getListing` pages). Entries
//! changed between steps are seen as they are when reached; entries removed are skipped.

use std::collections::VecDeque;

use granary_client::protocol::{BlockHealth, FileKind, FileStatus, FsckReport, HealthStatus};
use granary_client::{Error, ErrorKind, FsPath};

use crate::namespace::FileInode;
use crate::namesystem::State;
use crate::replication::{count, Health, ReplicaCounts};

/// Blocks listed per category.
pub const MAX_LISTED: usize = 10_000;

/// A directory being walked: the entries of its current page not yet checked, and where its
/// next page starts (`None` once the last page was read).
struct Level {
    dir: FsPath,
    page: VecDeque<FileStatus>,
    next: Option<Option<String>>,
}

pub(crate) struct Fsck {
    report: FsckReport,
    damaged: u64,
    /// Until the first step: the path asked about.
    start: Option<FsPath>,
    levels: Vec<Level>,
}

impl Fsck {
    pub fn new(path: &FsPath) -> Self {
        Fsck {
            report: FsckReport {
                open_files: Vec::new(),
                path: path.clone(),
                status: HealthStatus::Healthy,
                files: 0,
                directories: 0,
                blocks: 0,
                bytes: 0,
                under_replicated: Vec::new(),
                over_replicated: Vec::new(),
                missing: Vec::new(),
                corrupt: Vec::new(),
            },
            damaged: 0,
            start: Some(path.clone()),
            levels: Vec::new(),
        }
    }

    /// Walks on, parents before children and siblings in name order, until about `budget`
    /// entries and blocks were looked at; `true` once the walk is complete.
    pub fn step(&mut self, state: &State, budget: usize) -> Result<bool, Error> {
        let mut budget = budget.max(1);
        if let Some(start) = self.start.take() {
            let top = state.ns.lookup_visible(&start)?;
            match top.file() {
                Some(file) => {
                    self.check_file(state, &start, file);
                    return Ok(true);
                }
                None => {
                    self.report.directories += 1;
                    self.levels.push(Level::new(start));
                }
            }
        }
        while budget > 0 {
            let Some(level) = self.levels.last_mut() else {
                return Ok(true);
            };
            if let Some(entry) = level.page.pop_front() {
                budget -= 1;
                match entry.kind {
                    FileKind::Directory => {
                        self.report.directories += 1;
                        self.levels.push(Level::new(entry.path));
                    }
                    FileKind::File => {
                        // Gone or replaced since its page was read: nothing to check.
                        let current = state.ns.lookup_visible(&entry.path).ok();
                        if let Some(file) = current.and_then(|inode| inode.file()) {
                            budget = budget.saturating_sub(file.blocks.len());
                            self.check_file(state, &entry.path, file);
                        }
                    }
                }
                continue;
            }
            let Some(cursor) = level.next.take() else {
                self.levels.pop();
                continue;
            };
            match state.ns.list_page(&level.dir, cursor.as_deref(), budget) {
                Ok(page) if page.entries.len() == 1 && page.entries[0].path == level.dir => {
                    // Replaced by a file since: not a directory to descend into.
                    self.levels.pop();
                }
                Ok(page) => {
                    level.page = page.entries.into();
                    level.next = page.next_start_after.map(Some);
                }
                Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                    self.levels.pop();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.levels.is_empty())
    }

    pub fn finish(mut self) -> FsckReport {
        if self.damaged > 0 {
            self.report.status = HealthStatus::Corrupt;
        }
        self.report
    }

    fn check_file(&mut self, state: &State, file_path: &FsPath, file: &FileInode) {
        let report = &mut self.report;
        report.files += 1;
        for record in &file.blocks {
            report.blocks += 1;
            report.bytes += record.length;
            let counts = match state.blocks.get(record.id) {
                Some(info) => count(info, &state.datanodes),
                None => ReplicaCounts {
                    expected: file.replication,
                    ..ReplicaCounts::default()
                },
            };
            let list = match counts.health() {
                Health::Healthy => continue,
                Health::UnderReplicated => &mut report.under_replicated,
                Health::OverReplicated => &mut report.over_replicated,
                Health::Missing => {
                    self.damaged += 1;
                    &mut report.missing
                }
                Health::Corrupt => {
                    self.damaged += 1;
                    &mut report.corrupt
                }
            };
            if list.len() < MAX_LISTED {
                list.push(BlockHealth {
                    block: record.id,
                    file: file_path.clone(),
                    live_replicas: counts.counted(),
                    expected_replicas: counts.expected,
                    corrupt_replicas: counts.corrupt,
                });
            }
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
