use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use super::*;
use crate::task::counting::CountTable;
use crate::task::format::{count_value, parse_count, RecordReader};
use crate::task::index::load_index;
use crate::task::merge::{MergeCombine, MERGE_FACTOR};
use crate::task::partition::KeyPartitioner;
use crate::task::test_support::read;
use crate::task::{Segment, MAP_OUTPUT_FILE};
use granary_client::protocol::Partitioner;

const TINY: u64 = 1 << 10;
const HUGE: u64 = 64 << 20;
const PARTITIONS: u32 = 3;

/// Deterministic pseudo-random words, with plenty of repeats.
fn words(n: usize) -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("w{}", state % 700).into_bytes()
        })
        .collect()
}

/// Each partition's records of a finished map output.
fn read_output(dir: &Path) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let bytes = read(&dir.join(MAP_OUTPUT_FILE));
    let index = load_index(dir).unwrap();
    assert_eq!(index.partitions.len(), PARTITIONS as usize);
    index
        .partitions
        .iter()
        .map(|segment| {
            let (start, length) = (segment.offset as usize, segment.length);
            let run = &bytes[start..start + length as usize];
            assert_eq!(crc32c::crc32c(run), segment.crc32c);
            let mut reader = RecordReader::new(Cursor::new(run), length);
            let mut records = Vec::new();
            while reader.next().unwrap() {
                records.push((reader.key().to_vec(), reader.value().to_vec()));
            }
            records
        })
        .collect()
}

fn hash() -> KeyPartitioner {
    KeyPartitioner::new(&Partitioner::Hash, PARTITIONS).unwrap()
}

fn sort_buffer_run(
    dir: &Path,
    limit: u64,
    input: &[Vec<u8>],
    combiner: Option<&mut dyn SpillCombiner>,
) -> CollectCounts {
    let spills = Spills::new(dir, PARTITIONS, MergeCombine::None);
    let mut buffer = SortBuffer::new(spills, limit, combiner);
    let partitioner = hash();
    for (i, key) in input.iter().enumerate() {
        buffer
            .add(partitioner.partition(key), key, i.to_string().as_bytes())
            .unwrap();
    }
    buffer.finish(&TaskControl::default()).unwrap()
}

#[test]
fn a_tiny_sort_buffer_gives_the_same_output_as_a_huge_one() {
    let input = words(20_000);
    let (tiny, huge) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let tiny_counts = sort_buffer_run(tiny.path(), TINY, &input, None);
    let huge_counts = sort_buffer_run(huge.path(), HUGE, &input, None);
    assert!(
        tiny_counts.spills > MERGE_FACTOR as u64,
        "{} spills: the merge takes one pass",
        tiny_counts.spills
    );
    assert_eq!(huge_counts.spills, 1);
    assert_eq!(
        (
            tiny_counts.map_output_records,
            tiny_counts.combine_input_records
        ),
        (
            huge_counts.map_output_records,
            huge_counts.combine_input_records
        )
    );
    assert_eq!(tiny_counts.map_output_records, input.len() as u64);
    assert_eq!(
        read(&tiny.path().join(MAP_OUTPUT_FILE)),
        read(&huge.path().join(MAP_OUTPUT_FILE))
    );
    assert_eq!(
        load_index(tiny.path()).unwrap(),
        load_index(huge.path()).unwrap()
    );

    // Sorted by key within each partition, values (arrival order) ascending among equal keys,
    // and every record once.
    let output = read_output(tiny.path());
    let mut all = Vec::new();
    for (partition, records) in output.iter().enumerate() {
        for pair in records.windows(2) {
            let value = |v: &[u8]| String::from_utf8_lossy(v).parse::<usize>().unwrap();
            assert!((&pair[0].0, value(&pair[0].1)) < (&pair[1].0, value(&pair[1].1)));
        }
        for (key, value) in records {
            assert_eq!(hash().partition(key), partition as u32);
            all.push((key.clone(), value.clone()));
        }
    }
    all.sort();
    let mut expected: Vec<_> = input
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), i.to_string().into_bytes()))
        .collect();
    expected.sort();
    assert_eq!(all, expected);
    // Merged spills are gone.
    let left: Vec<_> = std::fs::read_dir(tiny.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn no_records_still_make_an_output_with_empty_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let counts = sort_buffer_run(dir.path(), TINY, &[], None);
    assert_eq!(counts, CollectCounts::default());
    assert_eq!(
        load_index(dir.path()).unwrap().partitions,
        vec![Segment::default(); PARTITIONS as usize]
    );
    assert!(read(&dir.path().join(MAP_OUTPUT_FILE)).is_empty());
}

/// Keeps the first record of each key, like a "distinct" combiner.
struct FirstOfKey;

impl SpillCombiner for FirstOfKey {
    fn combine(
        &mut self,
        partition: u32,
        run: SortedRun<'_>,
        out: &mut RecordArena,
    ) -> Result<(), TaskError> {
        let mut last: Option<&[u8]> = None;
        for (key, value) in run.records() {
            if last != Some(key) {
                out.push(partition, key, value)?;
                last = Some(key);
            }
        }
        Ok(())
    }
}

#[test]
fn the_combiner_runs_on_each_spill() {
    let input = words(5_000);
    let dir = tempfile::tempdir().unwrap();
    let counts = sort_buffer_run(dir.path(), 16 << 10, &input, Some(&mut FirstOfKey));
    assert!(counts.spills > 1);
    assert_eq!(counts.combine_input_records, input.len() as u64);
    assert!(counts.combine_output_records < counts.combine_input_records);
    let written: usize = read_output(dir.path()).iter().map(Vec::len).sum();
    assert_eq!(written as u64, counts.combine_output_records);
}

fn count_run(dir: &Path, limit: u64, input: &[Vec<u8>]) -> CollectCounts {
    let spills = Spills::new(dir, PARTITIONS, MergeCombine::SumCounts);
    let mut table = CountTable::new(spills, hash(), limit);
    for key in input {
        table.add(key).unwrap();
    }
    table.finish(&TaskControl::default()).unwrap()
}

#[test]
fn the_counting_table_gives_the_same_output_whatever_its_size() {
    let input = words(50_000);
    let (tiny, huge) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let tiny_counts = count_run(tiny.path(), TINY, &input);
    let huge_counts = count_run(huge.path(), HUGE, &input);
    assert!(tiny_counts.spills > MERGE_FACTOR as u64);
    assert_eq!(huge_counts.spills, 1);
    assert_eq!(
        read(&tiny.path().join(MAP_OUTPUT_FILE)),
        read(&huge.path().join(MAP_OUTPUT_FILE))
    );

    let mut expected: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for word in &input {
        *expected.entry(word.clone()).or_default() += 1;
    }
    let mut counted = BTreeMap::new();
    for records in read_output(huge.path()) {
        for (key, value) in records {
            assert!(counted.insert(key, parse_count(&value).unwrap()).is_none());
        }
    }
    assert_eq!(counted, expected);
    for counts in [tiny_counts, huge_counts] {
        assert_eq!(counts.map_output_records, input.len() as u64);
        assert_eq!(counts.combine_input_records, input.len() as u64);
    }
    assert_eq!(huge_counts.combine_output_records, expected.len() as u64);
    assert!(tiny_counts.combine_output_records > expected.len() as u64);
    assert_eq!(count_value(1).len(), 8);
}
