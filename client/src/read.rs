//! The file reader: each block from the first replica that serves it, each chunk checked by
//! its CRC (the datanode verified its SHA-256 before sending it) and a whole block against the
//! namenode's block digest. On a connection error, an HTTP error, a broken stream, a CRC
//! mismatch or a datanode that sends nothing for the stall timeout the read continues from the
//! same offset on the next replica; a replica its datanode found corrupt (`checksum_mismatch`)
//! is also reported to the namenode. Replicas that answered `busy` (at their transfer limit),
//! when no other served the block, are tried again after a doubling back-off.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::backoff::Backoff;
use crate::checksum::{BlockDigester, CHUNK_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::fs::Granary;
use crate::ids::DatanodeId;
use crate::protocol::{
    DatanodeInfo, FileStatus, LocatedBlock, LocatedFile, ReportBadReplicaRequest,
};
use crate::transfer;

/// Verified chunks in flight between the block fetcher and the consumer.
const READ_AHEAD_CHUNKS: usize = 16;

/// An open file: its status and block locations as of `open`.
#[derive(Clone)]
pub struct FileReader {
    fs: Granary,
    located: LocatedFile,
}

impl FileReader {
    pub(crate) fn new(fs: Granary, located: LocatedFile) -> Self {
        FileReader { fs, located }
    }

    pub fn status(&self) -> &FileStatus {
        &self.located.status
    }

    pub fn len(&self) -> u64 {
        self.located.status.length
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn blocks(&self) -> &[LocatedBlock] {
        &self.located.blocks
    }

    /// The verified bytes of `[offset, offset + length)`, clamped to the end of the file.
    pub fn read_range(
        &self,
        offset: u64,
        length: u64,
    ) -> impl Stream<Item = Result<Bytes>> + Send + Unpin + 'static {
        let end = offset.saturating_add(length).min(self.len());
        let (tx, rx) = mpsc::channel(READ_AHEAD_CHUNKS);
        let reader = self.clone();
        tokio::spawn(async move {
            if let Err(e) = reader.pump(offset, end, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed()
    }

    /// The whole file.
    pub fn read_all(&self) -> impl Stream<Item = Result<Bytes>> + Send + Unpin + 'static {
        self.read_range(0, self.len())
    }

    /// `[offset, offset + length)` as a buffered reader (for decoders and line readers), as
    /// bounded as [`FileReader::read_range`]. A failed read is an `io::Error` wrapping the
    /// library's [`Error`] (see [`Error::from_io`]).
    pub fn range_reader(
        &self,
        offset: u64,
        length: u64,
    ) -> impl AsyncBufRead + Send + Unpin + 'static {
        StreamReader::new(
            self.read_range(offset, length)
                .map(|chunk| chunk.map_err(std::io::Error::other)),
        )
    }

    /// Copies the whole file into `out`, calling `progress` with the bytes written so far.
    pub async fn copy_to<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        progress: Option<&(dyn Fn(u64) + Sync)>,
    ) -> Result<u64> {
        let mut stream = self.read_all();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            out.write_all(&chunk)
                .await
                .map_err(|e| Error::io("writing output", e))?;
            written += chunk.len() as u64;
            if let Some(progress) = progress {
                progress(written);
            }
        }
        out.flush()
            .await
            .map_err(|e| Error::io("writing output", e))?;
        Ok(written)
    }

    async fn pump(&self, offset: u64, end: u64, tx: &mpsc::Sender<Result<Bytes>>) -> Result<()> {
        // Datanodes that failed this read are tried last for its later blocks (as HDFS's
        // dead-node list), so a stopped one costs one stall timeout, not one per block.
        let mut failed_nodes = Vec::new();
        for block in &self.located.blocks {
            let block_end = block.offset + block.length;
            if block_end <= offset || block.offset >= end {
                continue;
            }
            let from = offset.saturating_sub(block.offset);
            let to = end.min(block_end) - block.offset;
            if !self
                .pump_block(block, from, to, tx, &mut failed_nodes)
                .await?
            {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends `[from, to)` of one block, failing over between replicas. Returns false when the
    /// consumer went away.
    async fn pump_block(
        &self,
        block: &LocatedBlock,
        from: u64,
        to: u64,
        tx: &mpsc::Sender<Result<Bytes>>,
        failed_nodes: &mut Vec<DatanodeId>,
    ) -> Result<bool> {
        let path = &self.located.status.path;
        if block.locations.is_empty() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "{path}: block {} (offset {}) has no live replica",
                    block.id, block.offset
                ),
            ));
        }
        let mut cursor = BlockCursor {
            pos: from,
            to,
            // Whole-block reads are also checked against the block digest the namenode recorded.
            digester: (from == 0 && to == block.length).then(BlockDigester::new),
        };
        let mut failures = Vec::new();
        let mut backoff = Backoff::busy();
        let mut replicas: Vec<&DatanodeInfo> = block.locations.iter().collect();
        // Stable: the namenode's order among the healthy and among the failed.
        replicas.sort_by_key(|replica| failed_nodes.contains(&replica.id));
        for round in 0..=self.fs.config.busy_retries {
            let mut busy = Vec::new();
            for replica in replicas {
                match self.pump_replica(block, replica, &mut cursor, tx).await {
                    Ok(true) => break,
                    Ok(false) => return Ok(false),
                    Err(e) => {
                        tracing::warn!(
                            "{path}: block {} on {}: {e}; trying the next replica",
                            block.id,
                            replica.id
                        );
                        if e.kind == ErrorKind::ChecksumMismatch {
                            self.report_bad(block, replica, &e).await;
                        }
                        if e.kind == ErrorKind::Busy {
                            busy.push(replica);
                        } else if !failed_nodes.contains(&replica.id) {
                            failed_nodes.push(replica.id.clone());
                        }
                        failures.push(format!("{}: {}", replica.id, e.message));
                    }
                }
            }
            if cursor.pos >= cursor.to || busy.is_empty() || round == self.fs.config.busy_retries {
                break;
            }
            // The replicas left are at their transfer limit: one frees a slot when a transfer
            // ends. The others failed for good.
            // Nobody is left to read for: the consumer dropped the stream.
            if tx.is_closed() {
                return Ok(false);
            }
            replicas = busy;
            backoff.wait().await;
        }
        if cursor.pos < cursor.to {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "{path}: block {} failed on every replica ({})",
                    block.id,
                    failures.join("; ")
                ),
            ));
        }
        if let Some(digester) = cursor.digester.take() {
            if digester.finish() != block.sha256 {
                return Err(Error::new(
                    ErrorKind::ChecksumMismatch,
                    format!(
                        "{path}: block {} does not match its recorded checksum",
                        block.id
                    ),
                ));
            }
        }
        Ok(true)
    }

    /// Reads from one replica until the range is done (true), the consumer leaves (false), or
    /// the replica fails (error; `cursor` says how far it got).
    async fn pump_replica(
        &self,
        block: &LocatedBlock,
        replica: &DatanodeInfo,
        cursor: &mut BlockCursor,
        tx: &mpsc::Sender<Result<Bytes>>,
    ) -> Result<bool> {
        let mut chunk_start = cursor.pos - cursor.pos % CHUNK_SIZE as u64;
        let mut frames = transfer::read_block(
            &self.fs.data,
            replica,
            block.id,
            block.generation,
            cursor.pos,
            cursor.to - cursor.pos,
            self.fs.config.stall_timeout,
        )
        .await?;
        while cursor.pos < cursor.to {
            // The codec checked the frame's CRC: these are the bytes the datanode verified.
            let frame = match frames.next().await {
                Some(frame) => frame.map_err(|e| e.with_datanode(replica.id.clone()))?,
                None => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("stream ended at offset {} of the block", cursor.pos),
                    ))
                }
            };
            let expected_len = (block.length - chunk_start).min(CHUNK_SIZE as u64);
            if frame.data.len() as u64 != expected_len {
                // A replica that grew since the block was located (an append, or its writer's
                // next segment after an hflush) sends the chunk at the located end whole. The
                // bytes up to the located length are as checked as any (the datanode verified
                // the chunk, the CRC its transfer), but the block no longer has the digest
                // recorded for that length.
                let grew = chunk_start + expected_len == block.length
                    && frame.data.len() as u64 > expected_len;
                if !grew {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!(
                            "unexpected chunk of {} bytes at offset {chunk_start}",
                            frame.data.len()
                        ),
                    ));
                }
                cursor.digester = None;
            }
            if let Some(digester) = cursor.digester.as_mut() {
                digester.push(&frame.digest, frame.data.len());
            }
            let skip = (cursor.pos - chunk_start) as usize;
            let take = (cursor.to - cursor.pos).min(frame.data.len() as u64 - skip as u64) as usize;
            let piece = frame.data.slice(skip..skip + take);
            chunk_start += frame.data.len() as u64;
            cursor.pos += take as u64;
            if tx.send(Ok(piece)).await.is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn report_bad(&self, block: &LocatedBlock, replica: &DatanodeInfo, e: &Error) {
        let req = ReportBadReplicaRequest {
            block: block.id,
            datanode: replica.id.clone(),
            reason: e.message.clone(),
        };
        if let Err(report_error) = self.fs.nn.report_bad_replica(&req).await {
            tracing::warn!(
                "reporting corrupt replica of {} on {}: {report_error}",
                block.id,
                replica.id
            );
        }
    }
}

/// How far a block read has got: `pos` only moves forward, across replicas.
struct BlockCursor {
    pos: u64,
    to: u64,
    digester: Option<BlockDigester>,
}
