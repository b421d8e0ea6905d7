//! The counting jobs' fast path (`wordcount`, `count-field`): instead of buffering one record
//! per occurrence and combining at the spill, keys are counted in a hash table as they come,
//! which is that same combiner applied early. The table spills, sorted by (partition, key),
//! when it reaches the sort buffer's size.

use rustc_hash::FxHashMap;

use super::collect::CollectCounts;
use super::format::count_value;
use super::partition::KeyPartitioner;
use super::spill::Spills;
use super::TaskControl;
use crate::error::TaskError;

/// Memory per distinct key besides the key's bytes: the table's slot, the key's allocation
/// and the entry sorted at the spill.
const ENTRY_OVERHEAD: u64 = 64;

pub(crate) struct CountTable {
    counts: FxHashMap<Box<[u8]>, u64>,
    bytes: u64,
    limit: u64,
    partitioner: KeyPartitioner,
    spills: Spills,
    collected: CollectCounts,
}

impl CountTable {
    /// Spills once the table takes `limit` bytes.
    pub(crate) fn new(spills: Spills, partitioner: KeyPartitioner, limit: u64) -> Self {
        CountTable {
            counts: FxHashMap::default(),
            bytes: 0,
            limit: limit.max(1),
            partitioner,
            spills,
            collected: CollectCounts::default(),
        }
    }

    /// Counts one occurrence of `key`.
    pub(crate) fn add(&mut self, key: &[u8]) -> Result<(), TaskError> {
        self.collected.map_output_records += 1;
        self.collected.combine_input_records += 1;
        if let Some(count) = self.counts.get_mut(key) {
            *count += 1;
            return Ok(());
        }
        self.counts.insert(key.into(), 1);
        self.bytes += key.len() as u64 + ENTRY_OVERHEAD;
        if self.bytes >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Spills what is left and leaves the map's output file and index.
    pub(crate) fn finish(mut self, control: &TaskControl) -> Result<CollectCounts, TaskError> {
        if !self.counts.is_empty() {
            self.spill()?;
        }
        self.collected.spills = self.spills.count() as u64;
        self.spills.finish(control)?;
        Ok(self.collected)
    }

    fn spill(&mut self) -> Result<(), TaskError> {
        let mut entries: Vec<(u32, &[u8], u64)> = self
            .counts
            .iter()
            .map(|(key, &count)| (self.partitioner.partition(key), &key[..], count))
            .collect();
        // Keys are distinct, so an unstable sort is deterministic.
        entries.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut writer = self.spills.writer()?;
        for &(partition, key, count) in &entries {
            writer.write(partition, key, &count_value(count))?;
        }
        self.spills.push(writer.finish()?);
        self.collected.combine_output_records += entries.len() as u64;
        self.counts.clear();
        self.bytes = 0;
        Ok(())
    }
}
