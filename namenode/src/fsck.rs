//! `admin fsck`: every committed block of every file at or below a path, checked against the
//! block map (an open file's last block in flight is not checked: it is not missing), and,
//! when asked, the files open for writing. Lists are capped at [`MAX_LISTED`] entries each
//! (the counts and the status stay exact), so fsck of a huge tree cannot produce an answer of unbounded size.
//!
//! The walk is resumable: each [`Fsck::step`] runs under one hold of the namesystem lock and
//! looks at about `budget` entries and blocks, then lets go, so fsck of a large tree never
//! holds the lock for long (HDFS's fsck likewise walks through `getListing` pages). Entries
//! changed between steps are seen as they are when reached; entries removed are skipped.

use std::collections::VecDeque;

use std::time::Instant;

use granary_client::protocol::{
    BlockHealth, FileKind, FileStatus, FsckReport, HealthStatus, OpenFileReport,
};
use granary_client::{Error, ErrorKind, FsPath};

use crate::namespace::Inode;
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
    open_for_write: bool,
}

impl Fsck {
    pub fn new(path: &FsPath, open_for_write: bool) -> Self {
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
            open_for_write,
        }
    }

    /// Walks on, parents before children and siblings in name order, until about `budget`
    /// entries and blocks were looked at; `true` once the walk is complete.
    pub fn step(&mut self, state: &State, budget: usize) -> Result<bool, Error> {
        let mut budget = budget.max(1);
        if let Some(start) = self.start.take() {
            let top = state.ns.inode_at(&start)?;
            match top.file() {
                Some(_) => {
                    self.check_file(state, &start, top);
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
                        let current = state.ns.inode_at(&entry.path).ok();
                        if let Some(inode) = current.filter(|i| i.file().is_some()) {
                            let blocks = inode.file().map_or(0, |f| f.blocks.len());
                            budget = budget.saturating_sub(blocks);
                            self.check_file(state, &entry.path, inode);
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

    fn check_file(&mut self, state: &State, file_path: &FsPath, inode: &Inode) {
        let Some(file) = inode.file() else {
            return;
        };
        let report = &mut self.report;
        report.files += 1;
        if file.under_construction && self.open_for_write {
            if let Some(holder) = &file.lease_holder {
                let age = state.leases.age(holder, Instant::now()).unwrap_or_default();
                report.open_files.push(OpenFileReport {
                    path: file_path.clone(),
                    holder: holder.clone(),
                    lease_age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                    length: file.length,
                    recovering: state.recoveries.is_recovering(inode.id),
                });
            }
        }
        let in_flight = |i: usize| {
            let last = i + 1 == file.blocks.len();
            let record = &file.blocks[i];
            file.under_construction && last && (record.pending.is_some() || record.cut_to.is_some())
        };
        for (i, record) in file.blocks.iter().enumerate() {
            if !record.is_committed() {
                continue;
            }
            report.blocks += 1;
            report.bytes += record.length;
            // An open file's last block being written or recovered is not missing.
            if in_flight(i) {
                continue;
            }
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
