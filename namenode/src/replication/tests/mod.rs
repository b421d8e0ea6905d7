//! The monitor's decisions, driven directly: a hand-built namesystem state, a fake clock, one
//! pass at a time, and the commands it queued.

mod healing;
mod states;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use granary_client::protocol::{DatanodeCommand, DatanodeInfo, StorageReport};
use granary_client::{BlockId, DatanodeId, Generation, InodeId};

const G0: Generation = Generation(0);

use super::{count, run_pass, Pass, ReplicaCounts, ReplicationState, Settings};
use crate::blocks::BlockMap;
use crate::datanodes::DatanodeManager;
use crate::namespace::Namespace;
use crate::namesystem::liveness::declare_lost;
use crate::namesystem::{State, TrackerEvents};
use crate::safemode::SafeMode;

const LEN: u64 = 1000;

/// A copy order as `(source, block, targets)`.
type Copy = (String, BlockId, Vec<String>);
const TIMEOUT: Duration = Duration::from_secs(30);

fn dn(id: &str) -> DatanodeId {
    DatanodeId(id.to_string())
}

struct Fixture {
    state: State,
    settings: Settings,
    now: Instant,
    now_ms: u64,
}

impl Fixture {
    /// Datanodes as `(id, rack, used per mille of capacity)`.
    fn with_racks(nodes: &[(&str, &str, u64)], max_streams: usize) -> Fixture {
        let now = Instant::now();
        let mut datanodes = DatanodeManager::new(Duration::from_secs(30), HashMap::new());
        for (i, &(id, rack, used)) in nodes.iter().enumerate() {
            let info = DatanodeInfo {
                id: dn(id),
                addr: ([10, 0, 0, i as u8 + 1], 9866).into(),
                rack: rack.to_string(),
            };
            let storage = StorageReport {
                capacity: 1000,
                used,
                remaining: 1000 - used,
                blocks: 0,
            };
            datanodes.register(info, storage, now).unwrap();
        }
        Fixture {
            state: State {
                ns: Namespace::new(0),
                blocks: BlockMap::default(),
                datanodes,
                replication: ReplicationState::default(),
                safemode: SafeMode::at_startup(0.0, 0, 0),
                leases: Default::default(),
                recoveries: Default::default(),
                events: TrackerEvents::default(),
            },
            settings: Settings {
                max_streams,
                timeout: TIMEOUT,
                avoid_for: TIMEOUT * 2,
            },
            now,
            now_ms: 1_000_000,
        }
    }

    fn new(nodes: &[&str], max_streams: usize) -> Fixture {
        let nodes: Vec<_> = nodes.iter().map(|&id| (id, "/r", 0)).collect();
        Fixture::with_racks(&nodes, max_streams)
    }

    /// A block of a complete file with replicas on `holders`.
    fn block(&mut self, id: u64, replication: u16, holders: &[&str]) -> BlockId {
        let block = BlockId(id);
        let blocks = &mut self.state.blocks;
        blocks.insert(block, InodeId(100), replication, Some(LEN), G0);
        for holder in holders {
            blocks.add_replica(block, &dn(holder), G0);
        }
        block
    }

    fn pass(&mut self) -> Pass {
        run_pass(&mut self.state, &self.settings, self.now, self.now_ms)
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.now_ms += by.as_millis() as u64;
    }

    fn counts(&self, block: BlockId) -> ReplicaCounts {
        count(self.state.blocks.get(block).unwrap(), &self.state.datanodes)
    }

    /// Takes every node's commands: `(node, block, targets)` copies and `(node, block)` deletes.
    fn commands(&mut self) -> (Vec<Copy>, Vec<(String, BlockId)>) {
        let ids: Vec<DatanodeId> = self
            .state
            .datanodes
            .all()
            .map(|n| n.info.id.clone())
            .collect();
        let (mut copies, mut deletes) = (Vec::new(), Vec::new());
        for id in ids {
            let Ok(commands) = self.state.datanodes.take_commands(&id) else {
                continue;
            };
            for command in commands {
                match command {
                    DatanodeCommand::Replicate { block, targets } => {
                        let targets = targets.into_iter().map(|t| t.id.0).collect();
                        copies.push((id.0.clone(), block, targets));
                    }
                    DatanodeCommand::Delete { blocks } => {
                        deletes.extend(blocks.into_iter().map(|b| (id.0.clone(), b)));
                    }
                    DatanodeCommand::Recover { .. } => {}
                }
            }
        }
        (copies, deletes)
    }

    /// A target reports the replica of a copy, as its incremental report would.
    fn land(&mut self, block: BlockId, target: &str) {
        self.state.blocks.add_replica(block, &dn(target), G0);
        self.state.replication.copy_landed(block, &dn(target), LEN);
    }

    fn lose(&mut self, id: &str) {
        declare_lost(&mut self.state, &dn(id), "test", self.now);
    }
}
