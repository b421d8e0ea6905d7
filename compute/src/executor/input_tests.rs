//! Map input assembly over a fake block store and fake remote reads of a 25-byte file in
//! blocks of 10, 10 and 5 bytes.

use std::collections::HashMap;
use std::io::{self, Cursor, Read};
use std::sync::{Arc, Mutex};

use granary_client::protocol::InputSplit;
use granary_client::{BlockId, FsPath};

use super::{BlockExtent, InputFile, RemoteRanges};
use crate::executor::LocalBlocks;
use crate::task::InputReader;

fn file_bytes() -> Vec<u8> {
    (b'a'..b'a' + 25).collect()
}

fn extents() -> Vec<BlockExtent> {
    [(1, 0, 10), (2, 10, 10), (3, 20, 5)]
        .into_iter()
        .map(|(id, offset, length)| BlockExtent {
            id: BlockId(id),
            offset,
            length,
        })
        .collect()
}

/// Holds some of the blocks; a block in `fail_after` errors after that many bytes, as a
/// replica with a corrupt chunk does.
#[derive(Default)]
struct FakeBlocks {
    held: HashMap<BlockId, Vec<u8>>,
    fail_after: HashMap<BlockId, usize>,
}

impl FakeBlocks {
    fn holding(ids: &[u64]) -> Self {
        let data = file_bytes();
        let held = extents()
            .into_iter()
            .filter(|b| ids.contains(&b.id.0))
            .map(|b| {
                let range = b.offset as usize..(b.offset + b.length) as usize;
                (b.id, data[range].to_vec())
            })
            .collect();
        FakeBlocks {
            held,
            ..Default::default()
        }
    }
}

struct Failing;

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::InvalidData, "chunk mismatch"))
    }
}

impl LocalBlocks for FakeBlocks {
    fn open(&self, block: BlockId, offset: u64, len: u64) -> Option<io::Result<InputReader>> {
        let data = self.held.get(&block)?;
        let bytes = data[offset as usize..(offset + len) as usize].to_vec();
        Some(Ok(match self.fail_after.get(&block) {
            Some(&good) => Box::new(Cursor::new(bytes[..good].to_vec()).chain(Failing)),
            None => Box::new(Cursor::new(bytes)),
        }))
    }
}

/// Serves ranges of the file, recording each one opened; `short` drops the last byte.
#[derive(Default)]
struct FakeRemote {
    opened: Mutex<Vec<(u64, u64)>>,
    short: bool,
}

impl RemoteRanges for FakeRemote {
    fn open_range(&self, offset: u64, length: u64) -> io::Result<InputReader> {
        self.opened.lock().unwrap().push((offset, length));
        let end = (offset + length) as usize - usize::from(self.short);
        Ok(Box::new(Cursor::new(
            file_bytes()[offset as usize..end].to_vec(),
        )))
    }
}

fn split(block: u64) -> InputSplit {
    let extent = extents()[block as usize - 1];
    InputSplit {
        file: FsPath::parse("/in/data.txt").unwrap(),
        file_length: 25,
        offset: extent.offset,
        length: extent.length,
        block: extent.id,
        locations: Vec::new(),
    }
}

fn input(local: FakeBlocks) -> (Arc<InputFile>, Arc<FakeRemote>) {
    input_with(local, FakeRemote::default())
}

fn input_with(local: FakeBlocks, remote: FakeRemote) -> (Arc<InputFile>, Arc<FakeRemote>) {
    let remote = Arc::new(remote);
    let file = InputFile::new(extents(), Arc::new(local), remote.clone());
    (file, remote)
}

fn read_all(mut reader: impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn first_split_reads_its_block_locally_and_the_tail_block_by_block() {
    let (file, remote) = input(FakeBlocks::holding(&[1, 3]));
    let map_input = file.map_input(&split(1)).unwrap();
    assert_eq!(read_all(map_input.head).unwrap(), file_bytes()[..10]);
    assert_eq!(file.bytes_read(), (10, 0));
    assert!(remote.opened.lock().unwrap().is_empty());
    let mut tail = (map_input.open_tail)().unwrap();
    let mut start = [0u8; 3];
    tail.read_exact(&mut start).unwrap();
    assert_eq!(start, file_bytes()[10..13]);
    assert_eq!(*remote.opened.lock().unwrap(), [(10, 10)]);
    assert_eq!(read_all(tail).unwrap(), file_bytes()[13..]);
    assert_eq!(file.bytes_read(), (15, 10));
}

#[test]
fn later_split_starts_with_the_previous_blocks_last_byte() {
    let (file, remote) = input(FakeBlocks::holding(&[2]));
    let map_input = file.map_input(&split(2)).unwrap();
    assert_eq!(read_all(map_input.head).unwrap(), file_bytes()[9..20]);
    assert_eq!(*remote.opened.lock().unwrap(), [(9, 1)]);
    assert_eq!(file.bytes_read(), (10, 1));
    let tail = (map_input.open_tail)().unwrap();
    assert_eq!(read_all(tail).unwrap(), file_bytes()[20..]);
    assert_eq!(file.bytes_read(), (10, 6));
}

#[test]
fn last_split_has_an_empty_tail() {
    let (file, _) = input(FakeBlocks::holding(&[1, 2, 3]));
    let map_input = file.map_input(&split(3)).unwrap();
    assert_eq!(read_all(map_input.head).unwrap(), file_bytes()[19..]);
    assert!(read_all((map_input.open_tail)().unwrap())
        .unwrap()
        .is_empty());
    assert_eq!(file.bytes_read(), (6, 0));
}

#[test]
fn a_failing_local_replica_is_read_on_from_another_datanode() {
    let mut local = FakeBlocks::holding(&[1]);
    local.fail_after.insert(BlockId(1), 4);
    let (file, remote) = input(local);
    let map_input = file.map_input(&split(1)).unwrap();
    assert_eq!(read_all(map_input.head).unwrap(), file_bytes()[..10]);
    assert_eq!(*remote.opened.lock().unwrap(), [(4, 6)]);
    assert_eq!(file.bytes_read(), (4, 6));
}

#[test]
fn a_short_remote_read_is_an_error() {
    let remote = FakeRemote {
        short: true,
        ..Default::default()
    };
    let (file, _) = input_with(FakeBlocks::default(), remote);
    let map_input = file.map_input(&split(1)).unwrap();
    let error = read_all(map_input.head).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn a_split_the_file_no_longer_has_is_refused() {
    let (file, _) = input(FakeBlocks::default());
    let mut moved = split(2);
    moved.offset = 12;
    assert!(file.map_input(&moved).is_err());
    let mut other_block = split(2);
    other_block.block = BlockId(99);
    assert!(file.map_input(&other_block).is_err());
}
