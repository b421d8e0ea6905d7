//! The namesystem: the namespace, the block map and the datanode manager behind one mutex,
//! plus the store and group commit that make namespace changes durable. The HTTP handlers are
//! thin wrappers around its methods (`client` for the namespace calls, `datanode` for
//! datanodes and operators).
//!
//! A mutation runs under the lock (retry-cache lookup, in-memory change, staging its records),
//! then waits for durability outside it, so concurrent mutations share batches and fsyncs.

mod client;
mod datanode;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use granary_client::{BlockId, Error, ErrorKind, RequestId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::blocks::BlockMap;
use crate::config::NamenodeConfig;
use crate::datanodes::DatanodeManager;
use crate::namespace::durability::GroupCommit;
use crate::namespace::store::{RetryRecord, Store};
use crate::namespace::{Changes, Namespace};
use crate::now_ms;
use crate::retry_cache::{self, Op};

/// Everything the one lock protects.
pub(crate) struct State {
    pub ns: Namespace,
    pub blocks: BlockMap,
    pub datanodes: DatanodeManager,
}

pub struct Namesystem {
    config: NamenodeConfig,
    state: Mutex<State>,
    store: Store,
    commit: Arc<GroupCommit>,
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
        let store = Store::open(&config.meta_dir)?;
        let ns = store.load(now_ms())?;
        let mut blocks = BlockMap::default();
        for inode in ns.inodes() {
            if let Some(f) = inode.file() {
                for b in &f.blocks {
                    let length = (!f.under_construction).then_some(b.length);
                    blocks.insert(b.id, inode.id, f.replication, length);
                }
            }
        }
        let (files, dirs) = ns.counts();
        let meta_dir = config.meta_dir.display().to_string();
        tracing::info!(files, directories = dirs, meta_dir, "namespace loaded");
        let datanodes = DatanodeManager::new(config.dead_after);
        Ok(Arc::new(Namesystem {
            state: Mutex::new(State {
                ns,
                blocks,
                datanodes,
            }),
            commit: GroupCommit::new(store.clone()),
            store,
            config,
        }))
    }

    pub fn config(&self) -> &NamenodeConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn group_commit(&self) -> Arc<GroupCommit> {
        self.commit.clone()
    }

    /// Declares silent datanodes dead and drops their replicas from the block map.
    pub fn expire_datanodes(&self, now: Instant) {
        let mut state = self.lock();
        let State {
            blocks, datanodes, ..
        } = &mut *state;
        for id in datanodes.expire(now) {
            let replicas = blocks.remove_datanode(&id);
            let addr = datanodes
                .get(&id)
                .map(|n| n.info.addr.to_string())
                .unwrap_or_default();
            tracing::warn!(
                datanode = %id, %addr, replicas,
                "datanode dead after {:?} without heartbeat; its replicas left the block map",
                self.config.dead_after
            );
        }
    }

    /// How often the dead-datanode monitor should look: a quarter of `dead_after`, ≥ 100 ms.
    pub fn expiry_period(&self) -> Duration {
        (self.config.dead_after / 4).max(Duration::from_millis(100))
    }

    /// Writes and flushes everything staged; for shutdown.
    pub fn flush(&self) -> Result<(), Error> {
        self.store.write_staged()?;
        self.store.flush()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Handlers do not panic while holding the lock; if one ever did, keep serving rather
        // than fail every later request: a change is staged only after it was fully applied.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
        retry: Option<(Op, Vec<u8>)>,
        apply: impl FnOnce(&mut State, &mut Changes, u64) -> Result<T, Error>,
    ) -> Result<Locked<T>, Error> {
        let now = now_ms();
        let mut state = self.lock();
        if let Some((op, key)) = &retry {
            if let Some(value) = self.store.get_retry(key)? {
                if let Some(answer) =
                    retry_cache::decode(*op, &value, now, self.config.retry_cache_ttl)
                {
                    return Ok(Locked::Cached(answer, self.commit.latest()));
                }
            }
        }
        let mut changes = Changes::default();
        let result = apply(&mut state, &mut changes, now);
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
            blocks, datanodes, ..
        } = &mut *state;
        for block in dropped {
            for holder in blocks.remove(block) {
                datanodes.queue_delete(&holder, block);
            }
        }
    }
}
