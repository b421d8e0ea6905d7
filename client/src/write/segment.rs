//! Continuing the file's last block in place: a segment of bytes appended to the replicas
//! that hold it, under a new generation (after an append reopened the block, or after an
//! hflush). A failed segment is re-sent from its start on the survivors, under yet another
//! generation: the datanodes discard a segment they did not finalize, and cut back one they
//! finalized that the namenode never committed, so the block is never left half-written.

use super::frames::is_pipeline_fault;
use super::writer::Writer;
use super::BlockSource;
use crate::backoff::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::RequestId;
use crate::protocol::{OpenBlock, ReopenBlockRequest};
use crate::transfer::BlockSegment;

impl Writer<'_> {
    /// Appends `source` to the last block, which has room for it.
    pub(super) async fn write_segment(&mut self, source: BlockSource) -> Result<()> {
        let mut failures = 0;
        let mut busy_rounds = 0;
        let mut busy_backoff = Backoff::busy();
        let mut last_error = None;
        while failures < self.fs.config.pipeline_attempts {
            let open = match self.tail.as_mut().and_then(|tail| tail.reopened.take()) {
                Some(open) => open,
                None => self.reopen().await?,
            };
            let expected_start = self.tail.as_ref().map_or(0, |tail| tail.length);
            if open.length != expected_start {
                return Err(Error::internal(format!(
                    "{}: the namenode reopened {} at {} bytes, the writer expected {expected_start}",
                    self.path, open.block, open.length
                )));
            }
            if open.pipeline.is_empty() {
                return Err(Error::new(
                    ErrorKind::NoDatanodes,
                    format!("{}: no live datanode holds {}", self.path, open.block),
                ));
            }
            let segment = BlockSegment {
                generation: open.generation,
                append_from: Some(open.length),
            };
            match self
                .send(&open.pipeline, open.block, segment, &source)
                .await
            {
                Ok(()) => return Ok(()),
                // The block's holders are the only possible pipeline: wait for a busy one.
                Err(e) if e.kind == ErrorKind::Busy => {
                    if busy_rounds == self.fs.config.busy_retries {
                        return Err(e);
                    }
                    busy_rounds += 1;
                    busy_backoff.wait().await;
                }
                Err(e) if is_pipeline_fault(&e) => {
                    let culprit = e
                        .datanode
                        .clone()
                        .unwrap_or_else(|| open.pipeline[0].id.clone());
                    tracing::warn!(
                        "{} of {}: segment pipeline failed at {culprit}: {e}; retrying without it",
                        open.block,
                        self.path
                    );
                    self.recoveries += 1;
                    failures += 1;
                    self.excluded.push(culprit);
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let message = last_error.map(|e| e.message).unwrap_or_default();
        Err(Error::new(
            ErrorKind::PipelineFailed,
            format!(
                "{}: could not append at offset {}: {message}",
                self.path, source.progress_base
            ),
        ))
    }

    /// A new generation of the last block and its pipeline of surviving holders.
    async fn reopen(&self) -> Result<OpenBlock> {
        let block = self
            .tail
            .as_ref()
            .map(|tail| tail.block)
            .ok_or_else(|| Error::internal("reopening a file with no last block"))?;
        self.fs
            .nn
            .reopen_block(&ReopenBlockRequest {
                path: self.path.clone(),
                file: self.file,
                block,
                excluded: self.excluded.clone(),
                holder: self.fs.holder.clone(),
                request_id: RequestId::new(),
            })
            .await
    }
}
