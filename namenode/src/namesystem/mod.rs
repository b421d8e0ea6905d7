//! The namesystem: the namespace, the block map, the datanode manager, the replication state
//! and safe mode behind one mutex, plus the store and group commit that make namespace changes
//! durable. The HTTP handlers are thin wrappers around its methods (`client` for the namespace
//! calls, `writers` for appends, flushes, leases, truncate and concat, `recovery` for lease
//! recovery and the lease monitor, `datanode` for datanode reports, `liveness` for lifelines,
//! expiry and the command long-poll, `admin` for operators).
//!
//! A mutation runs under the lock (retry-cache lookup, in-memory change, staging its records),
//! then waits for durability outside it, so concurrent mutations share batches and fsyncs.

mod access;
mod admin;
mod client;
mod clone;
mod complete;
mod datanode;
mod events;
pub(crate) mod liveness;
mod recovery;
#[cfg(test)]
mod tests;
mod writers;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use granary_client::protocol::{CommittedBlock, DatanodeInfo};
use granary_client::{
    BlockId, Error, ErrorKind, FsPath, Generation, InodeId, LeaseHolder, RequestId,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::blocks::BlockMap;
use crate::config::NamenodeConfig;
use crate::datanodes::{admin_state, DatanodeManager};
use crate::leases::LeaseTable;
use crate::namespace::durability::GroupCommit;
use crate::namespace::store::{RetryLimits, RetryRecord, Store};
use crate::namespace::{Changes, FileInode, Namespace};
use crate::now_ms;
use crate::recovery::Recoveries;
use crate::replication::{self, ReplicationState, Settings};
use crate::retry_cache::{self, Op, RetryKey};
use crate::safemode::SafeMode;
use crate::users::Users;
pub(crate) use events::{leave_safe_mode, update_safe_mode, TrackerEvents};

/// Everything the one lock protects.
pub(crate) struct State {
    pub ns: Namespace,
    pub blocks: BlockMap,
    pub datanodes: DatanodeManager,
    pub replication: ReplicationState,
    pub safemode: SafeMode,
    /// Who has which files open, and when each holder last renewed.
    pub leases: LeaseTable,
    /// Block recoveries in flight.
    pub recoveries: Recoveries,
    /// The job tracker's events, once it subscribed.
    pub events: TrackerEvents,
}

pub struct Namesystem {
    config: NamenodeConfig,
    /// Callers' groups and who the superuser is.
    users: Users,
    settings: Settings,
    state: Mutex<State>,
    store: Store,
    commit: Arc<GroupCommit>,
    /// Runs the replication monitor before its next tick (a node died, a copy landed).
    monitor_wake: Notify,
    /// Set when the process shuts down, so held-open requests (lifelines, long-polls) end.
    shutdown: watch::Sender<bool>,
    /// Bumped by every incremental report that recorded a replica of a block under
    /// construction: what a `complete` waiting for its reports waits on.
    reports_seen: watch::Sender<u64>,
}

/// The outcome of the locked part of a mutation.
enum Locked<T> {
    /// Answered from the retry cache; wait for whatever was written before to be durable.
    Cached(Result<T, Error>, u64),
    Applied {
        result: Result<T, Error>,
        dropped: Vec<BlockId>,
        epoch: u64,
    },
    /// Changed nothing and stored nothing (a failure not worth caching, or a no-op): there
    /// is nothing to wait for.
    Unchanged(Result<T, Error>),
}

impl Namesystem {
    /// Opens (or initialises) the metadata store in `config.meta_dir` and loads the namespace.
    pub fn open(config: NamenodeConfig) -> Result<Arc<Self>, Error> {
        std::fs::create_dir_all(&config.meta_dir)
            .map_err(|e| Error::io(format!("cannot create {}", config.meta_dir.display()), e))?;
        let limits = RetryLimits::from(&config);
        let store = Store::open_with(&config.meta_dir, config.journal_segment_size, limits)?;
        let mut ns = store.load(now_ms())?;
        let superuser = granary_client::user::effective_user_name()?;
        ns.assign_unowned(&superuser);
        let mut blocks = BlockMap::default();
        let mut leases = LeaseTable::default();
        let started = Instant::now();
        for inode in ns.inodes() {
            if let Some(f) = inode.file() {
                for b in &f.blocks {
                    let length = (!f.under_construction).then_some(b.length);
                    blocks.insert(b.id, inode.id, f.replication, length, b.generation);
                }
                // Every holder's soft limit starts afresh. A file opened before leases
                // existed has no holder: any writer may recover it at once, and the hard
                // limit closes it.
                if f.under_construction {
                    let holder = f.lease_holder.clone().unwrap_or_else(pre_lease_writer);
                    leases.add(&holder, inode.id, started);
                }
            }
        }
        let (files, dirs) = ns.counts();
        let meta_dir = config.meta_dir.display().to_string();
        let open = leases.holders();
        tracing::info!(
            files,
            directories = dirs,
            lease_holders = open,
            meta_dir,
            "namespace loaded"
        );
        let remembered = admin_state::load(store.db())?;
        if !remembered.is_empty() {
            tracing::info!(datanodes = remembered.len(), "admin states loaded");
        }
        let mut datanodes = DatanodeManager::new(config.dead_after, remembered);
        let (reported, total) = blocks.safe_counts();
        let safemode = SafeMode::at_startup(config.safemode_threshold, reported, total);
        datanodes.set_hold_deletes(safemode.is_on());
        Ok(Arc::new(Namesystem {
            state: Mutex::new(State {
                ns,
                blocks,
                datanodes,
                replication: ReplicationState::default(),
                safemode,
                leases,
                recoveries: Recoveries::default(),
                events: TrackerEvents::default(),
            }),
            commit: GroupCommit::new(store.clone()),
            store,
            settings: Settings::from_config(&config),
            users: Users::new(superuser, config.superuser_group.clone()),
            config,
            monitor_wake: Notify::new(),
            shutdown: watch::Sender::new(false),
            reports_seen: watch::Sender::new(0),
        }))
    }

    pub fn config(&self) -> &NamenodeConfig {
        &self.config
    }

    /// Callers: their groups, and the superuser.
    pub fn users(&self) -> &Users {
        &self.users
    }

    /// What create and append answer: writers renew every half of it.
    fn lease_soft_limit_ms(&self) -> u64 {
        u64::try_from(self.config.lease_soft_limit.as_millis()).unwrap_or(u64::MAX)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn group_commit(&self) -> Arc<GroupCommit> {
        self.commit.clone()
    }

    /// How often the dead-datanode monitor should look: a quarter of `dead_after`, ≥ 100 ms.
    pub fn expiry_period(&self) -> Duration {
        (self.config.dead_after / 4).max(Duration::from_millis(100))
    }

    /// One pass of the replication monitor (see `replication::monitor`); persists the admin
    /// states it changed.
    pub fn replication_pass(&self, now: Instant) -> replication::Pass {
        let mut state = self.lock();
        let pass = replication::run_pass(&mut state, &self.settings, now, now_ms());
        self.publish_deaths(&mut state);
        for id in &pass.admin_changed {
            let admin = state.datanodes.get(id).map(|n| n.admin).unwrap_or_default();
            // Durable with the next checkpoint's sled flush: if lost, the next pass after a
            // restart makes the same decision again.
            if let Err(e) = admin_state::store(self.store.db(), id, admin) {
                tracing::warn!(datanode = %id, "cannot persist admin state: {}", e.message);
            }
        }
        pass
    }

    /// Runs the replication monitor every `replication_check_interval`, and at once when woken;
    /// runs until its task is aborted.
    pub async fn run_replication_monitor(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.config.replication_check_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.monitor_wake.notified() => {}
            }
            let pass = self.replication_pass(Instant::now());
            if pass.copies_ordered + pass.replicas_trimmed + pass.corrupt_deleted > 0 {
                tracing::debug!(?pass, "replication pass");
            }
        }
    }

    /// Asks the replication monitor to run now.
    pub fn wake_monitor(&self) {
        self.monitor_wake.notify_one();
    }

    /// Ends held-open requests (lifelines, command polls) so a shutdown is not delayed by them.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once [`Namesystem::begin_shutdown`] was called.
    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stopping| *stopping).await;
    }

    /// Commits everything staged (unless a commit failed before) and checkpoints; for
    /// shutdown.
    pub fn flush(&self) -> Result<(), Error> {
        if !self.commit.is_broken() {
            self.store.commit(|_| {})?;
        }
        self.store.checkpoint()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        granary_client::sync::lock(&self.state, "namesystem")
    }

    /// Runs one namespace mutation: answers a repeated request id from the retry cache,
    /// otherwise applies `apply`, stages its changes and answer together, and returns
    /// once that batch is durable.
    pub(crate) async fn mutate<T: Serialize + DeserializeOwned>(
        &self,
        retry: Option<(Op, &RequestId)>,
        apply: impl FnOnce(&mut State, &mut Changes, u64) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.commit.is_broken() {
            return Err(Error::new(
                ErrorKind::Io,
                "the metadata store failed earlier; restart the namenode",
            ));
        }
        let retry = match retry {
            Some((op, id)) => Some((op, retry_cache::key(id)?)),
            None => None,
        };
        match self.mutate_locked(retry, apply)? {
            Locked::Unchanged(result) => result,
            Locked::Cached(answer, epoch) => {
                self.commit.wait_durable(epoch).await?;
                answer
            }
            Locked::Applied {
                result,
                dropped,
                epoch,
            } => {
                self.commit.wait_durable(epoch).await?;
                self.release_blocks(dropped);
                result
            }
        }
    }

    fn mutate_locked<T: Serialize + DeserializeOwned>(
        &self,
        retry: Option<(Op, RetryKey)>,
        apply: impl FnOnce(&mut State, &mut Changes, u64) -> Result<T, Error>,
    ) -> Result<Locked<T>, Error> {
        let now = now_ms();
        let mut state = self.lock();
        if let Some((op, key)) = &retry {
            if let Some(value) = self.store.get_retry(key) {
                if let Some(answer) =
                    retry_cache::decode(*op, &value, now, self.config.retry_cache_ttl)
                {
                    return Ok(Locked::Cached(answer, self.commit.latest()));
                }
            }
        }
        let (reported, total) = state.blocks.safe_counts();
        if let Err(e) = state.safemode.check_writable(reported, total) {
            return Ok(Locked::Unchanged(Err(e)));
        }
        let mut changes = Changes::default();
        let result = apply(&mut state, &mut changes, now);
        for &removed in &changes.removed {
            state.leases.remove(removed);
            state.recoveries.finish(removed);
        }
        let record = match retry {
            Some((op, key)) if retry_cache::is_cacheable(&result) => {
                match retry_cache::encode(op, &result, now) {
                    Ok(value) => Some(RetryRecord { key, value }),
                    Err(e) => {
                        tracing::warn!("answer not cached: {}", e.message);
                        None
                    }
                }
            }
            _ => None,
        };
        if record.is_none() && changes.is_empty() {
            return Ok(Locked::Unchanged(result));
        }
        let epoch = match self.store.stage(&state.ns, &changes, record) {
            Ok(epoch) => epoch,
            Err(e) => {
                self.commit.mark_broken(&e.message);
                return Err(e);
            }
        };
        self.commit.staged();
        Ok(Locked::Applied {
            result,
            dropped: changes.dropped_blocks,
            epoch,
        })
    }

    /// Blocks that left the namespace durably: forget them and delete their replicas.
    fn release_blocks(&self, dropped: Vec<BlockId>) {
        if dropped.is_empty() {
            return;
        }
        let mut state = self.lock();
        let State {
            blocks,
            datanodes,
            replication,
            ..
        } = &mut *state;
        for block in dropped {
            replication.forget_block(block);
            for holder in blocks.remove(block) {
                datanodes.queue_delete(&holder, block);
            }
        }
    }
}

/// The holder the lease table files a file under when its inode names none (opened before
/// leases existed).
fn pre_lease_writer() -> LeaseHolder {
    "granary-pre-lease-writer"
        .parse()
        .expect("a valid constant lease holder")
}

/// The writer's next block, on `targets`, each expecting `bytes` (what placement counts as
/// scheduled on them): commits `previous` (its stale replicas queued for deletion), then adds
/// the block to the file and opens it on the targets. For `add_block` and `add_cloned_block`.
pub(crate) fn allocate_block(
    state: &mut State,
    changes: &mut Changes,
    writer: NextBlockOf<'_>,
    targets: &[DatanodeInfo],
    bytes: u64,
) -> Result<(BlockId, Generation), Error> {
    let NextBlockOf {
        path,
        file,
        holder,
        previous,
        replication,
    } = writer;
    let (block, generation) = state.ns.add_block(path, file, holder, previous, changes)?;
    if let Some(previous) = previous {
        for stale in state
            .blocks
            .commit_generation(previous.id, previous.generation)
        {
            state.datanodes.queue_delete(&stale, previous.id);
        }
    }
    state
        .blocks
        .insert(block, file, replication, None, generation);
    let ids = targets.iter().map(|d| d.id.clone()).collect();
    state.blocks.reopen(block, ids);
    for target in targets {
        state.datanodes.add_scheduled(&target.id, bytes);
    }
    Ok((block, generation))
}

/// Whose next block [`allocate_block`] adds.
pub(crate) struct NextBlockOf<'a> {
    pub path: &'a FsPath,
    pub file: InodeId,
    pub holder: &'a LeaseHolder,
    pub previous: Option<&'a CommittedBlock>,
    pub replication: u16,
}

/// The file a writer call names, if `holder` still holds it: open, its lease, and not being
/// recovered (a recovery took the file from its writer; `lease_expired`).
pub(crate) fn writer_file<'a>(
    state: &'a State,
    path: &FsPath,
    file: InodeId,
    holder: &LeaseHolder,
) -> Result<&'a FileInode, Error> {
    let f = state.ns.writable_file(path, file, holder)?;
    if state.recoveries.is_recovering(file) {
        return Err(Error::new(
            ErrorKind::LeaseExpired,
            format!("{path}: the lease of {holder} expired and the file is being recovered"),
        ));
    }
    Ok(f)
}
