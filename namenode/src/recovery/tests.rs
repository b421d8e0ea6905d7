use std::time::{Duration, Instant};

use granary_client::protocol::{DatanodeInfo, DEFAULT_RACK};
use granary_client::{BlockId, DatanodeId, Generation, InodeId};

use super::{choose_primary, BlockRecovery, Recoveries};

fn node(id: &str) -> DatanodeInfo {
    DatanodeInfo {
        id: DatanodeId(id.into()),
        addr: ([127, 0, 0, 1], 1).into(),
        rack: DEFAULT_RACK.into(),
    }
}

#[test]
fn another_primary_is_chosen_until_every_candidate_had_its_turn() {
    let nodes = [node("a"), node("b")];
    let a = DatanodeId("a".into());
    let b = DatanodeId("b".into());
    assert_eq!(choose_primary(&nodes, &[]).unwrap().id, a);
    assert_eq!(
        choose_primary(&nodes, std::slice::from_ref(&a)).unwrap().id,
        b
    );
    assert_eq!(
        choose_primary(&nodes, &[b.clone(), a.clone()]).unwrap().id,
        b
    );
    assert!(choose_primary(&[], &[a]).is_none());
}

#[test]
fn recoveries_are_found_by_file_and_block_and_time_out() {
    let start = Instant::now();
    let mut recoveries = Recoveries::default();
    recoveries.start(BlockRecovery {
        file: InodeId(5),
        block: BlockId(9),
        generation: Generation(3),
        length: None,
        primary: DatanodeId("a".into()),
        primaries: vec![DatanodeId("a".into())],
        ordered: start,
    });
    assert!(recoveries.is_recovering(InodeId(5)));
    assert_eq!(
        recoveries.of_block(BlockId(9)).unwrap().generation,
        Generation(3)
    );
    let timeout = Duration::from_secs(1);
    assert!(recoveries.timed_out(start, timeout).is_empty());
    assert_eq!(
        recoveries.timed_out(start + timeout, timeout),
        vec![InodeId(5)]
    );
    assert!(recoveries.finish(InodeId(5)).is_some());
    assert!(recoveries.of_block(BlockId(9)).is_none());
    assert!(recoveries.is_empty());
}
