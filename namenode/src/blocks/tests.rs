use super::*;

const G0: Generation = Generation(0);

fn dn(name: &str) -> DatanodeId {
    DatanodeId(name.to_string())
}

#[test]
fn full_report_replaces_and_flags_unknown_or_wrong_length() {
    let mut map = BlockMap::default();
    map.insert(BlockId(1), InodeId(5), 2, Some(100), G0);
    map.insert(BlockId(2), InodeId(5), 2, None, G0);
    map.insert(BlockId(3), InodeId(5), 2, Some(10), G0);
    assert!(map.add_replica(BlockId(3), &dn("a"), G0));
    let delete = map.apply_full_report(
        &dn("a"),
        &[
            (BlockId(1), 100, G0),
            (BlockId(2), 7, G0),
            (BlockId(9), 1, G0),
            (BlockId(1), 100, G0),
        ],
    );
    assert_eq!(delete, vec![BlockId(9)]);
    assert!(map.get(BlockId(3)).unwrap().replicas.is_empty());
    assert_eq!(map.replica_count(&dn("a")), 2);
    assert_eq!(
        map.check_replica(BlockId(1), 99, G0),
        ReplicaVerdict::WrongLength
    );
}

#[test]
fn safe_counts_follow_completion_and_reports() {
    let mut map = BlockMap::default();
    map.insert(BlockId(1), InodeId(5), 2, Some(1), G0);
    map.insert(BlockId(2), InodeId(5), 2, Some(1), G0);
    map.insert(BlockId(3), InodeId(6), 2, None, G0);
    assert_eq!(map.safe_counts(), (0, 2));
    map.add_replica(BlockId(1), &dn("a"), G0);
    map.add_replica(BlockId(1), &dn("b"), G0);
    map.add_replica(BlockId(3), &dn("a"), G0);
    assert_eq!(map.safe_counts(), (1, 2));
    map.set_length(BlockId(3), 9);
    assert_eq!(map.safe_counts(), (2, 3));
    assert_eq!(map.remove_datanode(&dn("a")), 2);
    assert_eq!(map.safe_counts(), (1, 3));
    assert_eq!(map.remove(BlockId(1)), vec![dn("b")]);
    assert_eq!(map.safe_counts(), (0, 2));
    assert_eq!(map.replica_count(&dn("b")), 0);
}

#[test]
fn changes_mark_blocks_dirty() {
    let mut map = BlockMap::default();
    map.insert(BlockId(1), InodeId(5), 2, Some(1), G0);
    map.insert(BlockId(2), InodeId(5), 2, Some(1), G0);
    let mut first = map.take_dirty(10);
    first.sort();
    assert_eq!(first, vec![BlockId(1), BlockId(2)]);
    assert!(map.take_dirty(10).is_empty());
    map.add_replica(BlockId(2), &dn("a"), G0);
    map.mark_dirty(BlockId(77));
    assert_eq!(
        map.take_dirty(10),
        vec![BlockId(2)],
        "unknown blocks are ignored"
    );
    map.mark_datanode_dirty(&dn("a"));
    map.set_replication(BlockId(1), 3);
    assert_eq!(map.dirty_len(), 2);
    assert_eq!(map.take_dirty(1).len(), 1);
    assert_eq!(map.dirty_len(), 1);
}

#[test]
fn corrupt_marks_survive_reports_until_the_replica_is_gone() {
    let mut map = BlockMap::default();
    map.insert(BlockId(1), InodeId(5), 2, Some(10), G0);
    map.insert(BlockId(2), InodeId(5), 2, Some(10), G0);
    map.add_replica(BlockId(1), &dn("a"), G0);
    map.add_replica(BlockId(2), &dn("a"), G0);
    assert!(map.mark_corrupt(BlockId(1), &dn("a")));
    assert!(!map.mark_corrupt(BlockId(9), &dn("a")), "unknown block");

    // Listed again in a full report: still corrupt.
    map.apply_full_report(&dn("a"), &[(BlockId(1), 10, G0), (BlockId(2), 10, G0)]);
    assert!(map.is_corrupt(BlockId(1), &dn("a")));
    // The node dies and comes back listing it: still corrupt.
    map.remove_datanode(&dn("a"));
    assert!(map.is_corrupt(BlockId(1), &dn("a")));
    map.apply_full_report(&dn("a"), &[(BlockId(1), 10, G0)]);
    assert!(map.is_corrupt(BlockId(1), &dn("a")));
    // Left out of a full report: gone, and so is the mark.
    map.apply_full_report(&dn("a"), &[(BlockId(2), 10, G0)]);
    assert!(!map.is_corrupt(BlockId(1), &dn("a")));

    // Reported deleted: the mark clears too.
    map.add_replica(BlockId(1), &dn("b"), G0);
    map.mark_corrupt(BlockId(1), &dn("b"));
    assert!(map.remove_replica(BlockId(1), &dn("b")));
    assert!(!map.is_corrupt(BlockId(1), &dn("b")));
    map.remove(BlockId(1));
    assert!(!map.mark_corrupt(BlockId(1), &dn("b")));
}

#[test]
fn excess_marks_are_re_deleted_while_reported_and_clear_when_gone() {
    let mut map = BlockMap::default();
    map.insert(BlockId(1), InodeId(5), 1, Some(10), G0);
    map.add_replica(BlockId(1), &dn("a"), G0);
    map.mark_excess(BlockId(1), &dn("a"));
    let again = map.apply_full_report(&dn("a"), &[(BlockId(1), 10, G0)]);
    assert_eq!(again, vec![BlockId(1)], "the delete is ordered again");
    assert!(map.is_excess(BlockId(1), &dn("a")));
    map.apply_full_report(&dn("a"), &[]);
    assert!(!map.is_excess(BlockId(1), &dn("a")));
    map.add_replica(BlockId(1), &dn("a"), G0);
    map.mark_excess(BlockId(1), &dn("a"));
    map.remove_datanode(&dn("a"));
    assert!(!map.is_excess(BlockId(1), &dn("a")));
}
