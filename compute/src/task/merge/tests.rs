use std::io::Cursor;

use super::*;
use crate::task::format::RecordWriter;

fn run(records: &[(&str, &str)]) -> RecordReader<Cursor<Vec<u8>>> {
    let mut writer = RecordWriter::new(Vec::new());
    for (k, v) in records {
        writer.write(k.as_bytes(), v.as_bytes()).unwrap();
    }
    let bytes = writer.into_inner();
    let len = bytes.len() as u64;
    RecordReader::new(Cursor::new(bytes), len)
}

fn merged(runs: Vec<RecordReader<Cursor<Vec<u8>>>>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let merger = Merger::new(runs).unwrap();
    merge_into(
        merger,
        MergeCombine::None,
        &TaskControl::default(),
        |k, v| {
            out.push((
                String::from_utf8_lossy(k).into(),
                String::from_utf8_lossy(v).into(),
            ));
            Ok(())
        },
    )
    .unwrap();
    out
}

#[test]
fn merges_in_key_order_and_keeps_source_order_for_equal_keys() {
    let runs = vec![
        run(&[("a", "1"), ("c", "1"), ("e", "1")]),
        run(&[]),
        run(&[("a", "2"), ("b", "2"), ("e", "2")]),
        run(&[("a", "3"), ("f", "3")]),
    ];
    let expected = [
        ("a", "1"),
        ("a", "2"),
        ("a", "3"),
        ("b", "2"),
        ("c", "1"),
        ("e", "1"),
        ("e", "2"),
        ("f", "3"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(merged(runs), expected);
}

#[test]
fn groups_hand_out_each_key_once_with_all_its_values() {
    let runs = vec![
        run(&[("a", "1"), ("b", "1")]),
        run(&[("a", "2"), ("c", "2")]),
    ];
    let mut groups = Groups::new(Merger::new(runs).unwrap());
    let mut seen = Vec::new();
    while let Some(key) = groups.next_key().unwrap() {
        let key = String::from_utf8_lossy(key).to_string();
        let mut values = Vec::new();
        while let Some(v) = groups.next_value().unwrap() {
            values.push(String::from_utf8_lossy(v).to_string());
        }
        seen.push((key, values));
    }
    let expected = vec![
        ("a".to_string(), vec!["1".to_string(), "2".to_string()]),
        ("b".to_string(), vec!["1".to_string()]),
        ("c".to_string(), vec!["2".to_string()]),
    ];
    assert_eq!(seen, expected);
}

#[test]
fn groups_skip_values_nobody_read() {
    let runs = vec![run(&[("a", "1"), ("a", "2"), ("b", "3")])];
    let mut groups = Groups::new(Merger::new(runs).unwrap());
    assert_eq!(groups.next_key().unwrap(), Some(&b"a"[..]));
    assert_eq!(groups.next_key().unwrap(), Some(&b"b"[..]));
    assert_eq!(groups.next_value().unwrap(), Some(&b"3"[..]));
    assert_eq!(groups.next_key().unwrap(), None);
}

#[test]
fn sum_counts_adds_up_equal_keys() {
    let counted = |pairs: &[(&[u8], u64)]| {
        let mut writer = RecordWriter::new(Vec::new());
        for (k, n) in pairs {
            writer.write(k, &count_value(*n)).unwrap();
        }
        let bytes = writer.into_inner();
        let len = bytes.len() as u64;
        RecordReader::new(Cursor::new(bytes), len)
    };
    let runs = vec![counted(&[(b"a", 2), (b"b", 1)]), counted(&[(b"a", 5)])];
    let mut out = Vec::new();
    let merger = Merger::new(runs).unwrap();
    merge_into(
        merger,
        MergeCombine::SumCounts,
        &TaskControl::default(),
        |k, v| {
            out.push((k.to_vec(), parse_count(v).unwrap()));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(out, vec![(b"a".to_vec(), 7), (b"b".to_vec(), 1)]);
}
