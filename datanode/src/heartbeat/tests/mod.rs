mod commands;
mod lifeline;
mod poll;

use std::sync::atomic::Ordering;

use granary_client::protocol::*;
use granary_client::BlockId;

use crate::fake_namenode::start_fake_namenode;
use crate::test_support::*;

#[tokio::test]
async fn registers_again_after_unknown_datanode_and_runs_heartbeat_commands() {
    let (url, nn) = start_fake_namenode().await;
    nn.forget_heartbeats.store(1, Ordering::SeqCst);
    let node = start_node_with(&url).await;
    let target = start_node().await;

    wait_until("registered twice with two full reports", || {
        nn.registers.load(Ordering::SeqCst) >= 2 && nn.reports.lock().unwrap().len() >= 2
    })
    .await;
    assert!(nn
        .reports
        .lock()
        .unwrap()
        .iter()
        .all(|r| &r.id == node.store.id()));

    assert_eq!(
        put(&node.info, 5, &data(100_000, 5), &[]).await.status(),
        200
    );
    let received = |nn: &crate::fake_namenode::FakeNamenode, block| {
        nn.incremental
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.received.iter().any(|x| x.block == BlockId(block)))
    };
    wait_until("block 5 reported received", || received(&nn, 5)).await;

    let replicate = DatanodeCommand::Replicate {
        block: BlockId(5),
        targets: vec![target.info.clone()],
    };
    nn.heartbeat_commands.lock().unwrap().push(replicate);
    wait_until("block 5 replicated", || {
        target.store.length(BlockId(5)) == Some(100_000)
    })
    .await;

    nn.heartbeat_commands
        .lock()
        .unwrap()
        .push(DatanodeCommand::Delete {
            blocks: vec![BlockId(5)],
        });
    wait_until("block 5 deleted and reported", || {
        !node.store.contains(BlockId(5))
            && nn
                .incremental
                .lock()
                .unwrap()
                .iter()
                .any(|r| r.deleted == [BlockId(5)])
    })
    .await;
}
