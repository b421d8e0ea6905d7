//! Copying a file inside the cluster. Server-side where the blocks allow: for each source
//! block the namenode adds a block to the copy (`add_cloned_block`) and names the live
//! datanodes holding the source, each of which copies its replica locally (`CloneReplica`)
//! and reports the new one as a pipeline would; no byte passes through the client. A block
//! no holder could clone is streamed instead (read from the source, written through a
//! pipeline), and so is every block when the namenode does not know the route (an older
//! one). The copy is an ordinary file under construction until `complete`: a failure
//! deletes it, as a failed put does.

use std::collections::HashSet;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures_util::StreamExt;

use super::writer::Writer;
use super::{create_request, put_empty, BlockSource, PutOptions};
use crate::config::ACK_WAIT_FACTOR;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::Granary;
use crate::ids::{DatanodeId, RequestId};
use crate::namenode::{decode_response, transport_reason};
use crate::path::FsPath;
use crate::protocol::*;
use crate::read::FileReader;

/// Options of a copy: the copy keeps the source's replication and block size.
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    /// Replace an existing file.
    pub overwrite: bool,
    /// Create missing parent directories.
    pub create_parents: bool,
}

/// What a copy did.
#[derive(Clone, Debug)]
pub struct CopySummary {
    pub status: FileStatus,
    /// Blocks whose replicas the datanodes cloned from the source's.
    pub cloned: usize,
    /// Blocks read from the source and written through a pipeline.
    pub streamed: usize,
    /// The fewest replicas any block of the copy was made on (the replication when there
    /// are no blocks); the namenode adds the missing ones after the copy closes.
    pub min_replicas: usize,
}

pub(crate) async fn copy_file(
    fs: &Granary,
    src: &FsPath,
    dst: &FsPath,
    opts: &CopyOptions,
) -> Result<CopySummary> {
    if src == dst {
        return Err(Error::invalid_argument(format!(
            "{src}: a file cannot be copied onto itself"
        )));
    }
    let reader = fs.open(src).await?;
    let status = reader.status().clone();
    let put = PutOptions {
        replication: Some(status.replication),
        block_size: Some(status.block_size),
        overwrite: opts.overwrite,
        create_parents: opts.create_parents,
    };
    if reader.blocks().is_empty() {
        let summary = put_empty(fs, dst, &put).await?;
        return Ok(CopySummary {
            min_replicas: summary.min_replicas,
            status: summary.status,
            cloned: 0,
            streamed: 0,
        });
    }
    let created = fs
        .nn
        .create(&create_request(dst, &put, &fs.holder, false))
        .await?;
    let mut writer = Writer::created(fs, dst, &created, None);
    let mut counts = (0, 0);
    let copied = copy_blocks(&mut writer, &reader, &mut counts).await;
    let summary = writer.close(copied).await?;
    Ok(CopySummary {
        status: summary.status,
        cloned: counts.0,
        streamed: counts.1,
        min_replicas: summary.min_replicas,
    })
}

/// Every block of `reader` into `writer`, cloned or streamed; counts (cloned, streamed).
async fn copy_blocks(
    writer: &mut Writer<'_>,
    reader: &FileReader,
    counts: &mut (usize, usize),
) -> Result<()> {
    let mut namenode_clones = true;
    // Datanodes that do not know the clone route (older ones): not asked again.
    let mut refusing = HashSet::new();
    for block in reader.blocks() {
        if namenode_clones {
            match writer.clone_block(block, &mut refusing).await {
                Ok(true) => {
                    counts.0 += 1;
                    continue;
                }
                Ok(false) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {
                    tracing::info!(
                        "{}: the namenode does not clone blocks ({e}); streaming the copy",
                        writer.path
                    );
                    namenode_clones = false;
                }
                Err(e) if can_stream_instead(e.kind) => {
                    tracing::info!(
                        "{}: {} cannot be cloned ({e}); streaming it",
                        writer.path,
                        block.id
                    );
                }
                Err(e) => return Err(e),
            }
        }
        writer.stream_block(reader, block).await?;
        counts.1 += 1;
    }
    Ok(())
}

/// Refusals of `add_cloned_block` that leave the copy free to stream the block.
fn can_stream_instead(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NoDatanodes
            | ErrorKind::StaleReplica
            | ErrorKind::UnknownBlock
            | ErrorKind::InvalidArgument
    )
}

impl Writer<'_> {
    /// Adds a clone of `source` as the file's next block, made by every live holder that
    /// can. `false` when none could (the block is abandoned; stream it instead).
    async fn clone_block(
        &mut self,
        source: &LocatedBlock,
        refusing: &mut HashSet<DatanodeId>,
    ) -> Result<bool> {
        let allocated = self
            .fs
            .nn
            .add_cloned_block(&AddClonedBlockRequest {
                path: self.path.clone(),
                file: self.file,
                source: source.id,
                source_generation: source.generation,
                previous: self.committed.last().cloned(),
                holder: self.fs.holder.clone(),
                request_id: RequestId::new(),
            })
            .await?;
        let request = CloneReplicaRequest {
            source: source.id,
            source_generation: source.generation,
            generation: allocated.generation,
            length: allocated.length,
        };
        let asked: Vec<&DatanodeInfo> = allocated
            .holders
            .iter()
            .filter(|h| !refusing.contains(&h.id))
            .collect();
        let answers = futures_util::future::join_all(
            asked
                .iter()
                .map(|holder| clone_on(self.fs, holder, allocated.block, &request)),
        )
        .await;
        let mut persisted_on = Vec::new();
        for (holder, answer) in asked.into_iter().zip(answers) {
            match answer {
                Ok(ack)
                    if (ack.generation, ack.length, ack.sha256)
                        == (allocated.generation, allocated.length, allocated.sha256) =>
                {
                    persisted_on.push(holder.id.clone())
                }
                Ok(ack) => tracing::warn!(
                    "{}: {} cloned {} as {} bytes at {}, not as located; not counted",
                    self.path,
                    holder.id,
                    source.id,
                    ack.length,
                    ack.generation
                ),
                Err(e) => {
                    if e.kind == ErrorKind::NotFound {
                        refusing.insert(holder.id.clone());
                    }
                    tracing::info!(
                        "{}: {} could not clone {}: {e}",
                        self.path,
                        holder.id,
                        source.id
                    );
                }
            }
        }
        if persisted_on.is_empty() {
            self.abandon(allocated.block).await;
            return Ok(false);
        }
        self.min_replicas = self.min_replicas.min(persisted_on.len());
        self.committed.push(CommittedBlock {
            id: allocated.block,
            generation: allocated.generation,
            length: allocated.length,
            sha256: allocated.sha256,
            persisted_on,
        });
        // A clone is never continued in place: the next source block starts a block of its own.
        self.tail = None;
        Ok(true)
    }

    /// Reads `block` of the source into a spool file (bounded memory, as a put of a stream)
    /// and writes it as new blocks of the copy.
    async fn stream_block(&mut self, reader: &FileReader, block: &LocatedBlock) -> Result<()> {
        let spool =
            Arc::new(tempfile::tempfile().map_err(|e| Error::io("creating spool file", e))?);
        let mut bytes = reader.read_range(block.offset, block.length);
        let mut spooled = 0u64;
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk?;
            spool
                .write_all_at(&chunk, spooled)
                .map_err(|e| Error::io("writing spool file", e))?;
            spooled += chunk.len() as u64;
        }
        if spooled != block.length {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "{}: reading {} gave {spooled} of its {} bytes",
                    self.path, block.id, block.length
                ),
            ));
        }
        self.tail = None;
        self.write_range(BlockSource::whole(spool, spooled, block.offset))
            .await
    }
}

/// Asks `holder` to clone its replica of the source as `target`, bounded as a pipeline's ack
/// is (a stopped node keeps its connections open).
async fn clone_on(
    fs: &Granary,
    holder: &DatanodeInfo,
    target: crate::ids::BlockId,
    request: &CloneReplicaRequest,
) -> Result<WriteBlockAck> {
    let unavailable = |reason: String| {
        Error::new(
            ErrorKind::Unavailable,
            format!("datanode {} ({}): {reason}", holder.id, holder.addr),
        )
        .with_datanode(holder.id.clone())
    };
    let builder = routes::request::<routes::CloneReplica>(&fs.data, holder.addr, &target);
    let call = async {
        let response = routes::with_request::<routes::CloneReplica>(builder, request)
            .send()
            .await
            .map_err(|e| unavailable(transport_reason(&e)))?;
        decode_response::<WriteBlockAck>(response, "datanode").await
    };
    let limit = fs.config.stall_timeout * ACK_WAIT_FACTOR;
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| unavailable(format!("no answer within {limit:?}")))?
}
