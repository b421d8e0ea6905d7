//! Reads a small range of a file for the `sort` sample: the file is located in process, and
//! its bytes come from the datanodes, each block from the first replica that serves it whole.
//! The frames' CRCs are checked by the codec (the datanode verified each chunk's SHA-256
//! before sending it). A replica found corrupt is marked by its datanode itself.

use std::time::Duration;

use futures_util::StreamExt;
use granary_client::protocol::{LocatedBlock, LocatedFile};
use granary_client::{Error, ErrorKind, CHUNK_SIZE};

/// The bytes of `[offset, offset + len)` of `located`, clamped to its end.
pub async fn read_range(
    http: &reqwest::Client,
    located: &LocatedFile,
    offset: u64,
    len: u64,
    stall: Duration,
) -> Result<Vec<u8>, Error> {
    let end = offset.saturating_add(len).min(located.status.length);
    let mut bytes = Vec::with_capacity(end.saturating_sub(offset) as usize);
    for block in &located.blocks {
        let block_end = block.offset + block.length;
        if block_end <= offset || block.offset >= end {
            continue;
        }
        let from = offset.saturating_sub(block.offset);
        let to = end.min(block_end) - block.offset;
        bytes.extend(read_block(http, located, block, from, to, stall).await?);
    }
    Ok(bytes)
}

/// `[from, to)` of one block, from the first replica that serves all of it.
async fn read_block(
    http: &reqwest::Client,
    located: &LocatedFile,
    block: &LocatedBlock,
    from: u64,
    to: u64,
    stall: Duration,
) -> Result<Vec<u8>, Error> {
    let mut failures = Vec::new();
    for replica in &block.locations {
        match read_replica(http, block, replica, from, to, stall).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) => failures.push(format!("{}: {}", replica.id, e.message)),
        }
    }
    Err(Error::new(
        ErrorKind::Unavailable,
        format!(
            "{}: block {} could not be read from any replica ({})",
            located.status.path,
            block.id,
            failures.join("; ")
        ),
    ))
}

async fn read_replica(
    http: &reqwest::Client,
    block: &LocatedBlock,
    replica: &granary_client::protocol::DatanodeInfo,
    from: u64,
    to: u64,
    stall: Duration,
) -> Result<Vec<u8>, Error> {
    let mut frames = granary_client::transfer::read_block(
        http,
        replica,
        block.id,
        block.generation,
        from,
        to - from,
        stall,
    )
    .await?;
    // The first frame starts at the chunk boundary at or before `from`.
    let mut chunk_start = from - from % CHUNK_SIZE as u64;
    let mut bytes = Vec::with_capacity((to - from) as usize);
    while chunk_start < to {
        let Some(frame) = frames.next().await else {
            return Err(Error::new(
                ErrorKind::Io,
                format!("stream ended at offset {chunk_start} of the block"),
            ));
        };
        let data = frame?.data;
        if data.is_empty() {
            return Err(Error::new(ErrorKind::Io, "an empty frame inside the block"));
        }
        let start = from.saturating_sub(chunk_start).min(data.len() as u64) as usize;
        let stop = (to - chunk_start).min(data.len() as u64) as usize;
        bytes.extend_from_slice(&data[start..stop]);
        chunk_start += data.len() as u64;
    }
    Ok(bytes)
}
