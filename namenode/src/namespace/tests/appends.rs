//! Appends at the namespace level: which blocks a completing appender keeps, generations
//! handed out once each, truncate's plan.

use granary_client::protocol::CommittedBlock;
use granary_client::{ErrorKind, Generation};

use super::super::{Changes, Namespace, Truncated};
use super::{committed, kind, p, params, w, BS};

fn at(block: CommittedBlock, generation: u64) -> CommittedBlock {
    CommittedBlock {
        generation: Generation(generation),
        ..block
    }
}

#[test]
fn an_appender_completes_with_the_blocks_it_wrote_after_those_the_file_had() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    let id = ns
        .create(&p("/f"), params(), &w(), false, false, 1, c)
        .unwrap();
    let (b1, _) = ns.add_block(&p("/f"), id, &w(), None, c).unwrap();
    let (b2, _) = ns
        .add_block(&p("/f"), id, &w(), Some(&committed(b1, BS)), c)
        .unwrap();
    ns.complete(
        &p("/f"),
        id,
        &w(),
        &[committed(b1, BS), committed(b2, 10)],
        2,
        c,
    )
    .unwrap();

    let appended = ns.append(&p("/f"), &w(), 3, c).unwrap();
    let reopened = appended.last_block.unwrap();
    assert_eq!(
        (reopened.block, reopened.generation, reopened.length),
        (b2, Generation(2), 10)
    );
    assert_eq!(kind(ns.append(&p("/f"), &w(), 3, c)), ErrorKind::LeaseHeld);
    let early = [at(committed(b1, BS), 1)];
    assert_eq!(
        kind(ns.complete(&p("/f"), id, &w(), &early, 4, c)),
        ErrorKind::InvalidArgument,
        "closed before the append opened the file"
    );
    let (b3, _) = ns
        .add_block(&p("/f"), id, &w(), Some(&at(committed(b2, BS), 2)), c)
        .unwrap();
    let written = [at(committed(b2, BS), 2), committed(b3, 7)];
    let status = ns.complete(&p("/f"), id, &w(), &written, 5, c).unwrap();
    assert_eq!(status.length, 2 * BS + 7);

    let appended = ns.append(&p("/f"), &w(), 6, c).unwrap();
    assert_eq!(
        appended.last_block.unwrap().generation,
        Generation(2),
        "b3's second"
    );
    let status = ns.complete(&p("/f"), id, &w(), &[], 7, c).unwrap();
    assert_eq!(
        status.length,
        2 * BS + 7,
        "an append that wrote nothing keeps every block"
    );
    assert_eq!(ns.get(id).unwrap().file().unwrap().blocks.len(), 3);
}

#[test]
fn truncate_plans_before_it_changes_anything() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    let id = ns
        .create(&p("/f"), params(), &w(), false, false, 1, c)
        .unwrap();
    let (b1, _) = ns.add_block(&p("/f"), id, &w(), None, c).unwrap();
    ns.complete(&p("/f"), id, &w(), &[committed(b1, 100)], 2, c)
        .unwrap();
    assert_eq!(
        kind(ns.truncate(&p("/f"), 101, &w(), 3, c)),
        ErrorKind::InvalidArgument
    );
    let (_, cut) = ns.truncate_plan(&p("/f"), 40).unwrap();
    assert_eq!(cut.map(|c| (c.block, c.keep)), Some((b1, 40)));
    let Truncated::Cutting {
        generation, keep, ..
    } = ns.truncate(&p("/f"), 40, &w(), 3, c).unwrap()
    else {
        panic!("a cut inside the block");
    };
    assert_eq!((generation, keep), (Generation(2), 40));
    assert_eq!(ns.stat(&p("/f")).unwrap().length, 40);
    assert_eq!(
        ns.bump_last_generation(id, c).unwrap(),
        Generation(3),
        "never handed out twice"
    );
}
