//! A datanode's administrative state (decommission, maintenance), chosen by an operator and
//! persisted in the metadata store under `a/<datanode id>` so a namenode restart keeps it.
//! In service is the absence of a record.

use std::collections::HashMap;

use granary_client::{DatanodeId, Error};
use serde::{Deserialize, Serialize};

use crate::namespace::store::store_error;

const ADMIN_PREFIX: &[u8] = b"a/";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AdminState {
    #[default]
    InService,
    /// Being drained: readable and a preferred copy source, never a target; its replicas do
    /// not count toward replication.
    Decommissioning,
    /// Drained; may be stopped. Its replicas still do not count.
    Decommissioned,
    /// Away on purpose until `until_ms` (wall clock, so the deadline survives a restart): its
    /// replicas keep counting and its silence does not make it dead.
    Maintenance { until_ms: u64 },
}

impl AdminState {
    pub fn is_maintenance(self) -> bool {
        matches!(self, AdminState::Maintenance { .. })
    }

    /// Decommissioning or decommissioned: leaving, its replicas do not count.
    pub fn is_leaving(self) -> bool {
        matches!(
            self,
            AdminState::Decommissioning | AdminState::Decommissioned
        )
    }

    pub fn maintenance_until_ms(self) -> Option<u64> {
        match self {
            AdminState::Maintenance { until_ms } => Some(until_ms),
            _ => None,
        }
    }
}

fn key(id: &DatanodeId) -> Vec<u8> {
    [ADMIN_PREFIX, id.as_str().as_bytes()].concat()
}

/// Every persisted admin state. A record that does not parse is skipped with a warning: an
/// operator can set it again, which beats refusing to start.
pub fn load(db: &sled::Db) -> Result<HashMap<DatanodeId, AdminState>, Error> {
    let mut states = HashMap::new();
    for entry in db.scan_prefix(ADMIN_PREFIX) {
        let (key, value) = entry.map_err(store_error)?;
        let id = String::from_utf8_lossy(&key[ADMIN_PREFIX.len()..]).into_owned();
        match serde_json::from_slice::<AdminState>(&value) {
            Ok(state) => {
                states.insert(DatanodeId(id), state);
            }
            Err(e) => tracing::warn!(datanode = %id, "ignoring unreadable admin state: {e}"),
        }
    }
    Ok(states)
}

/// Writes (or, for in service, removes) a datanode's record. Durable after the next flush.
pub fn store(db: &sled::Db, id: &DatanodeId, state: AdminState) -> Result<(), Error> {
    if state == AdminState::InService {
        db.remove(key(id)).map_err(store_error)?;
    } else {
        let value = serde_json::to_vec(&state)
            .map_err(|e| Error::internal(format!("cannot encode admin state: {e}")))?;
        db.insert(key(id), value).map_err(store_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_the_store() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let a = DatanodeId("a".into());
        let b = DatanodeId("b".into());
        store(&db, &a, AdminState::Decommissioning).unwrap();
        store(&db, &b, AdminState::Maintenance { until_ms: 42 }).unwrap();
        db.insert(b"a/broken", b"{".to_vec()).unwrap();
        let loaded = load(&db).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[&a], AdminState::Decommissioning);
        assert_eq!(loaded[&b].maintenance_until_ms(), Some(42));
        store(&db, &a, AdminState::InService).unwrap();
        assert!(!load(&db).unwrap().contains_key(&a));
    }
}
