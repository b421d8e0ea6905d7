use std::time::{Duration, Instant};

use granary_client::{InodeId, LeaseHolder};

use super::LeaseTable;

fn holder(name: &str) -> LeaseHolder {
    name.parse().unwrap()
}

#[test]
fn leases_age_renew_and_expire_per_holder() {
    let start = Instant::now();
    let mut table = LeaseTable::default();
    table.add(&holder("a"), InodeId(10), start);
    table.add(&holder("a"), InodeId(11), start);
    table.add(&holder("b"), InodeId(12), start);
    let later = start + Duration::from_secs(5);
    assert!(table.renew(&holder("b"), later));
    assert!(!table.renew(&holder("nobody"), later));
    let limit = Duration::from_secs(2);
    assert!(table.expired(&holder("a"), later, limit));
    assert!(!table.expired(&holder("b"), later, limit));
    assert!(table.expired(&holder("nobody"), later, limit));
    let mut past = table.files_past(later, limit);
    past.sort();
    assert_eq!(
        past,
        vec![(holder("a"), InodeId(10)), (holder("a"), InodeId(11))]
    );

    table.remove(InodeId(10));
    table.remove(InodeId(11));
    assert_eq!(
        table.holders(),
        1,
        "a holder with no file left holds no lease"
    );
    assert_eq!(table.age(&holder("b"), later), Some(Duration::ZERO));
    table.add(&holder("c"), InodeId(12), later);
    assert_eq!(
        table.holders(),
        1,
        "a file taken over leaves its old holder"
    );
}
