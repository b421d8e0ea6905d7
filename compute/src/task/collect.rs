//! The map side's sort buffer: records collect in one byte arena plus a compact index; when
//! they reach the buffer's size, the index is sorted by (partition, key) and the records are
//! spilled, through the combiner if there is one.

use super::spill::{SpillWriter, Spills};
use super::TaskControl;
use crate::error::TaskError;

/// Where one record lies in the arena, with the first key bytes inline so most comparisons
/// never touch the arena.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The key's first 8 bytes, big-endian, zero-padded: orders like the key's prefix.
    prefix: u64,
    offset: u64,
    partition: u32,
    key_len: u32,
    value_len: u32,
}

/// Records in one allocation: keys and values back to back in `data`, located by `entries`.
#[derive(Debug, Default)]
pub(crate) struct RecordArena {
    data: Vec<u8>,
    entries: Vec<Entry>,
}

impl RecordArena {
    pub(crate) fn push(
        &mut self,
        partition: u32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), TaskError> {
        let too_long = || TaskError::Invalid("a map output record is larger than 4 GiB".into());
        let mut prefix = [0u8; 8];
        let n = key.len().min(8);
        prefix[..n].copy_from_slice(&key[..n]);
        self.entries.push(Entry {
            prefix: u64::from_be_bytes(prefix),
            offset: self.data.len() as u64,
            partition,
            key_len: u32::try_from(key.len()).map_err(|_| too_long())?,
            value_len: u32::try_from(value.len()).map_err(|_| too_long())?,
        });
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Memory the records take, as counted against the sort buffer.
    pub(crate) fn bytes(&self) -> u64 {
        (self.data.len() + self.entries.len() * std::mem::size_of::<Entry>()) as u64
    }

    /// Sorts by (partition, key), keeping arrival order among equal keys.
    pub(crate) fn sort(&mut self) {
        let data = &self.data;
        self.entries.sort_unstable_by(|a, b| {
            (a.partition, a.prefix)
                .cmp(&(b.partition, b.prefix))
                .then_with(|| key_of(data, a).cmp(key_of(data, b)))
                .then(a.offset.cmp(&b.offset))
        });
    }

    /// The sorted records grouped into one run per partition.
    pub(crate) fn partition_runs(&self) -> impl Iterator<Item = (u32, SortedRun<'_>)> {
        self.entries
            .chunk_by(|a, b| a.partition == b.partition)
            .map(|entries| {
                let run = SortedRun {
                    data: &self.data,
                    entries,
                };
                (entries[0].partition, run)
            })
    }

    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.entries.clear();
    }
}

fn key_of<'a>(data: &'a [u8], entry: &Entry) -> &'a [u8] {
    &data[entry.offset as usize..entry.offset as usize + entry.key_len as usize]
}

/// One partition's records, in order.
#[derive(Clone, Copy)]
pub(crate) struct SortedRun<'a> {
    data: &'a [u8],
    entries: &'a [Entry],
}

impl<'a> SortedRun<'a> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let data = self.data;
        self.entries.iter().map(move |e| {
            let key_end = e.offset as usize + e.key_len as usize;
            (
                &data[e.offset as usize..key_end],
                &data[key_end..key_end + e.value_len as usize],
            )
        })
    }
}

/// A combiner run on each partition of each spill.
pub(crate) trait SpillCombiner {
    /// Combines `run`'s records into `out`, in any order.
    fn combine(
        &mut self,
        partition: u32,
        run: SortedRun<'_>,
        out: &mut RecordArena,
    ) -> Result<(), TaskError>;
}

/// The counters a map's collector keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CollectCounts {
    pub map_output_records: u64,
    pub combine_input_records: u64,
    pub combine_output_records: u64,
    /// Spills written before the final merge.
    pub spills: u64,
}

pub(crate) struct SortBuffer<'c> {
    records: RecordArena,
    limit: u64,
    spills: Spills,
    combiner: Option<&'c mut dyn SpillCombiner>,
    combined: RecordArena,
    counts: CollectCounts,
}

impl<'c> SortBuffer<'c> {
    /// Spills once the records take `limit` bytes.
    pub(crate) fn new(
        spills: Spills,
        limit: u64,
        combiner: Option<&'c mut dyn SpillCombiner>,
    ) -> Self {
        SortBuffer {
            records: RecordArena::default(),
            limit: limit.max(1),
            spills,
            combiner,
            combined: RecordArena::default(),
            counts: CollectCounts::default(),
        }
    }

    pub(crate) fn add(
        &mut self,
        partition: u32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), TaskError> {
        self.records.push(partition, key, value)?;
        self.counts.map_output_records += 1;
        if self.records.bytes() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Spills what is left and leaves the map's output file and index.
    pub(crate) fn finish(mut self, control: &TaskControl) -> Result<CollectCounts, TaskError> {
        if self.records.len() > 0 {
            self.spill()?;
        }
        self.counts.spills = self.spills.count() as u64;
        self.spills.finish(control)?;
        Ok(self.counts)
    }

    fn spill(&mut self) -> Result<(), TaskError> {
        self.records.sort();
        let mut writer = self.spills.writer()?;
        match self.combiner.as_deref_mut() {
            None => {
                for (partition, run) in self.records.partition_runs() {
                    write_run(&mut writer, partition, run)?;
                }
            }
            Some(combiner) => {
                for (partition, run) in self.records.partition_runs() {
                    self.combined.clear();
                    combiner.combine(partition, run, &mut self.combined)?;
                    self.counts.combine_input_records += run.len() as u64;
                    self.counts.combine_output_records += self.combined.len() as u64;
                    self.combined.sort();
                    for (_, combined) in self.combined.partition_runs() {
                        write_run(&mut writer, partition, combined)?;
                    }
                }
            }
        }
        self.spills.push(writer.finish()?);
        self.records.clear();
        Ok(())
    }
}

fn write_run(
    writer: &mut SpillWriter,
    partition: u32,
    run: SortedRun<'_>,
) -> Result<(), TaskError> {
    for (key, value) in run.records() {
        writer.write(partition, key, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
