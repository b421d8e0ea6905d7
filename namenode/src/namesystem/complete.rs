//! `complete` and `flush`: a block is committed only at a state its datanodes vouch for. Each
//! block is committed at the generation, length and digest the datanodes reported in their
//! incremental reports, and only once at least `min_replication` of them did (as HDFS's
//! minimal replication); the writer's `persisted_on` is a claim, never a replica location.
//!
//! Reports usually land a few milliseconds after the writer's acks, so both wait briefly for
//! them (`complete_report_wait`), outside the lock, woken by each report; if they are still
//! missing they answer `not_replicated_yet` and the writer retries.

use std::time::Instant;

use granary_client::protocol::{CommittedBlock, CompleteRequest, CompleteResponse, FlushRequest};
use granary_client::{Error, ErrorKind, InodeId};

use super::{writer_file, Namesystem, State};
use crate::retry_cache::Op;

impl Namesystem {
    /// Closes the file with the blocks its writer wrote and releases the lease.
    pub async fn complete(&self, req: CompleteRequest) -> Result<CompleteResponse, Error> {
        let min_replication = self.config.min_replication;
        self.wait_for_reports(|state| {
            let completing =
                state
                    .ns
                    .needs_completion(&req.path, req.file, &req.holder, &req.blocks);
            matches!(completing, Ok(true))
                && check_reports(state, &req.blocks, min_replication)
                    .is_err_and(|e| e.kind == ErrorKind::NotReplicatedYet)
        })
        .await;
        self.mutate(
            Some((Op::Complete, &req.request_id)),
            |state, changes, now| {
                let completing =
                    state
                        .ns
                        .needs_completion(&req.path, req.file, &req.holder, &req.blocks)?;
                if completing {
                    writer_file(state, &req.path, req.file, &req.holder)?;
                    check_reports(state, &req.blocks, min_replication)?;
                }
                let status = state.ns.complete(
                    &req.path,
                    req.file,
                    &req.holder,
                    &req.blocks,
                    now,
                    changes,
                )?;
                if completing {
                    settle_closed_file(state, req.file);
                }
                Ok(CompleteResponse { status })
            },
        )
        .await
    }

    /// Commits the last block at what the pipeline acknowledged once `min_replication`
    /// datanodes reported it there: new readers see that length.
    pub async fn flush_block(&self, req: FlushRequest) -> Result<(), Error> {
        let min_replication = self.config.min_replication;
        let blocks = std::slice::from_ref(&req.block);
        self.wait_for_reports(|state| {
            writer_file(state, &req.path, req.file, &req.holder).is_ok()
                && check_reports(state, blocks, min_replication)
                    .is_err_and(|e| e.kind == ErrorKind::NotReplicatedYet)
        })
        .await;
        self.mutate(
            Some((Op::Flush, &req.request_id)),
            |state, changes, _now| {
                writer_file(state, &req.path, req.file, &req.holder)?;
                let already = last_block_committed_at(state, req.file, &req.block);
                if !already {
                    check_reports(state, blocks, min_replication)?;
                }
                state
                    .ns
                    .flush(&req.path, req.file, &req.holder, &req.block, changes)?;
                let block = &req.block;
                for stale in state.blocks.commit_generation(block.id, block.generation) {
                    tracing::info!(
                        block = %block.id, datanode = %stale,
                        "stale replica after a flush; deleting it"
                    );
                    state.datanodes.queue_delete(&stale, block.id);
                }
                Ok(())
            },
        )
        .await
    }

    /// Returns once `missing` (reports still missing) is false, or `complete_report_wait`
    /// has passed. The locked attempt then answers whatever stands in the way.
    async fn wait_for_reports(&self, missing: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + self.config.complete_report_wait;
        // Subscribed before the first look, so a report landing in between still wakes us.
        let mut reports = self.reports_seen.subscribe();
        loop {
            if !missing(&self.lock()) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match tokio::time::timeout(left, reports.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }

    /// Wakes `complete` and `flush` calls waiting for reports.
    pub(super) fn reports_arrived(&self) {
        self.reports_seen
            .send_modify(|seen| *seen = seen.wrapping_add(1));
    }
}

fn last_block_committed_at(state: &State, file: InodeId, block: &CommittedBlock) -> bool {
    let last = state
        .ns
        .get(file)
        .and_then(|i| i.file())
        .and_then(|f| f.blocks.last());
    last.is_some_and(|b| {
        b.id == block.id
            && b.generation == block.generation
            && b.length == block.length
            && b.sha256 == Some(block.sha256)
    })
}

/// Every block must have `min_replication` (at most its replication) replicas on live
/// datanodes reported at exactly the committed generation, length and digest. A claim that
/// no reported replica agrees with is `block_mismatch`; too few reports yet is
/// `not_replicated_yet`.
fn check_reports(
    state: &State,
    committed: &[CommittedBlock],
    min_replication: u16,
) -> Result<(), Error> {
    for block in committed {
        let info = state.blocks.get(block.id).ok_or_else(|| {
            Error::internal(format!(
                "{} is allocated but not in the block map",
                block.id
            ))
        })?;
        let live: Vec<_> = info
            .reported
            .iter()
            .filter(|(dn, _)| state.datanodes.is_alive(dn) && !info.corrupt.contains(*dn))
            .collect();
        let agreeing = live
            .iter()
            .filter(|(_, r)| {
                r.generation == block.generation
                    && r.length == block.length
                    && r.sha256 == block.sha256
            })
            .count();
        let needed = usize::from(min_replication.min(info.replication).max(1));
        if agreeing >= needed {
            continue;
        }
        let same_generation = live.iter().find(|(_, r)| r.generation == block.generation);
        if agreeing == 0 {
            if let Some((dn, r)) = same_generation {
                return Err(Error::new(
                    ErrorKind::BlockMismatch,
                    format!(
                        "{}: the writer claims {} bytes with digest {} at {}, but datanode {dn} \
                         reported {} bytes with digest {}",
                        block.id, block.length, block.sha256, block.generation, r.length, r.sha256
                    ),
                ));
            }
        }
        let unreported: Vec<_> = block
            .persisted_on
            .iter()
            .filter(|dn| !info.reported.contains_key(*dn))
            .map(|dn| dn.0.as_str())
            .collect();
        return Err(Error::new(
            ErrorKind::NotReplicatedYet,
            format!(
                "{}: {agreeing} of the {needed} datanode reports needed have arrived \
                 (claimed but not reported: [{}]); retry shortly",
                block.id,
                unreported.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The file closed (complete, a recovery, a truncate): every block the block map still
/// holds as being written takes its committed state, and replicas reported with another
/// generation, length or digest are dropped and deleted.
pub(super) fn settle_closed_file(state: &mut State, file: InodeId) {
    let State {
        ns,
        blocks,
        datanodes,
        leases,
        ..
    } = state;
    leases.remove(file);
    let Some(f) = ns.get(file).and_then(|i| i.file()) else {
        return;
    };
    for record in &f.blocks {
        let Some(sha256) = record.sha256 else {
            continue;
        };
        if blocks.get(record.id).is_none_or(|info| info.is_complete()) {
            continue;
        }
        for wrong in blocks.commit(record.id, record.generation, record.length, sha256) {
            tracing::warn!(
                block = %record.id, datanode = %wrong,
                "replica reported at another generation, length or digest than committed; \
                 deleting it"
            );
            datanodes.queue_delete(&wrong, record.id);
        }
    }
}
