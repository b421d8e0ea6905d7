use granary_client::protocol::{Builtin, JobProgram};

use super::*;
use crate::task::format::count_value;
use crate::task::test_support::{lines_of, map_assignment, read, reduce_assignment};

fn segment(path: &Path, records: &[(Vec<u8>, Vec<u8>)]) -> SegmentFile {
    let mut writer = RecordWriter::new(Vec::new());
    for (key, value) in records {
        writer.write(key, value).unwrap();
    }
    let crc32c = writer.take_crc();
    fs::write(path, writer.into_inner()).unwrap();
    SegmentFile {
        path: path.to_path_buf(),
        crc32c,
    }
}

/// `count` segments; segment `i` holds keys `k{j}` for every j ≡ i (mod 3), j < 30, each with
/// value `i`.
fn segments(dir: &Path, count: usize, value: impl Fn(usize) -> Vec<u8>) -> Vec<SegmentFile> {
    (0..count)
        .map(|i| {
            let mut keys: Vec<Vec<u8>> = (0..30)
                .filter(|j| j % 3 == i % 3)
                .map(|j| format!("k{j:02}").into_bytes())
                .collect();
            keys.sort();
            let records: Vec<_> = keys.into_iter().map(|k| (k, value(i))).collect();
            segment(&dir.join(format!("seg-{i}")), &records)
        })
        .collect()
}

/// Reduces `segments` into `output` with a built-in program.
fn reduce(
    builtin: Builtin,
    top: Option<u32>,
    segments: &[SegmentFile],
    output: &Path,
) -> Result<TaskCounters, TaskError> {
    let assignment = reduce_assignment(JobProgram::Builtin(builtin), top);
    run(&assignment, segments, output, &TaskControl::default())
}

#[test]
fn many_segments_merge_in_passes_and_keep_map_order() {
    let dir = tempfile::tempdir().unwrap();
    let count = MERGE_FACTOR * 2 + 5;
    let segs = segments(dir.path(), count, |i| i.to_string().into_bytes());
    let output = dir.path().join("part");
    let counters = reduce(Builtin::Sort, None, &segs, &output).unwrap();
    let lines = lines_of(&read(&output));
    let mut expected = Vec::new();
    for j in 0..30 {
        for i in (0..count).filter(|i| i % 3 == j % 3) {
            expected.push(format!("k{j:02}\t{i}"));
        }
    }
    assert_eq!(lines, expected);
    assert_eq!(counters.reduce_input_groups, 30);
    assert_eq!(counters.reduce_output_records, expected.len() as u64);
    let left = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(left, count + 1, "merge files left behind");
}

#[test]
fn counts_add_up_over_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let count = MERGE_FACTOR + 1;
    let segs = segments(dir.path(), count, |_| count_value(2).to_vec());
    let output = dir.path().join("part");
    let counters = reduce(Builtin::Wordcount, None, &segs, &output).unwrap();
    let lines = lines_of(&read(&output));
    assert_eq!(lines.len(), 30);
    for (j, line) in lines.iter().enumerate() {
        let per_key = (0..count).filter(|i| i % 3 == j % 3).count() * 2;
        assert_eq!(line, &format!("k{j:02}\t{per_key}"));
    }
    assert_eq!(counters.reduce_input_groups, 30);
}

#[test]
fn no_segments_make_an_empty_part() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("part");
    let counters = reduce(Builtin::Wordcount, Some(3), &[], &output).unwrap();
    assert!(read(&output).is_empty());
    assert_eq!(counters, TaskCounters::default());
}

#[test]
fn a_truncated_segment_fails_the_reduce() {
    let dir = tempfile::tempdir().unwrap();
    let seg = segment(
        &dir.path().join("seg"),
        &[(b"key".to_vec(), b"value".to_vec())],
    );
    let bytes = read(&seg.path);
    fs::write(&seg.path, &bytes[..bytes.len() - 1]).unwrap();
    let output = dir.path().join("part");
    let err = reduce(Builtin::Sort, None, &[seg], &output).unwrap_err();
    assert!(err.to_string().contains("corrupt map output"), "{err}");
}

#[test]
fn a_segment_damaged_on_the_reducers_disk_fails_the_reduce() {
    let dir = tempfile::tempdir().unwrap();
    // Past MERGE_FACTOR segments, so the damage is met in an intermediate pass.
    let mut segs = segments(dir.path(), MERGE_FACTOR + 3, |i| i.to_string().into_bytes());
    let output = dir.path().join("part");
    reduce(Builtin::Sort, None, &segs, &output).unwrap();
    let damaged = &segs[5].path;
    let mut bytes = read(damaged);
    bytes[2] ^= 0x01;
    fs::write(damaged, bytes).unwrap();
    let err = reduce(Builtin::Sort, None, &segs, &output).unwrap_err();
    assert!(err.to_string().contains("CRC32C"), "{err}");
    // A wrong checksum on an intact file is just as fatal.
    segs.truncate(2);
    segs[1].crc32c ^= 1;
    let err = reduce(Builtin::Sort, None, &segs, &output).unwrap_err();
    assert!(err.to_string().contains("CRC32C"), "{err}");
}

#[test]
fn a_map_assignment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let map = map_assignment(JobProgram::Builtin(Builtin::Sort), 1, 1 << 20, 0);
    let err = run(&map, &[], &dir.path().join("part"), &TaskControl::default()).unwrap_err();
    assert!(matches!(err, TaskError::Invalid(_)), "{err}");
}
