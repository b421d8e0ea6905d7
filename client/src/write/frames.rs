//! One pipeline attempt: frames are read and digested on a blocking thread while the
//! connection sends them, so disk, hashing and network overlap.

use std::os::unix::fs::FileExt;

use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

use super::{BlockSource, Progress};
use crate::checksum::{BlockDigester, Digest, CHUNK_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Frame;
use crate::fs::Granary;
use crate::ids::BlockId;
use crate::protocol::{DatanodeInfo, WriteBlockAck};
use crate::transfer::{self, BlockSegment};

/// Sends `source` to `pipeline` as `segment` of `block`. A new replica's ack must match what
/// was sent byte for byte (length and digest); a segment's must cover the bytes before it
/// plus those sent (its digest covers chunks this writer never saw: the namenode checks it
/// against the datanodes' reports).
pub(super) async fn send(
    fs: &Granary,
    pipeline: &[DatanodeInfo],
    block: BlockId,
    segment: BlockSegment,
    source: &BlockSource,
    progress: Option<Progress>,
) -> Result<WriteBlockAck> {
    let (tx, ack) =
        transfer::write_block(&fs.data, pipeline, block, segment, fs.config.stall_timeout)?;
    let source = source.clone();
    let start_in_block = segment.append_from.unwrap_or(0);
    let given_up = CancellationToken::new();
    let stop = given_up.clone();
    let runtime = tokio::runtime::Handle::current();
    let producer = tokio::task::spawn_blocking(move || {
        let send = |item| send_unless_given_up(&runtime, &tx, item, &stop);
        produce_frames(&source, start_in_block, send, progress)
    });
    let ack = ack.await;
    // A connection stuck writing to a stalled peer never takes the producer's next frame.
    if ack.is_err() {
        given_up.cancel();
    }
    let produced = producer
        .await
        .map_err(|e| Error::internal(format!("frame producer: {e}")))?;
    // A local read error explains a failed request better than the request's own error.
    let (sent_len, digest) = produced?;
    let ack = ack?;
    let expected_len = start_in_block + sent_len;
    let digest_differs = segment.append_from.is_none() && ack.sha256 != digest;
    if ack.length != expected_len || digest_differs || ack.generation != segment.generation {
        return Err(Error::new(
            ErrorKind::ChecksumMismatch,
            format!(
                "block {block}: pipeline acknowledged {} bytes at {} with a different checksum",
                ack.length, ack.generation
            ),
        ));
    }
    Ok(ack)
}

/// Errors after which the same bytes can be re-sent on a pipeline without the culprit.
pub(super) fn is_pipeline_fault(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::PipelineFailed
            | ErrorKind::Busy
            | ErrorKind::Unavailable
            | ErrorKind::Io
            | ErrorKind::ChecksumMismatch
            | ErrorKind::Internal
    )
}

/// Queues one item of a request body from a blocking thread; false once the request is gone or
/// the write was given up.
fn send_unless_given_up(
    runtime: &tokio::runtime::Handle,
    tx: &transfer::BodySender,
    item: std::io::Result<Bytes>,
    given_up: &CancellationToken,
) -> bool {
    runtime.block_on(async {
        tokio::select! {
            sent = tx.send(item) => sent.is_ok(),
            () = given_up.cancelled() => false,
        }
    })
}

/// Reads the source in frames that keep to the block's chunk grid (the first one only fills
/// the chunk `start_in_block` falls inside), seals each and sends it. Returns the bytes sent
/// and the digest over the frames' digests (the block digest when the source is a whole new
/// replica). Stops quietly if the request went away.
fn produce_frames(
    source: &BlockSource,
    start_in_block: u64,
    send: impl Fn(std::io::Result<Bytes>) -> bool,
    progress: Option<Progress>,
) -> Result<(u64, Digest)> {
    let mut digester = BlockDigester::new();
    let mut sent = 0u64;
    while sent < source.length {
        let in_chunk = ((start_in_block + sent) % CHUNK_SIZE as u64) as usize;
        let len = (CHUNK_SIZE - in_chunk).min((source.length - sent) as usize);
        let mut chunk = BytesMut::zeroed(len);
        if let Err(e) = source.file.read_exact_at(&mut chunk, source.offset + sent) {
            send(Err(std::io::Error::other("local read failed")));
            return Err(Error::io("reading local file", e));
        }
        let frame = Frame::seal(Bytes::from(chunk));
        digester.push(&frame.digest, len);
        if !send(Ok(frame.write_header())) || !send(Ok(frame.data)) {
            break;
        }
        sent += len as u64;
        if let Some(progress) = &progress {
            progress(source.progress_base + sent);
        }
    }
    Ok((sent, digester.finish()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The payload lengths `produce_frames` sends for `length` bytes starting `start_in_block`
    /// bytes into a block, and the bytes themselves.
    fn frames_of(length: usize, start_in_block: u64) -> (Vec<usize>, Vec<u8>) {
        let data: Vec<u8> = (0..length).map(|i| (i % 253) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let source = BlockSource::whole(Arc::new(file), length as u64, 0);
        let items = Mutex::new(Vec::new());
        let send = |item: std::io::Result<Bytes>| {
            items.lock().unwrap().push(item.unwrap());
            true
        };
        let (sent, _) = produce_frames(&source, start_in_block, send, None).unwrap();
        assert_eq!(sent, length as u64);
        let items = items.into_inner().unwrap();
        // Header, payload, header, payload, ...
        let payloads: Vec<&Bytes> = items.iter().skip(1).step_by(2).collect();
        let lengths = payloads.iter().map(|p| p.len()).collect();
        (
            lengths,
            payloads.into_iter().flat_map(|p| p.to_vec()).collect(),
        )
    }

    #[test]
    fn a_segment_starting_inside_a_chunk_first_fills_that_chunk() {
        let (lengths, bytes) = frames_of(2 * CHUNK_SIZE + 10, 100);
        assert_eq!(lengths, vec![CHUNK_SIZE - 100, CHUNK_SIZE, 110]);
        assert_eq!(bytes.len(), 2 * CHUNK_SIZE + 10);
        assert!(bytes.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8));
        let (lengths, _) = frames_of(50, CHUNK_SIZE as u64 - 20);
        assert_eq!(lengths, vec![20, 30]);
    }

    #[test]
    fn a_segment_on_the_chunk_grid_sends_whole_chunks() {
        let (lengths, _) = frames_of(CHUNK_SIZE + 1, 3 * CHUNK_SIZE as u64);
        assert_eq!(lengths, vec![CHUNK_SIZE, 1]);
        let (lengths, _) = frames_of(CHUNK_SIZE, 0);
        assert_eq!(lengths, vec![CHUNK_SIZE]);
    }
}
