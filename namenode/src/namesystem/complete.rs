//! `complete`: a file becomes visible only with blocks its datanodes vouch for. Each block is
//! committed at the length and digest the datanodes reported in their incremental reports,
//! and only once at least `min_replication` of them did (as HDFS's minimal replication); the
//! writer's `persisted_on` is a claim, never a replica location.
//!
//! Reports usually land a few milliseconds after the writer's acks, so `complete` waits
//! briefly for them (`complete_report_wait`), outside the lock, woken by each report; if they
//! are still missing it answers `not_replicated_yet` and the writer retries.

use std::time::Instant;

use granary_client::protocol::{CommittedBlock, CompleteRequest, CompleteResponse};
use granary_client::{Error, ErrorKind};

use super::{Namesystem, State};
use crate::retry_cache::Op;

impl Namesystem {
    pub async fn complete(&self, req: CompleteRequest) -> Result<CompleteResponse, Error> {
        self.wait_for_reports(&req).await;
        let min_replication = self.config.min_replication;
        self.mutate(
            Some((Op::Complete, &req.request_id)),
            |state, changes, now| {
                let completing = state
                    .ns
                    .needs_completion(&req.path, req.file, &req.blocks)?;
                if completing {
                    check_reports(state, &req.blocks, min_replication)?;
                }
                let status = state
                    .ns
                    .complete(&req.path, req.file, &req.blocks, now, changes)?;
                if completing {
                    commit_blocks(state, &req);
                }
                Ok(CompleteResponse { status })
            },
        )
        .await
    }

    /// Returns once the blocks of `req` have enough reported replicas, something other than a
    /// missing report stands in the way (the locked attempt then answers it), or
    /// `complete_report_wait` has passed.
    async fn wait_for_reports(&self, req: &CompleteRequest) {
        let deadline = Instant::now() + self.config.complete_report_wait;
        // Subscribed before the first look, so a report landing in between still wakes us.
        let mut reports = self.reports_seen.subscribe();
        loop {
            if !self.reports_missing(req) {
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

    fn reports_missing(&self, req: &CompleteRequest) -> bool {
        let state = self.lock();
        let completing = state.ns.needs_completion(&req.path, req.file, &req.blocks);
        matches!(completing, Ok(true))
            && check_reports(&state, &req.blocks, self.config.min_replication)
                .is_err_and(|e| e.kind == ErrorKind::NotReplicatedYet)
    }

    /// Wakes `complete` calls waiting for reports.
    pub(super) fn reports_arrived(&self) {
        self.reports_seen
            .send_modify(|seen| *seen = seen.wrapping_add(1));
    }
}

/// Every block must have `min_replication` (at most its replication) replicas on live
/// datanodes reported at exactly the committed length and digest. A claim that no reported
/// replica agrees with is `block_mismatch`; too few reports yet is `not_replicated_yet`.
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
            .filter(|(_, r)| r.length == block.length && r.sha256 == block.sha256)
            .count();
        let needed = usize::from(min_replication.min(info.replication).max(1));
        if agreeing >= needed {
            continue;
        }
        if agreeing == 0 {
            if let Some((dn, r)) = live.first() {
                return Err(Error::new(
                    ErrorKind::BlockMismatch,
                    format!(
                        "{}: the writer claims {} bytes with digest {}, but datanode {dn} \
                         reported {} bytes with digest {}",
                        block.id, block.length, block.sha256, r.length, r.sha256
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

/// The file completed: its blocks take their committed length, and replicas reported with
/// another length or digest are dropped and deleted.
fn commit_blocks(state: &mut State, req: &CompleteRequest) {
    let State {
        blocks, datanodes, ..
    } = state;
    for block in &req.blocks {
        for wrong in blocks.commit(block.id, block.length, block.sha256) {
            tracing::warn!(
                block = %block.id, datanode = %wrong,
                "replica reported with another length or digest than committed; deleting it"
            );
            datanodes.queue_delete(&wrong, block.id);
        }
    }
}
