//! The link between the namesystem and the job tracker it hosts, both ways, in process:
//! - [`JobNamespace`] is the tracker's [`TrackerNamespace`] over the [`Namesystem`]: planning
//!   reads, commits, cleanups and `_SUCCESS` are namesystem calls, durable (group commit)
//!   before they return. Only the `sort` sample's bytes travel, from the datanodes (`sample`).
//! - events: deaths and the end of safe mode reach the tracker on a channel
//!   (`Namesystem::subscribe_tracker_events`), and whether attempts run reaches the
//!   replication monitor through the tracker's watch ([`follow_attempts`]).

mod sample;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use granary_client::protocol::{
    CreateRequest, DeleteRequest, FileKind, FileStatus, LocatedFile, MkdirRequest, RenameRequest,
    SetOwnerRequest,
};
use granary_client::{ClientConfig, DatanodeId, Error, ErrorKind, FsPath, RequestId};
use granary_compute::tracker::{JobTracker, ListPage, NsFuture, TrackerNamespace};

use crate::namesystem::Namesystem;

pub struct JobNamespace {
    namesystem: Arc<Namesystem>,
    /// Reads sample pieces from the datanodes.
    data: reqwest::Client,
    /// A datanode that sends a sample read nothing for this long is given up for the next
    /// replica (the client library's default).
    stall: Duration,
}

impl JobNamespace {
    pub fn new(namesystem: Arc<Namesystem>) -> Result<Self, Error> {
        let config = ClientConfig::default();
        let data = granary_client::transfer::data_client(&config)?;
        Ok(JobNamespace {
            namesystem,
            data,
            stall: config.stall_timeout,
        })
    }
}

impl TrackerNamespace for JobNamespace {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, Option<FileStatus>> {
        let found = match self.namesystem.stat(path) {
            Ok(status) => Ok(Some(status)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        std::future::ready(found).boxed()
    }

    fn list_page<'a>(
        &'a self,
        dir: &'a FsPath,
        start_after: Option<&'a str>,
        limit: usize,
    ) -> NsFuture<'a, ListPage> {
        let page = self
            .namesystem
            .list(dir, start_after, Some(limit))
            .and_then(|page| {
                // The namesystem lists a file as itself; the tracker's listings are of
                // directories only.
                if page
                    .entries
                    .iter()
                    .any(|e| e.path == *dir && e.kind == FileKind::File)
                {
                    let message = format!("{dir} is a file, not a directory");
                    return Err(Error::new(ErrorKind::NotADirectory, message));
                }
                Ok(ListPage {
                    entries: page.entries,
                    next_start_after: page.next_start_after,
                })
            });
        std::future::ready(page).boxed()
    }

    fn locate<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, LocatedFile> {
        std::future::ready(self.namesystem.locate(path, None)).boxed()
    }

    fn read_range<'a>(&'a self, path: &'a FsPath, offset: u64, len: u64) -> NsFuture<'a, Vec<u8>> {
        async move {
            let located = self.namesystem.locate(path, None)?;
            sample::read_range(&self.data, &located, offset, len, self.stall).await
        }
        .boxed()
    }

    fn mkdirs<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, ()> {
        let req = MkdirRequest {
            permission: None,
            path: path.clone(),
            parents: true,
            request_id: RequestId::new(),
        };
        self.namesystem.mkdir(req).map(|r| r.map(drop)).boxed()
    }

    fn rename<'a>(&'a self, from: &'a FsPath, to: &'a FsPath) -> NsFuture<'a, ()> {
        let req = RenameRequest {
            src: from.clone(),
            dst: to.clone(),
            request_id: RequestId::new(),
        };
        self.namesystem.rename(req).map(|r| r.map(drop)).boxed()
    }

    fn delete<'a>(&'a self, path: &'a FsPath, recursive: bool) -> NsFuture<'a, ()> {
        let req = DeleteRequest {
            path: path.clone(),
            recursive,
            request_id: RequestId::new(),
        };
        self.namesystem.delete(req).map(|r| r.map(drop)).boxed()
    }

    /// The output directory and its entries (part files, `_SUCCESS`; nothing deeper), one
    /// listing page at a time.
    fn give_output<'a>(&'a self, output: &'a FsPath, user: &'a str) -> NsFuture<'a, ()> {
        async move {
            let give = |path: &FsPath| SetOwnerRequest {
                path: path.clone(),
                owner: Some(user.to_string()),
                group: None,
                request_id: RequestId::new(),
            };
            let superuser = self.namesystem.users().superuser();
            self.namesystem
                .set_owner_as(&superuser, give(output))
                .await?;
            let mut after: Option<String> = None;
            loop {
                let page = self.namesystem.list(output, after.as_deref(), None)?;
                for entry in &page.entries {
                    self.namesystem
                        .set_owner_as(&superuser, give(&entry.path))
                        .await?;
                }
                match page.next_start_after {
                    Some(next) => after = Some(next),
                    None => return Ok(()),
                }
            }
        }
        .boxed()
    }

    /// As HDFS would check the job's own reads and writes: r on each input file, w+x where
    /// the output directory is created.
    fn check_submitter<'a>(
        &'a self,
        user: &'a str,
        inputs: Vec<FsPath>,
        output: &'a FsPath,
    ) -> NsFuture<'a, ()> {
        let caller = self.namesystem.users().caller(user);
        let checked = inputs
            .iter()
            .try_for_each(|input| self.namesystem.check_read(&caller, input))
            .and_then(|()| self.namesystem.check_create(&caller, output));
        Box::pin(async move { checked })
    }

    fn create_empty<'a>(&'a self, path: &'a FsPath) -> NsFuture<'a, ()> {
        let req = CreateRequest {
            permission: None,
            holder: job_tracker_holder(),
            path: path.clone(),
            replication: None,
            block_size: None,
            overwrite: true,
            create_parents: false,
            complete: true,
            request_id: RequestId::new(),
        };
        self.namesystem.create(req).map(|r| r.map(drop)).boxed()
    }

    fn datanode_addr(&self, datanode: &DatanodeId) -> Option<SocketAddr> {
        self.namesystem.datanode_addr(datanode)
    }
}

/// Tells the replication monitor whether attempts run, whenever that changes, until the
/// tracker is gone.
pub async fn follow_attempts(namesystem: Arc<Namesystem>, tracker: Arc<JobTracker>) {
    let mut running = tracker.attempts_running();
    drop(tracker);
    loop {
        let now = *running.borrow_and_update();
        namesystem.set_jobs_running(now);
        if running.changed().await.is_err() {
            return;
        }
    }
}

/// The lease holder the job tracker writes its (empty, complete-at-once) markers as.
fn job_tracker_holder() -> granary_client::LeaseHolder {
    "granary-job-tracker"
        .parse()
        .expect("a valid constant lease holder")
}
