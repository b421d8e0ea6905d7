use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::task::test_support::{map_input, split};

/// A line as the reference sees it: where it starts and ends (terminator included).
struct RefLine {
    start: u64,
    end: u64,
    record: Vec<u8>,
}

fn reference_lines(data: &[u8]) -> Vec<RefLine> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let end = data[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| start + i + 1);
        lines.push(RefLine {
            start: start as u64,
            end: end as u64,
            record: strip_terminator(&data[start..end]).to_vec(),
        });
        start = end;
    }
    lines
}

struct SplitResult {
    records: Vec<Vec<u8>>,
    counts: LineCounts,
    tail_opened: bool,
}

fn read_split(data: &[u8], offset: u64, length: u64) -> SplitResult {
    let opened = Arc::new(AtomicBool::new(false));
    let input = map_input(data, offset, length, opened.clone());
    let mut records = Vec::new();
    let counts = for_each_record(
        &split(data.len() as u64, offset, length),
        input,
        &TaskControl::default(),
        |r| {
            records.push(r.to_vec());
            Ok(())
        },
    )
    .unwrap();
    SplitResult {
        records,
        counts,
        tail_opened: opened.load(Ordering::Relaxed),
    }
}

#[test]
fn every_split_size_reads_every_line_exactly_once() {
    let long_line = format!("{}\n", "x".repeat(40));
    let files: Vec<Vec<u8>> = vec![
        b"one\r\ntwo\r\n\r\nthree\r\n".to_vec(),
        b"no trailing newline\nlast".to_vec(),
        b"\n\n\nempty lines\n\n".to_vec(),
        format!("a\n{long_line}b\n{long_line}").into_bytes(),
        vec![0xff, 0xfe, b'\n', 0x80, b'\r', b'\n', 0xc3, 0x28, b'\r'],
        Vec::new(),
        b"\n".to_vec(),
        b"x".to_vec(),
    ];
    for data in &files {
        let reference = reference_lines(data);
        let len = data.len() as u64;
        for size in 1..=len + 1 {
            let mut all = Vec::new();
            let mut bytes = 0;
            let mut offset = 0;
            loop {
                let length = size.min(len - offset);
                let result = read_split(data, offset, length);
                let end = offset + length;
                let owned: Vec<&RefLine> = reference
                    .iter()
                    .filter(|l| l.start >= offset && l.start < end)
                    .collect();
                let needs_tail = owned.last().is_some_and(|l| l.end > end);
                assert_eq!(
                    result.tail_opened, needs_tail,
                    "{data:?} split {offset}+{length}"
                );
                assert_eq!(result.counts.records, result.records.len() as u64);
                bytes += result.counts.bytes;
                all.extend(result.records);
                offset = end;
                if offset >= len {
                    break;
                }
            }
            let expected: Vec<Vec<u8>> = reference.iter().map(|l| l.record.clone()).collect();
            assert_eq!(all, expected, "{data:?} with split size {size}");
            assert_eq!(bytes, len, "{data:?} with split size {size}");
        }
    }
}

#[test]
fn crlf_is_stripped_only_before_a_newline() {
    assert_eq!(strip_terminator(b"a\r\n"), b"a");
    assert_eq!(strip_terminator(b"a\n"), b"a");
    assert_eq!(strip_terminator(b"a\r"), b"a\r");
    assert_eq!(strip_terminator(b"\r\n"), b"");
}

#[test]
fn scanner_grows_for_lines_longer_than_its_buffer() {
    let data = b"short\na much longer line than four bytes\n\nend";
    let mut scanner = LineScanner::new(&data[..], 4);
    let mut lines = Vec::new();
    while let Some(line) = scanner.next_line().unwrap() {
        lines.push(line.to_vec());
    }
    assert_eq!(
        lines,
        vec![
            b"short\n".to_vec(),
            b"a much longer line than four bytes\n".to_vec(),
            b"\n".to_vec()
        ]
    );
    assert_eq!(scanner.pending(), b"end");
}

#[test]
fn a_short_head_is_an_error() {
    let data = b"abc\ndef\n";
    let opened = Arc::new(AtomicBool::new(false));
    let mut input = map_input(data, 0, 8, opened);
    input.head = Box::new(io::Cursor::new(b"abc\nd".to_vec()));
    let err =
        for_each_record(&split(8, 0, 8), input, &TaskControl::default(), |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("before the split's end"), "{err}");
}

#[test]
fn a_cancelled_attempt_stops_reading() {
    let data = "line\n".repeat(100_000).into_bytes();
    let control = TaskControl::default();
    control.cancel();
    let opened = Arc::new(AtomicBool::new(false));
    let input = map_input(&data, 0, data.len() as u64, opened);
    let mut seen = 0u64;
    let result = for_each_record(
        &split(data.len() as u64, 0, data.len() as u64),
        input,
        &control,
        |_| {
            seen += 1;
            Ok(())
        },
    );
    assert!(matches!(result, Err(TaskError::Cancelled)));
    assert!(seen < 100_000);
}

#[test]
fn progress_reaches_one() {
    let data = b"a\nb\n";
    let control = TaskControl::default();
    let opened = Arc::new(AtomicBool::new(false));
    for_each_record(
        &split(4, 0, 4),
        map_input(data, 0, 4, opened),
        &control,
        |_| Ok(()),
    )
    .unwrap();
    assert_eq!(control.progress(), 1.0);
}
