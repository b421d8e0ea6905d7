//! `Granary`: the client library's entry point, used by the CLI, the tests and the compute
//! engine alike.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncRead;

use crate::backoff::Backoff;
use crate::checksum::FileChecksum;
use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{DatanodeId, LeaseHolder, RequestId};
use crate::local_file::PartialFile;
use crate::namenode::NamenodeClient;
use crate::path::FsPath;
use crate::protocol::*;
use crate::read::FileReader;
use crate::transfer;
pub use crate::walk::Walk;
use crate::write::lease::LeaseRenewer;
use crate::write::{self, CopyOptions, CopySummary, FileWriter, Progress, PutOptions, PutSummary};

/// A handle on a cluster. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Granary {
    pub(crate) nn: NamenodeClient,
    /// Client for block traffic to datanodes.
    pub(crate) data: reqwest::Client,
    pub(crate) config: ClientConfig,
    /// This client's lease holder name, the same for every file it writes.
    pub(crate) holder: LeaseHolder,
    pub(crate) leases: Arc<LeaseRenewer>,
}

impl Granary {
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Granary {
            nn: NamenodeClient::new(&config)?,
            data: transfer::data_client(&config)?,
            config,
            holder: LeaseHolder::generate(),
            leases: Arc::default(),
        })
    }

    /// A client of the namenode at `url` with default settings.
    pub fn connect(url: &str) -> Result<Self> {
        Self::new(ClientConfig::new(url))
    }

    pub fn namenode_url(&self) -> &str {
        self.nn.url()
    }

    /// Who the calls are made as ([`ClientConfig::user`]).
    pub fn user(&self) -> &str {
        &self.config.user
    }

    /// The typed namenode client, for calls the facade does not wrap.
    pub fn namenode(&self) -> &NamenodeClient {
        &self.nn
    }

    /// Writes a local file to `dst`.
    pub async fn put_file(
        &self,
        local: &Path,
        dst: &FsPath,
        opts: &PutOptions,
        progress: Option<Progress>,
    ) -> Result<PutSummary> {
        write::put_file(self, local, dst, opts, progress).await
    }

    /// Writes everything `reader` yields to `dst`. The first read comes before the namenode
    /// is asked to create `dst` (an empty stream needs only one call), so a refused create is
    /// reported once the stream has yielded its first bytes, and those bytes are consumed.
    pub async fn put_reader<R: AsyncRead + Unpin>(
        &self,
        reader: R,
        dst: &FsPath,
        opts: &PutOptions,
        progress: Option<Progress>,
    ) -> Result<PutSummary> {
        write::put_reader(self, reader, dst, opts, progress).await
    }

    /// Appends a local file to the end of `dst`, which must be a complete file. Until the append
    /// completes, readers see the old length; a failed append leaves the old content, or what
    /// an earlier part of it made durable, and closes the file.
    pub async fn append_file(
        &self,
        local: &Path,
        dst: &FsPath,
        progress: Option<Progress>,
    ) -> Result<PutSummary> {
        write::append_file(self, local, dst, progress).await
    }

    /// Appends everything `reader` yields to the end of `dst`.
    pub async fn append_reader<R: AsyncRead + Unpin>(
        &self,
        reader: R,
        dst: &FsPath,
        progress: Option<Progress>,
    ) -> Result<PutSummary> {
        write::append_reader(self, reader, dst, progress).await
    }

    /// Creates `dst` and opens it for writing: bytes written become visible to readers at
    /// each [`FileWriter::hflush`], and all of them once it is closed.
    pub async fn create_writer(&self, dst: &FsPath, opts: &PutOptions) -> Result<FileWriter<'_>> {
        FileWriter::create(self, dst, opts).await
    }

    /// Opens the complete file `dst` for appending.
    pub async fn append_writer(&self, dst: &FsPath) -> Result<FileWriter<'_>> {
        FileWriter::append(self, dst).await
    }

    /// Shortens `path` to `length` bytes. Answers whether it is closed at once (the length
    /// fell on a block boundary); otherwise its last block is being cut, and
    /// [`Granary::wait_closed`] waits for that.
    pub async fn truncate(&self, path: &FsPath, length: u64) -> Result<TruncateResponse> {
        let req = TruncateRequest {
            path: path.clone(),
            length,
            holder: self.holder.clone(),
            request_id: RequestId::new(),
        };
        self.nn.truncate(&req).await
    }

    /// Moves the blocks of `sources` onto the end of `target` without copying data; the
    /// sources are removed.
    pub async fn concat(&self, target: &FsPath, sources: &[FsPath]) -> Result<FileStatus> {
        let req = ConcatRequest {
            target: target.clone(),
            sources: sources.to_vec(),
            request_id: RequestId::new(),
        };
        self.nn.concat(&req).await
    }

    /// Closes a file whose writer went away, now (`hdfs debug recoverLease`); answers whether
    /// it is closed already.
    pub async fn recover_lease(&self, path: &FsPath) -> Result<RecoverLeaseResponse> {
        let req = RecoverLeaseRequest {
            path: path.clone(),
            request_id: RequestId::new(),
        };
        self.nn.recover_lease(&req).await
    }

    /// Polls `path` until it is closed (no lease holder) or `timeout` passes; answers its
    /// status then.
    pub async fn wait_closed(&self, path: &FsPath, timeout: Duration) -> Result<FileStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            let status = self.stat(path).await?;
            if status.lease_holder.is_none() {
                return Ok(status);
            }
            let wait = backoff.next_wait();
            if tokio::time::Instant::now() + wait > deadline {
                return Err(Error::new(
                    ErrorKind::RecoveryInProgress,
                    format!(
                        "{path} is still open for writing by {}",
                        status.lease_holder.map(String::from).unwrap_or_default()
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// This client's lease holder name.
    pub fn lease_holder(&self) -> &LeaseHolder {
        &self.holder
    }

    /// Writes `data` to `dst` (for small files).
    pub async fn put_bytes(
        &self,
        data: &[u8],
        dst: &FsPath,
        opts: &PutOptions,
    ) -> Result<PutSummary> {
        self.put_reader(data, dst, opts, None).await
    }

    /// Copies the file `src` to `dst` inside the cluster, with the source's replication and
    /// block size: each block cloned by the datanodes holding it where they can (no byte
    /// through this client), streamed through this client otherwise. A failed copy deletes
    /// `dst`, as a failed put does.
    pub async fn copy_file(
        &self,
        src: &FsPath,
        dst: &FsPath,
        opts: &CopyOptions,
    ) -> Result<CopySummary> {
        write::clone::copy_file(self, src, dst, opts).await
    }

    /// Opens a file for reading; directories are refused.
    pub async fn open(&self, path: &FsPath) -> Result<FileReader> {
        Ok(FileReader::new(self.clone(), self.nn.locate(path).await?))
    }

    /// Reads a whole file into memory (for small files).
    pub async fn read_to_vec(&self, path: &FsPath) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open(path).await?.copy_to(&mut out, None).await?;
        Ok(out)
    }

    /// Copies `src` to the local file `dst`, through a temporary file renamed into place, so a
    /// failed get never leaves a partial file behind.
    pub async fn get_file(
        &self,
        src: &FsPath,
        dst: &Path,
        progress: Option<&(dyn Fn(u64) + Sync)>,
    ) -> Result<u64> {
        let reader = self.open(src).await?;
        let mut out = PartialFile::create(dst, ".granary-get-")?;
        let written = reader.copy_to(out.writer(), progress).await?;
        out.persist().await?;
        Ok(written)
    }

    pub async fn stat(&self, path: &FsPath) -> Result<FileStatus> {
        self.nn.stat(path).await
    }

    /// `None` when nothing is at `path`.
    pub async fn try_stat(&self, path: &FsPath) -> Result<Option<FileStatus>> {
        match self.nn.stat(path).await {
            Ok(status) => Ok(Some(status)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A directory's children (every entry below it when `recursive`), or a file itself,
    /// sorted by path. Read page by page; the whole answer is held in memory, so walks of
    /// large trees should use [`Granary::walk`] instead.
    pub async fn list(&self, path: &FsPath, recursive: bool) -> Result<Vec<FileStatus>> {
        let mut walk = match recursive {
            true => self.walk(path),
            false => self.walk(path).children_only(),
        };
        let mut entries = Vec::new();
        while let Some(entry) = walk.next().await? {
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// One page of a listing: at most `limit` (default and cap: the namenode's `ls_limit`)
    /// entries after the child named `start_after`.
    pub async fn list_page(
        &self,
        path: &FsPath,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListResponse> {
        self.nn.list(path, start_after, limit).await
    }

    /// Every entry below `path` (or the file at `path`), directories before their contents,
    /// fetched a page at a time as the walk goes.
    pub fn walk(&self, path: &FsPath) -> Walk {
        Walk::new(self.clone(), path.clone())
    }

    pub async fn locate(&self, path: &FsPath) -> Result<LocatedFile> {
        self.nn.locate(path).await
    }

    /// The totals of everything at or below `path`: directories, files, bytes and the space
    /// they consume at their replication (HDFS's `getContentSummary`). The namenode counts
    /// it in short steps, so a huge subtree takes a while but never blocks other calls long.
    pub async fn content_summary(&self, path: &FsPath) -> Result<ContentSummary> {
        self.nn.content_summary(path).await
    }

    /// The checksum of the file at `path` ([`FileChecksum`]), from the block digests the
    /// namenode keeps. Refused for a directory, and while a truncate is cutting the file's
    /// last block (its digest is not known yet).
    pub async fn file_checksum(&self, path: &FsPath) -> Result<FileChecksum> {
        let located = self.nn.locate(path).await?;
        let covered: u64 = located.blocks.iter().map(|b| b.length).sum();
        if covered != located.status.length {
            return Err(Error::new(
                ErrorKind::RecoveryInProgress,
                format!(
                    "{path}: its blocks do not cover its length yet (a truncate or a recovery \
                     is under way); try again once it is closed"
                ),
            ));
        }
        Ok(FileChecksum::of_blocks(
            located.blocks.iter().map(|b| &b.sha256),
        ))
    }

    pub async fn mkdir(&self, path: &FsPath, parents: bool) -> Result<FileStatus> {
        self.nn
            .mkdir(&MkdirRequest {
                path: path.clone(),
                parents,
                permission: None,
                request_id: RequestId::new(),
            })
            .await
    }

    pub async fn delete(&self, path: &FsPath, recursive: bool) -> Result<DeleteResponse> {
        self.nn
            .delete(&DeleteRequest {
                path: path.clone(),
                recursive,
                request_id: RequestId::new(),
            })
            .await
    }

    pub async fn rename(&self, src: &FsPath, dst: &FsPath) -> Result<FileStatus> {
        let req = RenameRequest {
            src: src.clone(),
            dst: dst.clone(),
            request_id: RequestId::new(),
        };
        Ok(self.nn.rename(&req).await?.status)
    }

    pub async fn report(&self) -> Result<ClusterReport> {
        self.nn.report().await
    }

    /// The namenode's settings clients follow (block size, replication, trash interval).
    pub async fn server_defaults(&self) -> Result<ServerDefaults> {
        self.nn.server_defaults().await
    }

    /// Changes a file's replication; the namenode adds or trims replicas in the background.
    pub async fn set_replication(&self, path: &FsPath, replication: u16) -> Result<FileStatus> {
        let req = SetReplicationRequest {
            path: path.clone(),
            replication,
            request_id: RequestId::new(),
        };
        self.nn.set_replication(&req).await
    }

    /// fsck of `path`; `open_for_write` also lists the files open for writing.
    pub async fn fsck(&self, path: &FsPath, open_for_write: bool) -> Result<FsckReport> {
        let query = FsckQuery {
            path: path.clone(),
            open_for_write,
        };
        self.nn.fsck(&query).await
    }

    pub async fn safe_mode(&self, action: SafeModeAction) -> Result<SafeModeStatus> {
        self.nn.safe_mode(action).await
    }

    pub async fn decommission(&self, datanode: &DatanodeId) -> Result<DatanodeReport> {
        self.nn
            .decommission(&DatanodeAdminRequest {
                datanode: datanode.clone(),
            })
            .await
    }

    pub async fn recommission(&self, datanode: &DatanodeId) -> Result<DatanodeReport> {
        self.nn
            .recommission(&DatanodeAdminRequest {
                datanode: datanode.clone(),
            })
            .await
    }

    /// Marks a datanode as away on purpose for up to `duration` (default: the namenode's bound).
    pub async fn maintenance(
        &self,
        datanode: &DatanodeId,
        duration: Option<std::time::Duration>,
    ) -> Result<DatanodeReport> {
        let req = MaintenanceRequest {
            datanode: datanode.clone(),
            duration_ms: duration.map(|d| d.as_millis() as u64),
        };
        self.nn.maintenance(&req).await
    }
}
