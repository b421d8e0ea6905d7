//! The namesystem as the trash's [`TrashNamespace`], in process.

use std::sync::Arc;

use futures_util::FutureExt;
use granary_client::protocol::{DeleteRequest, FileStatus, MkdirRequest, RenameRequest};
use granary_client::trash::{TrashFuture, TrashNamespace};
use granary_client::{ErrorKind, FsPath, RequestId};

use crate::namesystem::Namesystem;

pub struct NamesystemTrash {
    namesystem: Arc<Namesystem>,
}

impl NamesystemTrash {
    pub fn new(namesystem: Arc<Namesystem>) -> Self {
        NamesystemTrash { namesystem }
    }
}

impl TrashNamespace for NamesystemTrash {
    fn try_stat<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, Option<FileStatus>> {
        let found = match self.namesystem.stat(path) {
            Ok(status) => Ok(Some(status)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        std::future::ready(found).boxed()
    }

    fn children<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, Vec<FileStatus>> {
        async move {
            let mut children = Vec::new();
            let mut after: Option<String> = None;
            loop {
                // Each page is one short hold of the lock.
                let page = self.namesystem.list(dir, after.as_deref(), None)?;
                children.extend(page.entries.into_iter().filter(|e| e.path != *dir));
                match page.next_start_after {
                    Some(next) => after = Some(next),
                    None => return Ok(children),
                }
                tokio::task::yield_now().await;
            }
        }
        .boxed()
    }

    fn mkdirs<'a>(&'a self, dir: &'a FsPath) -> TrashFuture<'a, ()> {
        let req = MkdirRequest {
            permission: None,
            path: dir.clone(),
            parents: true,
            request_id: RequestId::new(),
        };
        self.namesystem.mkdir(req).map(|r| r.map(drop)).boxed()
    }

    fn rename<'a>(&'a self, src: &'a FsPath, dst: &'a FsPath) -> TrashFuture<'a, ()> {
        let req = RenameRequest {
            src: src.clone(),
            dst: dst.clone(),
            request_id: RequestId::new(),
        };
        self.namesystem.rename(req).map(|r| r.map(drop)).boxed()
    }

    fn delete_all<'a>(&'a self, path: &'a FsPath) -> TrashFuture<'a, ()> {
        let req = DeleteRequest {
            path: path.clone(),
            recursive: true,
            request_id: RequestId::new(),
        };
        self.namesystem.delete(req).map(|r| r.map(drop)).boxed()
    }
}
