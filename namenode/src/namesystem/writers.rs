//! Writer calls beyond create → add_block → complete: `append`, `reopen_block`,
//! `renew_lease`, and the reshaping calls `truncate` and `concat`. (`flush` is with
//! `complete`, which it resembles; lease recovery is in `recovery`.)

use std::net::IpAddr;
use std::time::Instant;

use granary_client::protocol::{
    AppendRequest, AppendResponse, ConcatRequest, DatanodeInfo, FileStatus, OpenBlock,
    RenewLeaseRequest, ReopenBlockRequest, TruncateRequest, TruncateResponse,
};
use granary_client::{Access, BlockId, DatanodeId, Error, ErrorKind, FsPath, Generation};

use super::recovery::RecoveryOrders;
use super::{writer_file, Namesystem, State};
use crate::namespace::{Caller, Cut, Truncated};
use crate::placement::order_for_reader;
use crate::retry_cache::Op;

impl Namesystem {
    /// Opens a closed file for appending (see `AppendRequest`). Refused, changing nothing,
    /// when fewer live datanodes than `min_replication` hold its last block (when the append
    /// fills it) or can take a new one.
    pub async fn append(
        &self,
        req: AppendRequest,
        writer_ip: Option<IpAddr>,
    ) -> Result<AppendResponse, Error> {
        self.append_as(&self.users.superuser(), req, writer_ip)
            .await
    }

    /// [`Self::append`] for `caller`: w on the file.
    pub async fn append_as(
        &self,
        caller: &Caller,
        req: AppendRequest,
        writer_ip: Option<IpAddr>,
    ) -> Result<AppendResponse, Error> {
        let mut orders = RecoveryOrders::default();
        let appended = self
            .mutate(
                Some((Op::Append, &req.request_id)),
                |state, changes, now| {
                    state.ns.check_access(caller, &req.path, Access::WRITE)?;
                    let taken =
                        self.take_over(state, &req.path, &req.holder, now, changes, &mut orders)?;
                    if taken.is_none() {
                        return Err(Error::not_found(format!(
                            "cannot append to {}: no such file",
                            req.path
                        )));
                    }
                    let mut pipeline = self.append_pipeline(state, &req.path)?;
                    let appended = state.ns.append(&req.path, &req.holder, now, changes)?;
                    state.leases.add(&req.holder, appended.file, Instant::now());
                    let last_block = appended.last_block.map(|reopened| {
                        order_for_reader(&mut pipeline, writer_ip, &mut rand::thread_rng());
                        let ids = pipeline.iter().map(|d| d.id.clone()).collect();
                        state.blocks.reopen(reopened.block, ids);
                        OpenBlock {
                            block: reopened.block,
                            generation: reopened.generation,
                            length: reopened.length,
                            pipeline: std::mem::take(&mut pipeline),
                        }
                    });
                    Ok(AppendResponse {
                        file: appended.file,
                        replication: appended.replication,
                        block_size: appended.block_size,
                        length: appended.length,
                        lease_soft_limit_ms: self.lease_soft_limit_ms(),
                        last_block,
                    })
                },
            )
            .await;
        self.send_recoveries(orders);
        appended
    }

    /// A new segment of the last block of a file the holder writes, from its committed
    /// state, on the live nodes holding that state minus `excluded`.
    pub async fn reopen_block(
        &self,
        req: ReopenBlockRequest,
        writer_ip: Option<IpAddr>,
    ) -> Result<OpenBlock, Error> {
        self.mutate(
            Some((Op::ReopenBlock, &req.request_id)),
            |state, changes, _now| {
                let f = writer_file(state, &req.path, req.file, &req.holder)?;
                let committed = f
                    .blocks
                    .last()
                    .filter(|b| b.id == req.block && b.is_committed())
                    .map(|b| b.generation);
                let mut pipeline = Vec::new();
                if let Some(committed) = committed {
                    pipeline = holders_at(state, req.block, committed, &req.excluded);
                    if pipeline.is_empty() {
                        return Err(Error::new(
                            ErrorKind::NoDatanodes,
                            format!(
                                "no live datanode holds {} of {} at {committed} ({} excluded)",
                                req.block,
                                req.path,
                                req.excluded.len()
                            ),
                        ));
                    }
                }
                let reopened =
                    state
                        .ns
                        .reopen_block(&req.path, req.file, &req.holder, req.block, changes)?;
                order_for_reader(&mut pipeline, writer_ip, &mut rand::thread_rng());
                let ids = pipeline.iter().map(|d| d.id.clone()).collect();
                state.blocks.reopen(req.block, ids);
                Ok(OpenBlock {
                    block: req.block,
                    generation: reopened.generation,
                    length: reopened.length,
                    pipeline,
                })
            },
        )
        .await
    }

    /// Keeps every lease of the holder alive; a holder with none is fine.
    pub fn renew_lease(&self, req: &RenewLeaseRequest) {
        self.lock().leases.renew(&req.holder, Instant::now());
    }

    /// Shortens a closed file (see `TruncateRequest`). A cut inside a block needs a live
    /// datanode holding it (`no_datanodes` otherwise, nothing changed).
    pub async fn truncate(&self, req: TruncateRequest) -> Result<TruncateResponse, Error> {
        self.truncate_as(&self.users.superuser(), req).await
    }

    /// [`Self::truncate`] for `caller`: w on the file.
    pub async fn truncate_as(
        &self,
        caller: &Caller,
        req: TruncateRequest,
    ) -> Result<TruncateResponse, Error> {
        let mut orders = RecoveryOrders::default();
        let truncated = self
            .mutate(
                Some((Op::Truncate, &req.request_id)),
                |state, changes, now| {
                    state.ns.check_access(caller, &req.path, Access::WRITE)?;
                    self.take_over(state, &req.path, &req.holder, now, changes, &mut orders)?;
                    let (_, cut) = state.ns.truncate_plan(&req.path, req.length)?;
                    let mut candidates = Vec::new();
                    if let Some(Cut { block, .. }) = cut {
                        let committed = state
                            .blocks
                            .get(block)
                            .map_or(Generation(0), |i| i.generation);
                        candidates = holders_at(state, block, committed, &[]);
                        if candidates.is_empty() {
                            return Err(Error::new(
                                ErrorKind::NoDatanodes,
                                format!(
                                "cannot truncate {} to {}: no live datanode holds {block}, the \
                                 block to cut",
                                req.path, req.length
                            ),
                            ));
                        }
                    }
                    let outcome =
                        state
                            .ns
                            .truncate(&req.path, req.length, &req.holder, now, changes)?;
                    let closed = match outcome {
                        Truncated::Closed => true,
                        Truncated::Cutting {
                            file,
                            block,
                            generation,
                            keep,
                        } => {
                            state.leases.add(&req.holder, file, Instant::now());
                            let cut = (file, block, generation, Some(keep));
                            orders.order(state, cut, &candidates, Vec::new());
                            false
                        }
                    };
                    let status = state.ns.stat(&req.path)?;
                    Ok(TruncateResponse { closed, status })
                },
            )
            .await;
        self.send_recoveries(orders);
        truncated
    }

    /// Moves the sources' blocks onto the end of the target and removes the sources, in one
    /// journal batch; no data moves.
    pub async fn concat(&self, req: ConcatRequest) -> Result<FileStatus, Error> {
        self.concat_as(&self.users.superuser(), req).await
    }

    /// [`Self::concat`] for `caller`: w on the target, r+w on each source and w+x on its
    /// parent (the sources are removed), as HDFS.
    pub async fn concat_as(
        &self,
        caller: &Caller,
        req: ConcatRequest,
    ) -> Result<FileStatus, Error> {
        let status = self
            .mutate(
                Some((Op::Concat, &req.request_id)),
                |state, changes, now| {
                    state.ns.check_access(caller, &req.target, Access::WRITE)?;
                    for source in &req.sources {
                        state.ns.check_access(caller, source, Access(6))?;
                        state.ns.check_remove(caller, source, false)?;
                    }
                    let (status, moved) =
                        state.ns.concat(&req.target, &req.sources, now, changes)?;
                    let target = state.ns.inode_at(&req.target)?.id;
                    for block in moved {
                        state.blocks.set_file(block, target, status.replication);
                    }
                    Ok(status)
                },
            )
            .await?;
        self.wake_monitor();
        Ok(status)
    }
}

impl Namesystem {
    /// The pipeline of an append to the closed file at `path`: the live nodes holding its
    /// last block when that has room (none otherwise). Refused when fewer live datanodes
    /// than `min_replication` hold that block or can take a new one.
    fn append_pipeline(&self, state: &State, path: &FsPath) -> Result<Vec<DatanodeInfo>, Error> {
        let (_, f) = state.ns.appendable(path)?;
        let needed = usize::from(self.config.min_replication.min(f.replication).max(1));
        let refused = |what: String| {
            Err(Error::new(
                ErrorKind::NoDatanodes,
                format!("cannot append to {path}: {what}, {needed} needed (min_replication)"),
            ))
        };
        let live = state.datanodes.in_service().count();
        if live < needed {
            return refused(format!("{live} live datanodes can take a new block"));
        }
        let room = f
            .blocks
            .last()
            .filter(|b| b.is_committed() && b.length > 0 && b.length < f.block_size);
        let Some(last) = room else {
            return Ok(Vec::new());
        };
        let holders = holders_at(state, last.id, last.generation, &[]);
        if holders.len() < needed {
            let held = holders.len();
            return refused(format!(
                "{held} live datanodes hold its last block {}",
                last.id
            ));
        }
        Ok(holders)
    }
}

/// Live, uncorrupted replicas of `block` at generation `committed` or newer, minus
/// `excluded`: a pipeline that holds the block's committed bytes.
fn holders_at(
    state: &State,
    block: BlockId,
    committed: Generation,
    excluded: &[DatanodeId],
) -> Vec<DatanodeInfo> {
    let Some(info) = state.blocks.get(block) else {
        return Vec::new();
    };
    info.replicas
        .iter()
        .filter(|dn| !info.corrupt.contains(*dn) && !excluded.contains(dn))
        .filter(|dn| {
            info.replica_generations
                .get(*dn)
                .is_some_and(|&g| g >= committed)
        })
        .filter_map(|dn| state.datanodes.get(dn).filter(|n| n.is_alive()))
        .map(|n| n.info.clone())
        .collect()
}
