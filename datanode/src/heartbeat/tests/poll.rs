//! The command long-poll against the fake namenode.

use std::sync::atomic::Ordering;

use granary_client::protocol::DatanodeCommand;
use granary_client::BlockId;

use crate::fake_namenode::start_fake_namenode;
use crate::test_support::*;

#[tokio::test]
async fn commands_from_the_poll_delete_and_replicate() {
    let (url, nn) = start_fake_namenode().await;
    let node = start_node_with(&url).await;
    let target = start_node().await;
    for block in [1, 2] {
        let status = put(&node.info, block, &data(150_000, block as u8), &[]).await;
        assert_eq!(status.status(), 200);
    }
    wait_until("the datanode polls for commands", || {
        nn.polls.load(Ordering::SeqCst) >= 1
    })
    .await;

    nn.queue_poll_commands(vec![DatanodeCommand::Delete {
        blocks: vec![BlockId(1)],
    }]);
    wait_until("block 1 deleted", || !node.store.contains(BlockId(1))).await;

    nn.queue_poll_commands(vec![DatanodeCommand::Replicate {
        block: BlockId(2),
        targets: vec![target.info.clone()],
    }]);
    wait_until("block 2 copied to the target", || {
        target.store.length(BlockId(2)) == Some(150_000)
    })
    .await;
    assert!(node.store.contains(BlockId(2)));
    // Heartbeats never carried these commands: the poll alone delivered them.
    assert!(nn.heartbeat_commands.lock().unwrap().is_empty());
}
