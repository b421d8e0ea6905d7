//! [`FileWriter`]: an open file to write to piece by piece, with hflush.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::writer::Writer;
use super::{create_request, BlockSource, PutOptions, PutSummary};
use crate::error::{Error, Result};
use crate::fs::Granary;
use crate::path::FsPath;

/// A file open for writing (created, or opened for append). Bytes are spooled to a local
/// temporary file until they fill the current block, or until [`FileWriter::hflush`], and
/// are then sent down the pipeline; memory use does not grow with the data. Readers see the
/// bytes of the last hflush (or, for an append, the old length) until [`FileWriter::close`].
/// A writer dropped without `close` keeps the file open until its lease runs out and the
/// namenode recovers it at what was hflushed.
pub struct FileWriter<'a> {
    writer: Writer<'a>,
    spool: Arc<File>,
    /// Bytes in the spool, not yet sent.
    pending: u64,
    /// Bytes sent so far.
    written: u64,
}

impl<'a> FileWriter<'a> {
    pub(crate) async fn create(
        fs: &'a Granary,
        dst: &FsPath,
        opts: &PutOptions,
    ) -> Result<FileWriter<'a>> {
        let created = fs
            .nn
            .create(&create_request(dst, opts, &fs.holder, false))
            .await?;
        FileWriter::around(Writer::created(fs, dst, &created, None))
    }

    pub(crate) async fn append(fs: &'a Granary, dst: &FsPath) -> Result<FileWriter<'a>> {
        FileWriter::around(Writer::append(fs, dst, None).await?)
    }

    fn around(writer: Writer<'a>) -> Result<FileWriter<'a>> {
        let spool = tempfile::tempfile().map_err(|e| Error::io("creating spool file", e))?;
        Ok(FileWriter {
            writer,
            spool: Arc::new(spool),
            pending: 0,
            written: 0,
        })
    }

    /// Queues `data`; each time the current block is filled it is sent.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = self.writer.room() - self.pending;
            let n = room.min(data.len() as u64) as usize;
            self.spool
                .write_all_at(&data[..n], self.pending)
                .map_err(|e| Error::io("writing spool file", e))?;
            self.pending += n as u64;
            data = &data[n..];
            if self.pending == self.writer.room() {
                self.send_pending().await?;
            }
        }
        Ok(())
    }

    /// Makes every byte written so far visible to new readers without closing the file
    /// (HDFS's `hflush`). Each datanode of the pipeline has also fsynced them by then, so this
    /// is [`FileWriter::hsync`] as well.
    pub async fn hflush(&mut self) -> Result<()> {
        self.send_pending().await?;
        self.writer.flush().await
    }

    /// Makes every byte written so far durable on every datanode of the pipeline, and visible
    /// (HDFS's `hsync`).
    pub async fn hsync(&mut self) -> Result<()> {
        self.hflush().await
    }

    /// Bytes accepted by `write` so far.
    pub fn written(&self) -> u64 {
        self.written + self.pending
    }

    /// Sends what is left and closes the file (releasing its lease).
    pub async fn close(mut self) -> Result<PutSummary> {
        let sent = self.send_pending().await;
        self.writer.close(sent).await
    }

    async fn send_pending(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let source = BlockSource::whole(self.spool.clone(), self.pending, self.written);
        self.writer.write_range(source).await?;
        self.written += self.pending;
        self.pending = 0;
        Ok(())
    }
}
