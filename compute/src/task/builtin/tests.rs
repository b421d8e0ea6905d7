use granary_client::protocol::{JobProgram, Partitioner};

use super::*;
use crate::task::boundaries_from_sample;
use crate::task::test_support::{lines_of, LocalJob};

fn words_of(line: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    for_each_word(line, |w| {
        words.push(w.to_vec());
        Ok(())
    })
    .unwrap();
    words
}

fn builtin(b: Builtin) -> JobProgram {
    JobProgram::Builtin(b)
}

/// Every part file's lines, sorted.
fn all_lines(parts: &[Vec<u8>]) -> Vec<String> {
    let mut lines: Vec<String> = parts.iter().flat_map(|p| lines_of(p)).collect();
    lines.sort();
    lines
}

#[test]
fn words_split_on_ascii_whitespace_only() {
    let line = b"  hello\tworld\x0b\x0cfoo\r bar caf\xc3\xa9\xa0x  ";
    let expected: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"world".to_vec(),
        b"foo".to_vec(),
        b"bar".to_vec(),
        b"caf\xc3\xa9\xa0x".to_vec(),
    ];
    assert_eq!(words_of(line), expected);
    assert!(words_of(b" \t ").is_empty());
}

#[test]
fn fields_split_like_awk() {
    let line = b"  a  b\tc";
    assert_eq!(nth_field(line, 1), Some(&b"a"[..]));
    assert_eq!(nth_field(line, 2), Some(&b"b"[..]));
    assert_eq!(nth_field(line, 3), Some(&b"c"[..]));
    assert_eq!(nth_field(line, 4), None);
    assert_eq!(nth_field(b"", 1), None);
    assert_eq!(nth_field(b" \t ", 1), None);
    assert_eq!(nth_field(b"x ", 2), None);
}

#[test]
fn bad_programs_are_rejected() {
    assert!(BuiltinMap::new(&Builtin::CountField { field: 0 }).is_err());
    let bad = Builtin::Grep {
        pattern: "(".into(),
    };
    assert!(BuiltinMap::new(&bad).is_err());
}

#[test]
fn wordcount_counts_words_across_splits_and_reducers() {
    let data = b"the cat\nthe dog\n\nThe cat sat\n";
    let mut job = LocalJob::new(builtin(Builtin::Wordcount), 2);
    job.split_size = 5;
    let (parts, counters) = job.run(data).unwrap();
    assert_eq!(
        all_lines(&parts),
        ["The\t1", "cat\t2", "dog\t1", "sat\t1", "the\t2"]
    );
    for part in &parts {
        let lines = lines_of(part);
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    }
    assert_eq!(counters.map_input_records, 4);
    assert_eq!(counters.map_input_bytes, data.len() as u64);
    assert_eq!(counters.map_output_records, 7);
    assert_eq!(counters.reduce_input_groups, 5);
    assert_eq!(counters.reduce_output_records, 5);
}

#[test]
fn count_field_counts_one_field_and_skips_short_lines() {
    let data = b"a x\n b  y\nc\n\td\tx\n";
    let job = LocalJob::new(builtin(Builtin::CountField { field: 2 }), 1);
    let (parts, counters) = job.run(data).unwrap();
    assert_eq!(lines_of(&parts[0]), ["x\t2", "y\t1"]);
    assert_eq!(counters.map_output_records, 3);
}

#[test]
fn top_keeps_the_largest_counts_then_smallest_keys() {
    let data = b"b a c\nc a b\nc d a b c e c\n";
    let mut job = LocalJob::new(builtin(Builtin::Wordcount), 1);
    job.top = Some(3);
    let (parts, _) = job.run(data).unwrap();
    assert_eq!(lines_of(&parts[0]), ["c\t5", "a\t3", "b\t3"]);
    job.top = Some(0);
    assert!(job.run(data).unwrap().0[0].is_empty());
    job.top = Some(100);
    assert_eq!(
        lines_of(&job.run(data).unwrap().0[0]),
        ["c\t5", "a\t3", "b\t3", "d\t1", "e\t1"]
    );
}

#[test]
fn grep_keeps_matching_lines_with_duplicates() {
    let data = b"abc\nxyz\nab\nabc\n\xffab\n";
    let program = builtin(Builtin::Grep {
        pattern: "^ab".into(),
    });
    let (parts, counters) = LocalJob::new(program.clone(), 1).run(data).unwrap();
    assert_eq!(lines_of(&parts[0]), ["ab", "abc", "abc"]);
    assert_eq!(counters.reduce_input_groups, 2);
    assert_eq!(counters.reduce_output_records, 3);
    // Map-only: input order.
    let mut job = LocalJob::new(program, 0);
    job.split_size = 4;
    let (parts, counters) = job.run(data).unwrap();
    assert_eq!(all_lines(&parts), ["ab", "abc", "abc"]);
    assert_eq!(parts.concat(), b"abc\nab\nabc\n");
    assert_eq!(counters.map_output_records, 3);
}

#[test]
fn sort_orders_all_lines_across_range_partitions() {
    let mut data = Vec::new();
    let mut state = 7u32;
    let mut expected = Vec::new();
    for _ in 0..500 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let line = format!("{:05}", (state >> 8) % 300);
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
        expected.push(line);
    }
    expected.sort();
    let sample = expected
        .iter()
        .step_by(7)
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let mut job = LocalJob::new(builtin(Builtin::Sort), 3);
    job.partitioner = Partitioner::Range {
        boundaries: boundaries_from_sample(sample, 3),
    };
    job.split_size = 1000;
    job.sort_buffer = 512;
    let (parts, _) = job.run(&data).unwrap();
    assert!(parts.iter().all(|p| !p.is_empty()));
    assert_eq!(lines_of(&parts.concat()), expected);
}

#[test]
fn wordcount_map_only_writes_one_line_per_word() {
    let (parts, _) = LocalJob::new(builtin(Builtin::Wordcount), 0)
        .run(b"a b a\n")
        .unwrap();
    assert_eq!(lines_of(&parts[0]), ["a\t1", "b\t1", "a\t1"]);
}
