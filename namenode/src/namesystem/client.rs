//! Namespace calls from clients: the writer's create → add_block → complete, the namespace
//! changes, and the reads (which see open files at their committed length).

use std::net::IpAddr;
use std::time::Instant;

use granary_client::protocol::{
    AbandonBlockRequest, AddBlockRequest, AddBlockResponse, ContentSummary, CreateRequest,
    CreateResponse, DeleteRequest, DeleteResponse, FileStatus, LocatedBlock, LocatedFile,
    MkdirRequest, RenameRequest, RenameResponse, SetReplicationRequest,
};
use granary_client::{Access, Error, ErrorKind, FsPath, Permission};

use super::recovery::RecoveryOrders;
use super::{allocate_block, writer_file, Namesystem, NextBlockOf, State};
use crate::config::{MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};
use crate::namespace::{Caller, FileParams, SummaryWalk};
use crate::placement::{choose_pipeline, order_for_reader, Candidate};
use crate::replication::{replica_kind, ReplicaKind};
use crate::retry_cache::Op;

impl Namesystem {
    /// Starts a file open for writing, leased to the request's holder; or, with `complete`,
    /// creates it empty and complete. Over a file another writer holds: `lease_held`, or
    /// past its soft limit a recovery first (`recovery_in_progress`).
    pub async fn create(&self, req: CreateRequest) -> Result<CreateResponse, Error> {
        self.create_as(&self.users.superuser(), req).await
    }

    /// [`Self::create`] for `caller`: w+x on the parent (the deepest existing ancestor with
    /// `create_parents`); the new file is the caller's, with the parent's group.
    pub async fn create_as(
        &self,
        caller: &Caller,
        req: CreateRequest,
    ) -> Result<CreateResponse, Error> {
        let file_mode = self.new_mode(req.permission, Permission::FILE_DEFAULT);
        let dir_mode = self.new_mode(None, Permission::DIR_DEFAULT);
        let params = FileParams {
            complete: req.complete,
            ..self.file_params(req.replication, req.block_size)?
        };
        let mut orders = RecoveryOrders::default();
        let created = self
            .mutate(
                Some((Op::Create, &req.request_id)),
                |state, changes, now| {
                    state
                        .ns
                        .check_ancestor(caller, &req.path, Access::WRITE_EXECUTE)?;
                    if state.ns.lookup(&req.path)?.is_some() {
                        state.ns.check_access(caller, &req.path, Access::WRITE)?;
                    }
                    self.take_over(state, &req.path, &req.holder, now, changes, &mut orders)?;
                    let first_new = state.ns.next_inode_id();
                    let file = state.ns.create(
                        &req.path,
                        params,
                        &req.holder,
                        req.overwrite,
                        req.create_parents,
                        now,
                        changes,
                    )?;
                    state
                        .ns
                        .own_new(first_new, &caller.user, dir_mode, file_mode);
                    if !req.complete {
                        state.leases.add(&req.holder, file, Instant::now());
                    }
                    let status = match req.complete {
                        true => state.ns.get(file).map(|i| i.status(req.path.clone())),
                        false => None,
                    };
                    Ok(CreateResponse {
                        lease_soft_limit_ms: self.lease_soft_limit_ms(),
                        file,
                        replication: params.replication,
                        block_size: params.block_size,
                        status,
                    })
                },
            )
            .await;
        self.send_recoveries(orders);
        created
    }

    /// Commits the writer's previous block, allocates the next block of the file it holds
    /// and chooses its pipeline. `writer_ip` is the request's source address, to put the
    /// writer's own datanode first.
    pub async fn add_block(
        &self,
        req: AddBlockRequest,
        writer_ip: Option<IpAddr>,
    ) -> Result<AddBlockResponse, Error> {
        self.mutate(
            Some((Op::AddBlock, &req.request_id)),
            |state, changes, _now| {
                let file = writer_file(state, &req.path, req.file, &req.holder)?;
                let (replication, block_size) = (file.replication, file.block_size);
                let pipeline = choose_pipeline(
                    live_candidates(state),
                    replication as usize,
                    writer_ip,
                    &req.excluded,
                    &mut rand::thread_rng(),
                );
                if pipeline.is_empty() {
                    let live = state.datanodes.in_service().count();
                    return Err(Error::new(
                        ErrorKind::NoDatanodes,
                        format!(
                            "no live datanode can take a block of {} ({live} live, {} excluded)",
                            req.path,
                            req.excluded.len()
                        ),
                    ));
                }
                let writer = NextBlockOf {
                    path: &req.path,
                    file: req.file,
                    holder: &req.holder,
                    previous: req.previous.as_ref(),
                    replication,
                };
                let (block, generation) =
                    allocate_block(state, changes, writer, &pipeline, block_size)?;
                Ok(AddBlockResponse {
                    block,
                    generation,
                    pipeline,
                })
            },
        )
        .await
    }

    pub async fn abandon_block(&self, req: AbandonBlockRequest) -> Result<(), Error> {
        self.mutate(None, |state, changes, _now| {
            writer_file(state, &req.path, req.file, &req.holder)?;
            state
                .ns
                .abandon_block(&req.path, req.file, &req.holder, req.block, changes)
        })
        .await
    }

    pub async fn mkdir(&self, req: MkdirRequest) -> Result<FileStatus, Error> {
        self.mkdir_as(&self.users.superuser(), req).await
    }

    /// [`Self::mkdir`] for `caller`: w+x on the deepest existing ancestor.
    pub async fn mkdir_as(&self, caller: &Caller, req: MkdirRequest) -> Result<FileStatus, Error> {
        let dir_mode = self.new_mode(req.permission, Permission::DIR_DEFAULT);
        let file_mode = self.new_mode(None, Permission::FILE_DEFAULT);
        self.mutate(Some((Op::Mkdir, &req.request_id)), |state, changes, now| {
            if state.ns.lookup(&req.path)?.is_none() {
                state
                    .ns
                    .check_ancestor(caller, &req.path, Access::WRITE_EXECUTE)?;
            } else {
                state.ns.check_traverse(caller, &req.path)?;
            }
            let first_new = state.ns.next_inode_id();
            state.ns.mkdir(&req.path, req.parents, now, changes)?;
            state
                .ns
                .own_new(first_new, &caller.user, dir_mode, file_mode);
            state.ns.stat(&req.path)
        })
        .await
    }

    pub async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, Error> {
        self.delete_as(&self.users.superuser(), req).await
    }

    /// [`Self::delete`] for `caller`: w+x on the parent, the sticky bit's rule, and rwx on
    /// every non-empty directory below when recursive (as HDFS).
    pub async fn delete_as(
        &self,
        caller: &Caller,
        req: DeleteRequest,
    ) -> Result<DeleteResponse, Error> {
        self.mutate(
            Some((Op::Delete, &req.request_id)),
            |state, changes, now| {
                state.ns.check_remove(caller, &req.path, req.recursive)?;
                state.ns.delete(&req.path, req.recursive, now, changes)
            },
        )
        .await
    }

    pub async fn rename(&self, req: RenameRequest) -> Result<RenameResponse, Error> {
        self.rename_as(&self.users.superuser(), req).await
    }

    /// [`Self::rename`] for `caller`: w+x on both parents, the sticky bit's rule on the source.
    pub async fn rename_as(
        &self,
        caller: &Caller,
        req: RenameRequest,
    ) -> Result<RenameResponse, Error> {
        self.mutate(
            Some((Op::Rename, &req.request_id)),
            |state, changes, now| {
                state.ns.check_remove(caller, &req.src, false)?;
                state
                    .ns
                    .check_ancestor(caller, &req.dst, Access::WRITE_EXECUTE)?;
                let status = state.ns.rename(&req.src, &req.dst, now, changes)?;
                Ok(RenameResponse { status })
            },
        )
        .await
    }

    /// Changes a complete file's replication; the replication monitor then adds or trims
    /// replicas until every block has the new count.
    pub async fn set_replication(&self, req: SetReplicationRequest) -> Result<FileStatus, Error> {
        self.set_replication_as(&self.users.superuser(), req).await
    }

    /// [`Self::set_replication`] for `caller`: w on the file.
    pub async fn set_replication_as(
        &self,
        caller: &Caller,
        req: SetReplicationRequest,
    ) -> Result<FileStatus, Error> {
        let max = self.config.max_replication;
        if req.replication == 0 || req.replication > max {
            return Err(Error::invalid_argument(format!(
                "replication must be between 1 and {max} (got {})",
                req.replication
            )));
        }
        let status = self
            .mutate(
                Some((Op::SetReplication, &req.request_id)),
                |state, changes, _now| {
                    state.ns.check_access(caller, &req.path, Access::WRITE)?;
                    let (status, blocks) =
                        state
                            .ns
                            .set_replication(&req.path, req.replication, changes)?;
                    for block in blocks {
                        state.blocks.set_replication(block, req.replication);
                    }
                    Ok(status)
                },
            )
            .await?;
        self.wake_monitor();
        Ok(status)
    }

    pub fn stat(&self, path: &FsPath) -> Result<FileStatus, Error> {
        self.lock().ns.stat(path)
    }

    /// The totals at or below `path` (HDFS's `getContentSummary`), counted in steps of
    /// `ls_limit` entries, each under its own short hold of the lock, as `fsck` walks.
    /// Blocking (run it off the async runtime); it yields between steps.
    pub fn content_summary(&self, path: &FsPath) -> Result<ContentSummary, Error> {
        let mut walk = SummaryWalk::new(path);
        while !walk.step(&self.lock().ns, self.config.ls_limit)? {
            std::thread::yield_now();
        }
        Ok(walk.finish())
    }

    /// A file's committed blocks (an open file's last block up to its last flush; neither a
    /// block never committed nor one being cut) with the replicas on running datanodes at
    /// the committed generation or newer, never corrupt ones: good replicas first (the
    /// reader's own datanode first among them), then those on decommissioning nodes or about
    /// to be deleted.
    pub fn locate(&self, path: &FsPath, reader_ip: Option<IpAddr>) -> Result<LocatedFile, Error> {
        let state = self.lock();
        let inode = state.ns.inode_at(path)?;
        let Some(file) = inode.file() else {
            return Err(Error::new(
                ErrorKind::IsADirectory,
                format!("{path} is a directory"),
            ));
        };
        let mut rng = rand::thread_rng();
        let mut offset = 0;
        let mut blocks = Vec::with_capacity(file.blocks.len());
        for record in file.blocks.iter().take_while(|b| b.is_readable()) {
            let Some(sha256) = record.sha256 else {
                break;
            };
            let (mut good, mut leaving) = (Vec::new(), Vec::new());
            if let Some(info) = state.blocks.get(record.id) {
                let current = |holder: &&granary_client::DatanodeId| {
                    info.replica_generations
                        .get(*holder)
                        .is_some_and(|&g| g >= record.generation)
                };
                for holder in info.replicas.iter().filter(current) {
                    let Some(node) = state.datanodes.get(holder).filter(|n| n.is_alive()) else {
                        continue;
                    };
                    match replica_kind(info, holder, &state.datanodes) {
                        ReplicaKind::Live | ReplicaKind::Maintenance => {
                            good.push(node.info.clone())
                        }
                        // Still readable, but about to go: after the others.
                        ReplicaKind::Leaving | ReplicaKind::Excess => {
                            leaving.push(node.info.clone())
                        }
                        ReplicaKind::Corrupt | ReplicaKind::Unavailable => {}
                    }
                }
            }
            order_for_reader(&mut good, reader_ip, &mut rng);
            order_for_reader(&mut leaving, reader_ip, &mut rng);
            let mut locations = good;
            locations.append(&mut leaving);
            blocks.push(LocatedBlock {
                generation: record.generation,
                id: record.id,
                offset,
                length: record.length,
                sha256,
                locations,
            });
            offset += record.length;
        }
        Ok(LocatedFile {
            status: inode.status(path.clone()),
            blocks,
        })
    }

    /// A new file's replication and block size: the request's, or the cluster defaults.
    fn file_params(
        &self,
        replication: Option<u16>,
        block_size: Option<u64>,
    ) -> Result<FileParams, Error> {
        let replication = replication.unwrap_or(self.config.default_replication);
        let block_size = block_size.unwrap_or(self.config.default_block_size);
        if replication == 0 || replication > self.config.max_replication {
            return Err(Error::invalid_argument(format!(
                "replication must be between 1 and {} (got {replication})",
                self.config.max_replication
            )));
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(Error::invalid_argument(format!(
                "block size must be between 64 KiB and 64 GiB (got {block_size} bytes)"
            )));
        }
        Ok(FileParams {
            replication,
            block_size,
            complete: false,
        })
    }
}

/// Placement candidates: alive, in-service datanodes.
fn live_candidates(state: &State) -> Vec<Candidate> {
    state
        .datanodes
        .in_service()
        .map(|n| Candidate {
            info: n.info.clone(),
            load: n.storage.used.saturating_add(n.scheduled_bytes),
        })
        .collect()
}
