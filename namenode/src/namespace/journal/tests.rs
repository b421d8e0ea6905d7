//! The journal on its own: records, torn tails, segments.

use std::os::unix::fs::FileExt;

use tempfile::TempDir;

use super::*;

fn batch(i: u64, value_len: usize) -> Batch {
    let mut batch = Batch::default();
    batch.put(format!("k/{i}").as_bytes(), &vec![i as u8; value_len]);
    batch.remove(b"gone");
    batch
}

/// Every good record above `applied`, as `(seq, payload)`.
fn replay_all(dir: &Path, applied: u64) -> (Replayed, Vec<(u64, Vec<u8>)>) {
    let mut records = Vec::new();
    let replayed = Journal::replay(dir, applied, |seq, payload| {
        records.push((seq, payload.to_vec()));
        Ok(())
    })
    .unwrap();
    (replayed, records)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    numbered_files(dir, SEGMENT_SUFFIX, "journal")
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn payloads_round_trip() {
    let mut batch = Batch::default();
    assert!(batch.is_empty());
    batch.put(b"i/1", b"{\"a\":1}");
    batch.remove(b"i/2");
    batch.put(b"empty", b"");
    let mark = batch.len();
    batch.put(b"dropped", b"x");
    batch.truncate(mark);
    assert_eq!(
        decode(batch.payload())
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        vec![
            Op::Put(b"i/1", b"{\"a\":1}"),
            Op::Remove(b"i/2"),
            Op::Put(b"empty", b""),
        ]
    );
    let truncated = &batch.payload()[..batch.payload().len() - 1];
    assert!(decode(truncated).any(|op| op.is_err()));
    assert!(decode(&[9, 0, 0, 0, 0]).any(|op| op.is_err()));
    batch.truncate(0);
    assert!(batch.is_empty());
    assert!(Batch::with_capacity(100).is_empty());
}

#[test]
fn appended_records_replay_in_order() {
    let dir = TempDir::new().unwrap();
    let jdir = dir.path().join("journal");
    let (replayed, records) = replay_all(&jdir, 0);
    assert_eq!((replayed.last_seq, records.len()), (0, 0));
    let mut journal = Journal::start(&jdir, 1 << 20, 1, replayed.segments).unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        let mut b = batch(i, 100 + i as usize);
        let appended = journal.append(&mut b).unwrap();
        assert_eq!((appended.seq, appended.rolled), (i + 1, false));
        written.push((i + 1, b.payload().to_vec()));
    }
    drop(journal);

    let (replayed, records) = replay_all(&jdir, 0);
    assert_eq!(records, written);
    assert_eq!((replayed.last_seq, replayed.applied), (20, 20));
    // Records sled already holds are not handed over again.
    let (replayed, records) = replay_all(&jdir, 15);
    assert_eq!(records, written[15..]);
    assert_eq!((replayed.last_seq, replayed.applied), (20, 5));
}

#[test]
fn replay_stops_at_a_torn_or_corrupt_tail() {
    let dir = TempDir::new().unwrap();
    let jdir = dir.path().join("journal");
    let mut journal = Journal::start(&jdir, 1 << 20, 1, Vec::new()).unwrap();
    let mut ends = Vec::new();
    for i in 0..3 {
        journal.append(&mut batch(i, 50)).unwrap();
        ends.push(journal.offset);
    }
    drop(journal);
    let segment = segment_files(&jdir).remove(0);
    let file = OpenOptions::new().write(true).open(&segment).unwrap();

    // Garbage after the last record.
    file.write_all_at(&[0xab; 40], ends[2]).unwrap();
    assert_eq!(replay_all(&jdir, 0).1.len(), 3);
    // A header claiming more bytes than the segment has.
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    header[4..12].copy_from_slice(&4u64.to_le_bytes());
    file.write_all_at(&header, ends[2]).unwrap();
    assert_eq!(replay_all(&jdir, 0).1.len(), 3);
    // A flipped bit in the last record's payload: its CRC fails, it never happened.
    file.write_all_at(&[0xff], ends[2] - 1).unwrap();
    let (replayed, records) = replay_all(&jdir, 0);
    assert_eq!((replayed.last_seq, records.len()), (2, 2));
    // A record out of sequence ends the segment too.
    let mut b = batch(9, 10);
    let len = (b.buf.len() - HEADER_LEN) as u32;
    b.buf[..4].copy_from_slice(&len.to_le_bytes());
    b.buf[4..12].copy_from_slice(&7u64.to_le_bytes());
    file.write_all_at(&b.buf, ends[1]).unwrap();
    assert_eq!(replay_all(&jdir, 0).1.len(), 2);
}

#[test]
fn full_segments_roll_over_and_retire_once_applied() {
    let dir = TempDir::new().unwrap();
    let jdir = dir.path().join("journal");
    let mut journal = Journal::start(&jdir, 4096, 1, Vec::new()).unwrap();
    let mut rolled_at = Vec::new();
    for i in 0..10 {
        // 1000-byte values: four records fill a 4 KiB segment.
        let appended = journal.append(&mut batch(i, 1000)).unwrap();
        if appended.rolled {
            rolled_at.push(appended.seq);
        }
    }
    assert_eq!(rolled_at, vec![4, 7, 10]);
    assert_eq!(segment_files(&jdir).len(), 4);
    // A record larger than a segment gets one of its own.
    let big = journal.append(&mut batch(10, 10_000)).unwrap();
    assert_eq!((big.seq, big.rolled), (11, true));
    let (replayed, records) = replay_all(&jdir, 0);
    assert_eq!(records.len(), 11);
    assert_eq!(records[10].1.len(), batch(10, 10_000).payload().len());
    assert_eq!(replayed.last_seq, 11);

    // Segments [1..3], [4..6], [7..9], [10], [11 (current)]: only fully applied ones go.
    assert!(journal.retire(2).is_empty());
    let retired = journal.retire(6);
    assert_eq!(retired.len(), 2);
    for path in &retired {
        remove_segment(path);
    }
    assert_eq!(replay_all(&jdir, 6).1.len(), 5, "records 7 to 11 remain");
    let retired = journal.retire(u64::MAX);
    assert_eq!(retired.len(), 2, "the current segment stays");
    for path in &retired {
        remove_segment(path);
    }
    assert_eq!(segment_files(&jdir).len(), 1);
    assert_eq!(replay_all(&jdir, 10).1.len(), 1);
}

#[test]
fn restart_continues_the_sequence_and_detects_missing_records() {
    let dir = TempDir::new().unwrap();
    let jdir = dir.path().join("journal");
    let mut journal = Journal::start(&jdir, 4096, 1, Vec::new()).unwrap();
    for i in 0..5 {
        journal.append(&mut batch(i, 1000)).unwrap();
    }
    drop(journal);
    let (replayed, _) = replay_all(&jdir, 0);
    assert_eq!(replayed.segments.len(), 2);
    // Everything replayed is durable elsewhere now: start over in a fresh segment.
    let mut journal = Journal::start(&jdir, 4096, 6, replayed.segments).unwrap();
    assert_eq!(journal.next_seq(), 6);
    assert_eq!(journal.append(&mut batch(5, 10)).unwrap().seq, 6);
    drop(journal);
    assert_eq!(segment_files(&jdir).len(), 1);
    let (replayed, records) = replay_all(&jdir, 5);
    assert_eq!((replayed.last_seq, records.len()), (6, 1));

    // Restarts without new records reuse the name of the empty segment.
    for _ in 0..2 {
        let (replayed, records) = replay_all(&jdir, 6);
        assert!(records.is_empty());
        assert_eq!(replayed.last_seq.max(6) + 1, 7);
        Journal::start(&jdir, 4096, 7, replayed.segments).unwrap();
    }
    assert_eq!(segment_files(&jdir).len(), 1);

    // Records 1 to 6 are gone, so a store holding less than 6 cannot recover.
    let err = Journal::replay(&jdir, 3, |_, _| Ok(())).unwrap_err();
    assert!(err.message.contains("missing"), "{}", err.message);
}
