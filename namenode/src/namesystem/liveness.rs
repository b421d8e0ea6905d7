//! Knowing when a datanode is gone, and talking to it while it is not.
//!
//! * The lifeline: each datanode keeps one request open whose body never ends while its
//!   process lives. When the body ends (the kernel closed the dead process's socket, within
//!   milliseconds of a `kill -9`) the namenode asks the node's data address for its health;
//!   if nothing answers, the node is declared dead at once. A lifeline that ends while
//!   the node still accepts connections (a network blip, a proxy) changes nothing: heartbeats
//!   and `dead_after` decide.
//! * `dead_after` without a heartbeat still declares silent nodes dead (a hung process, a
//!   partition that drops packets instead of closing sockets).
//! * A registration for an id alive at another address probes that address: if nothing
//!   answers there, the old process is gone (its lifeline may have ended while it still
//!   answered, during a clean shutdown) and the new one takes the id over at once.
//! * The command long-poll answers as soon as a command is queued for the node.
//!
//! Every death path ends in [`declare_lost`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use futures_util::StreamExt;
use granary_client::protocol::routes::{self, Endpoint};
use granary_client::protocol::{HeartbeatResponse, RegisterRequest, RegisterResponse};
use granary_client::{DatanodeId, Error, ErrorKind};
use tokio::net::TcpStream;

use super::{Namesystem, State};
use crate::datanodes::Liveness;

impl Namesystem {
    /// Serves one lifeline until its body ends, then probes the node if it is still the same
    /// registration. `UnknownDatanode` for a node that is not registered, was declared dead,
    /// or registered from another host than `peer`.
    pub async fn lifeline(&self, id: &DatanodeId, peer: IpAddr, body: Body) -> Result<(), Error> {
        let generation = self.lock().datanodes.reporting_from(id, peer)?.generation;
        let ended = tokio::select! {
            ended = read_to_end(body) => ended,
            () = self.shutting_down() => return Ok(()),
        };
        // A node that registered again since (it restarted), or is already dead or away, is
        // none of this lifeline's business any more.
        let addr = {
            let state = self.lock();
            let node = state.datanodes.get(id);
            match node.filter(|n| n.generation == generation && n.is_alive()) {
                Some(node) => node.info.addr,
                None => return Ok(()),
            }
        };
        let Err(why) = probe(addr, self.config.lifeline_probe_timeout).await else {
            tracing::debug!(datanode = %id, "lifeline {ended}, but the datanode accepts connections");
            return Ok(());
        };
        let reason = format!("its lifeline {ended} and connecting to {addr} failed ({why})");
        let lost = {
            let mut state = self.lock();
            let same = state
                .datanodes
                .get(id)
                .is_some_and(|n| n.generation == generation);
            let lost = same && declare_lost(&mut state, id, &reason, Instant::now());
            self.publish_deaths(&mut state);
            lost
        };
        if lost {
            self.wake_monitor();
        }
        Ok(())
    }

    /// Registers the datanode that sent `req` from `peer` (see [`Namesystem::register`]). An
    /// id alive at another address is refused only while that address answers its health
    /// check: a datanode restarted at a new port takes its id over as soon as the old
    /// process is gone, instead of waiting out `dead_after` while copies and readers are sent
    /// where nothing listens.
    pub async fn register_datanode(
        &self,
        req: RegisterRequest,
        peer: IpAddr,
    ) -> Result<RegisterResponse, Error> {
        let id = req.datanode.id.clone();
        let conflict = match self.register(req.clone(), peer) {
            Err(e) if e.kind == ErrorKind::DatanodeConflict => e,
            other => return other,
        };
        let registered = {
            let state = self.lock();
            let node = state.datanodes.get(&id).filter(|n| n.is_alive());
            node.map(|n| (n.info.addr, n.generation))
        };
        let Some((addr, generation)) = registered else {
            // Declared dead meanwhile: nothing stands in the way any more.
            return self.register(req, peer);
        };
        if let Err(why) = probe(addr, self.config.lifeline_probe_timeout).await {
            let reason =
                format!("it registered again from {peer} and connecting to {addr} failed ({why})");
            let lost = {
                let mut state = self.lock();
                let same = state
                    .datanodes
                    .get(&id)
                    .is_some_and(|n| n.generation == generation);
                let lost = same && declare_lost(&mut state, &id, &reason, Instant::now());
                self.publish_deaths(&mut state);
                lost
            };
            if lost {
                self.wake_monitor();
            }
            return self.register(req, peer).inspect_err(|e| {
                tracing::warn!(datanode = %id, %peer, "registration refused: {e}");
            });
        }
        tracing::warn!(datanode = %id, %peer, "registration refused: {conflict}");
        Err(conflict)
    }

    /// Declares dead (or, in maintenance, away) every node silent for `dead_after`.
    pub fn expire_datanodes(&self, now: Instant) {
        let mut state = self.lock();
        let reason = format!("no heartbeat for {:?}", self.config.dead_after);
        let mut lost = false;
        for id in state.datanodes.silent(now) {
            lost |= declare_lost(&mut state, &id, &reason, now);
        }
        self.publish_deaths(&mut state);
        drop(state);
        if lost {
            self.wake_monitor();
        }
    }

    /// Whether job tasks are running, which paces the healing of blocks that still have two
    /// replicas (see `ReplicationState::yield_to_jobs`). Set by the job tracker as it changes.
    /// (Deaths go the other way as events, `events`: a dead datanode's executor is gone with
    /// it, and waiting for its polls to stop would waste `executor_dead_after` on every task.)
    pub fn set_jobs_running(&self, running: bool) {
        self.lock().replication.yield_to_jobs = running;
    }

    /// The command long-poll: the node's pending commands at once if it has some, otherwise
    /// the first ones queued within `command_poll_timeout`, otherwise none. Only from the
    /// host the node registered from.
    pub async fn poll_commands(
        &self,
        id: &DatanodeId,
        peer: IpAddr,
    ) -> Result<HeartbeatResponse, Error> {
        let deadline = tokio::time::Instant::now() + self.config.command_poll_timeout;
        loop {
            let wake = {
                let mut state = self.lock();
                state.datanodes.reporting_from(id, peer)?;
                let commands = state.datanodes.take_commands(id)?;
                if !commands.is_empty() {
                    return Ok(HeartbeatResponse { commands });
                }
                state.datanodes.poll_waker(id)?.0
            };
            // A wake-up may find nothing to take (a heartbeat reply took it first, or the
            // deletions are held in safe mode): then wait again, for the rest of the time.
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep_until(deadline) => break,
                () = self.shutting_down() => break,
            }
        }
        Ok(HeartbeatResponse::default())
    }
}

/// Reads a lifeline body to its end; says how it ended.
async fn read_to_end(body: Body) -> String {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        if let Err(e) = chunk {
            return format!("broke ({e})");
        }
    }
    "ended".to_string()
}

/// Asks the node's data address for `/v1/health` and wants `200` back within `timeout`, twice
/// if the first try fails. A bare TCP connect is not enough: a `kill -9`ed process closes its
/// sockets one by one, so its listening socket may still complete a handshake just after its
/// lifeline dropped, but nobody will ever answer on it.
async fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    if let Ok(Ok(())) = tokio::time::timeout(timeout, health_check(addr)).await {
        return Ok(());
    }
    tokio::time::sleep(PROBE_RETRY_PAUSE).await;
    match tokio::time::timeout(timeout, health_check(addr)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Pause between the two tries of a probe.
const PROBE_RETRY_PAUSE: Duration = Duration::from_millis(50);

async fn health_check(addr: SocketAddr) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        routes::Health::METHOD.as_str(),
        routes::Health::PATH
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut status_line = [0u8; 12];
    stream
        .read_exact(&mut status_line)
        .await
        .map_err(|e| e.to_string())?;
    match &status_line {
        b"HTTP/1.1 200" => Ok(()),
        other => Err(format!(
            "unexpected answer {:?}",
            String::from_utf8_lossy(other)
        )),
    }
}

/// A datanode is gone. In a maintenance window it is only *away*: its replicas stay in the
/// block map and keep counting, readers are not sent to it. Otherwise it is dead: its replicas
/// leave the block map, its blocks are re-examined (and re-replicated), copies it was part of
/// are dropped. Returns false if it was already dead (or away).
pub(crate) fn declare_lost(state: &mut State, id: &DatanodeId, reason: &str, now: Instant) -> bool {
    let Some(node) = state.datanodes.get(id) else {
        return false;
    };
    let silent_for = now.saturating_duration_since(node.last_heartbeat);
    let maintenance = node.admin.is_maintenance();
    let target = if maintenance {
        Liveness::Away
    } else {
        Liveness::Dead
    };
    if node.liveness == Liveness::Dead || node.liveness == target {
        return false;
    }
    let addr = node.info.addr;
    state.datanodes.set_liveness(id, target);
    for block in state.replication.pending.forget_node(id) {
        state.blocks.mark_dirty(block);
    }
    if maintenance {
        state.blocks.mark_datanode_dirty(id);
        tracing::info!(
            datanode = %id, %addr, reason, seconds_since_heartbeat = silent_for.as_secs_f64(),
            "datanode away during its maintenance window; its replicas keep counting"
        );
    } else {
        let replicas = state.blocks.remove_datanode(id);
        let state_name = state.datanodes.get(id).map(|n| n.state());
        tracing::warn!(
            datanode = %id, %addr, reason, seconds_since_heartbeat = silent_for.as_secs_f64(),
            replicas, reported_state = ?state_name,
            "datanode declared dead; its replicas left the block map"
        );
    }
    true
}
