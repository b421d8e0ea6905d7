//! The lease table: which files each writer (lease holder) has open and when it last renewed.
//! Memory only: the holder of each open file is persisted on its inode, and at start-up the
//! table is rebuilt from the inodes with every holder's clock starting afresh (as HDFS does),
//! so a restart never expires a lease early.
//!
//! A holder past the soft limit loses its files to any other writer that asks for them
//! (create over, append, truncate); past the hard limit the namenode recovers them itself.

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use granary_client::{InodeId, LeaseHolder};

#[derive(Debug)]
struct Lease {
    files: BTreeSet<InodeId>,
    renewed: Instant,
}

#[derive(Debug, Default)]
pub struct LeaseTable {
    by_holder: HashMap<LeaseHolder, Lease>,
    /// Each open file's holder, so a removed file is forgotten without a scan.
    by_file: HashMap<InodeId, LeaseHolder>,
}

impl LeaseTable {
    /// `holder` opened `file` (create, append, truncate): that renews its lease too.
    pub fn add(&mut self, holder: &LeaseHolder, file: InodeId, now: Instant) {
        let lease = self.by_holder.entry(holder.clone()).or_insert(Lease {
            files: BTreeSet::new(),
            renewed: now,
        });
        lease.files.insert(file);
        lease.renewed = now;
        if let Some(previous) = self.by_file.insert(file, holder.clone()) {
            if &previous != holder {
                self.remove_from(&previous, file);
            }
        }
    }

    /// `file` is no longer open (closed, or removed), whoever held it.
    pub fn remove(&mut self, file: InodeId) {
        if let Some(holder) = self.by_file.remove(&file) {
            self.remove_from(&holder, file);
        }
    }

    fn remove_from(&mut self, holder: &LeaseHolder, file: InodeId) {
        if let Some(lease) = self.by_holder.get_mut(holder) {
            lease.files.remove(&file);
            if lease.files.is_empty() {
                self.by_holder.remove(holder);
            }
        }
    }

    /// Renews every lease of `holder`; false when it holds none.
    pub fn renew(&mut self, holder: &LeaseHolder, now: Instant) -> bool {
        match self.by_holder.get_mut(holder) {
            Some(lease) => {
                lease.renewed = now;
                true
            }
            None => false,
        }
    }

    /// Time since `holder` last renewed; `None` when it holds no lease.
    pub fn age(&self, holder: &LeaseHolder, now: Instant) -> Option<Duration> {
        let lease = self.by_holder.get(holder)?;
        Some(now.saturating_duration_since(lease.renewed))
    }

    /// Whether `holder`'s lease is past `limit` (a holder without a lease is).
    pub fn expired(&self, holder: &LeaseHolder, now: Instant, limit: Duration) -> bool {
        self.age(holder, now).is_none_or(|age| age > limit)
    }

    /// The files of every holder past `limit`.
    pub fn files_past(&self, now: Instant, limit: Duration) -> Vec<(LeaseHolder, InodeId)> {
        self.by_holder
            .iter()
            .filter(|(_, lease)| now.saturating_duration_since(lease.renewed) > limit)
            .flat_map(|(holder, lease)| lease.files.iter().map(|&f| (holder.clone(), f)))
            .collect()
    }

    pub fn holders(&self) -> usize {
        self.by_holder.len()
    }
}
