//! `admin fsck`: every block of every complete file at or below a path, checked against the
//! block map. Lists are capped at [`MAX_LISTED`] entries each (the counts and the status stay
//! exact), so fsck of a huge tree cannot produce an answer of unbounded size.

use granary_client::protocol::{BlockHealth, FsckReport, HealthStatus};
use granary_client::{Error, FsPath};

use crate::namesystem::State;
use crate::replication::{count, Health, ReplicaCounts};

/// Blocks listed per category.
pub const MAX_LISTED: usize = 10_000;

pub(crate) fn check(state: &State, path: &FsPath) -> Result<FsckReport, Error> {
    let mut report = FsckReport {
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
    };
    let mut damaged = 0u64;
    state.ns.walk(path, |file_path, inode| {
        let Some(file) = inode.file() else {
            report.directories += 1;
            return;
        };
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
                    damaged += 1;
                    &mut report.missing
                }
                Health::Corrupt => {
                    damaged += 1;
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
    })?;
    if damaged > 0 {
        report.status = HealthStatus::Corrupt;
    }
    Ok(report)
}
