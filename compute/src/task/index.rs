//! [`MAP_INDEX_FILE`], the index of a map's output file: where each partition's run lies and
//! its CRC32C. Version 2: `"GRNMIDX\x02"`, then `[u64 LE offset][u64 LE length][u32 LE crc32c]`
//! per partition, then the CRC32C of everything before it.

use std::fs;
use std::io;
use std::path::Path;

use super::format::corrupt;
use super::{MapOutputIndex, Segment, MAP_INDEX_FILE};
use crate::error::TaskError;

/// First bytes of a [`MAP_INDEX_FILE`]; the last byte is the format's version. Version 1 (bare
/// `(offset, length)` pairs, no checksums) is refused: map output never outlives its datanode's
/// process, so no such file can be met.
const INDEX_MAGIC: [u8; 8] = *b"GRNMIDX\x02";
/// `[u64 LE offset][u64 LE length][u32 LE crc32c]` per partition.
const INDEX_ENTRY: usize = 20;
/// The index ends with the CRC32C of everything before it, so a damaged index is never
/// mistaken for ranges and checksums.
const INDEX_TRAILER: usize = 4;

/// Writes [`MAP_INDEX_FILE`] through a temporary file and a rename, so a reader sees either no
/// index or a whole one. Called once the output file is complete.
pub(crate) fn write_index(work_dir: &Path, partitions: &[Segment]) -> Result<(), TaskError> {
    let mut bytes = Vec::with_capacity(INDEX_MAGIC.len() + partitions.len() * INDEX_ENTRY + 4);
    bytes.extend_from_slice(&INDEX_MAGIC);
    for segment in partitions {
        bytes.extend_from_slice(&segment.offset.to_le_bytes());
        bytes.extend_from_slice(&segment.length.to_le_bytes());
        bytes.extend_from_slice(&segment.crc32c.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let temp = work_dir.join(format!("{MAP_INDEX_FILE}.tmp"));
    let path = work_dir.join(MAP_INDEX_FILE);
    fail::fail_point!("map::output_commit");
    fs::write(&temp, &bytes)
        .and_then(|()| fs::rename(&temp, &path))
        .map_err(|e| TaskError::io(format!("writing {}", path.display()), e))
}

pub(crate) fn load_index(work_dir: &Path) -> Result<MapOutputIndex, TaskError> {
    let path = work_dir.join(MAP_INDEX_FILE);
    let context = || format!("reading {}", path.display());
    let bytes = fs::read(&path).map_err(|e| TaskError::io(context(), e))?;
    let partitions = parse_index(&bytes).map_err(|e| TaskError::io(context(), e))?;
    Ok(MapOutputIndex { partitions })
}

fn parse_index(bytes: &[u8]) -> io::Result<Vec<Segment>> {
    let whole = bytes
        .len()
        .checked_sub(INDEX_MAGIC.len() + INDEX_TRAILER)
        .is_some_and(|entries| entries % INDEX_ENTRY == 0);
    if !whole {
        return Err(corrupt("the index has a length no index can have"));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - INDEX_TRAILER);
    if body[..INDEX_MAGIC.len()] != INDEX_MAGIC {
        return Err(corrupt("the index does not start with the version 2 magic"));
    }
    if crc32c::crc32c(body).to_le_bytes() != trailer {
        return Err(corrupt("the index does not match its checksum"));
    }
    let entries = &body[INDEX_MAGIC.len()..];
    let u64_at = |at: &[u8]| u64::from_le_bytes(at.try_into().unwrap_or([0; 8]));
    let u32_at = |at: &[u8]| u32::from_le_bytes(at.try_into().unwrap_or([0; 4]));
    Ok(entries
        .chunks_exact(INDEX_ENTRY)
        .map(|entry| Segment {
            offset: u64_at(&entry[..8]),
            length: u64_at(&entry[8..16]),
            crc32c: u32_at(&entry[16..]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let segment = |offset, length, crc32c| Segment {
            offset,
            length,
            crc32c,
        };
        let partitions = vec![
            segment(0, 10, 7),
            segment(10, 0, 0),
            segment(10, 5, u32::MAX),
        ];
        write_index(dir.path(), &partitions).unwrap();
        assert_eq!(load_index(dir.path()).unwrap().partitions, partitions);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![MAP_INDEX_FILE]);
        write_index(dir.path(), &[]).unwrap();
        assert_eq!(load_index(dir.path()).unwrap().partitions, vec![]);
    }

    #[test]
    fn a_damaged_or_old_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let partitions = [Segment {
            offset: 0,
            length: 300,
            crc32c: 0x1234_5678,
        }];
        write_index(dir.path(), &partitions).unwrap();
        let path = dir.path().join(MAP_INDEX_FILE);
        let good = fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert!(
                parse_index(&bad).is_err(),
                "a flipped bit at {at} went unnoticed"
            );
        }
        assert!(parse_index(&good[..good.len() - 1]).is_err());
        // Version 1: one bare (offset, length) pair.
        let mut old = 0u64.to_le_bytes().to_vec();
        old.extend_from_slice(&300u64.to_le_bytes());
        fs::write(&path, old).unwrap();
        assert!(load_index(dir.path()).is_err());
    }
}
