//! A datanode registering with an id that is alive at another address.

use std::net::SocketAddr;

use granary_client::protocol::*;
use granary_client::ErrorKind;
use tempfile::TempDir;

use super::liveness::{closed_addr, healthy_listener, register_at, state_of};
use super::{dn, put_one_block, register, Running};
use crate::Namesystem;

fn request(id: &str, addr: SocketAddr) -> RegisterRequest {
    RegisterRequest {
        datanode: DatanodeInfo {
            id: dn(id),
            addr,
            rack: DEFAULT_RACK.into(),
        },
        storage: StorageReport::default(),
    }
}

fn addr_of(nn: &Namesystem, id: &str) -> SocketAddr {
    let report = nn.cluster_report();
    let node = report.datanodes.iter().find(|d| d.info.id == dn(id));
    node.unwrap().info.addr
}

#[tokio::test]
async fn a_datanode_restarted_at_a_new_port_takes_over_its_id_once_the_old_one_is_silent() {
    // The old process shut down cleanly: its lifeline ended while it still answered its
    // probe, so nothing declared it dead, and now nothing listens at its address.
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    let old = closed_addr();
    register_at(nn, "dn-a", old);
    register(nn, "dn-b", 2);
    let (_, holders) = put_one_block(nn, "/f", None).await;
    assert!(holders.contains(&dn("dn-a")));

    let new = closed_addr();
    assert_ne!(old, new);
    nn.register_datanode(request("dn-a", new), new.ip())
        .await
        .expect("the restarted datanode takes its id over");
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Live);
    assert_eq!(addr_of(nn, "dn-a"), new);
    // The old process's replicas left the block map with it; the new one reports its own.
    let report = nn.cluster_report();
    let node = report.datanodes.iter().find(|d| d.info.id == dn("dn-a"));
    assert_eq!(node.unwrap().blocks, 0);
    running.close().await;
}

#[tokio::test]
async fn a_second_process_cannot_take_the_id_of_a_node_that_still_answers() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    let live = healthy_listener().await;
    register_at(nn, "dn-a", live);

    let other = closed_addr();
    let err = nn
        .register_datanode(request("dn-a", other), other.ip())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DatanodeConflict);
    assert_eq!(state_of(nn, "dn-a"), DatanodeState::Live);
    assert_eq!(addr_of(nn, "dn-a"), live);
    running.close().await;
}
