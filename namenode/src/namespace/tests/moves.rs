//! Renames, the writer's block rules, listings and rebuilding from records.

use granary_client::{ErrorKind, InodeId};

use super::super::{Changes, FileParams, Namespace};
use super::{committed, kind, mkdirs, p, params, touch_file, w, BS};

#[test]
fn renaming_a_directory_rewrites_one_record_and_moves_the_subtree() {
    let mut ns = Namespace::new(0);
    mkdirs(&mut ns, "/src/deep/er");
    mkdirs(&mut ns, "/dst");
    let file = touch_file(&mut ns, "/src/deep/er/f");
    let src = ns.lookup(&p("/src/deep")).unwrap().unwrap();

    let mut c = Changes::default();
    let status = ns
        .rename(&p("/src/deep"), &p("/dst/moved"), 7, &mut c)
        .unwrap();
    assert_eq!(status.path, p("/dst/moved"));
    let mut written = c.written.clone();
    written.sort();
    written.dedup();
    assert_eq!(
        written.len(),
        3,
        "the entry and its two parents only: {written:?}"
    );
    assert!(written.contains(&src));
    assert_eq!(ns.lookup(&p("/dst/moved/er/f")).unwrap(), Some(file));
    assert!(ns.lookup(&p("/src/deep")).unwrap().is_none());
    assert_eq!(
        ns.stat(&p("/dst/moved/er/f")).unwrap().path,
        p("/dst/moved/er/f")
    );
}

#[test]
fn rename_errors() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    mkdirs(&mut ns, "/a/b");
    touch_file(&mut ns, "/f");
    assert_eq!(
        kind(ns.rename(&p("/"), &p("/x"), 1, c)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(ns.rename(&p("/a"), &p("/a/b/c"), 1, c)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(ns.rename(&p("/a"), &p("/a"), 1, c)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(ns.rename(&p("/missing"), &p("/x"), 1, c)),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(ns.rename(&p("/f"), &p("/a/b"), 1, c)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(ns.rename(&p("/f"), &p("/"), 1, c)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(ns.rename(&p("/f"), &p("/nope/f"), 1, c)),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(ns.rename(&p("/a"), &p("/f/x"), 1, c)),
        ErrorKind::NotADirectory
    );
    ns.rename(&p("/f"), &p("/a/g"), 1, c).unwrap();
    assert_eq!(ns.list(&p("/a"), false).unwrap().len(), 2);
}

#[test]
fn block_allocation_and_completion_rules() {
    let mut ns = Namespace::new(0);
    let c = &mut Changes::default();
    let id = ns
        .create(&p("/f"), params(), &w(), false, false, 1, c)
        .unwrap();
    assert_eq!(
        kind(ns.add_block(&p("/g"), id, &w(), None, c)),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(ns.add_block(&p("/f"), InodeId(999), &w(), None, c)),
        ErrorKind::NotFound
    );
    let b1 = ns.add_block(&p("/f"), id, &w(), None, c).unwrap().0;
    let b2 = ns.add_block(&p("/f"), id, &w(), None, c).unwrap().0;
    let b3 = ns.add_block(&p("/f"), id, &w(), None, c).unwrap().0;
    assert!(b1 < b2 && b2 < b3);

    assert_eq!(
        kind(ns.abandon_block(&p("/f"), id, &w(), b1, c)),
        ErrorKind::InvalidArgument
    );
    let mut c = Changes::default();
    ns.abandon_block(&p("/f"), id, &w(), b3, &mut c).unwrap();
    assert_eq!(c.dropped_blocks, vec![b3]);
    ns.abandon_block(&p("/f"), id, &w(), b3, &mut c).unwrap();

    let bad_cases = [
        vec![committed(b2, BS), committed(b1, 5)],
        vec![committed(b1, BS), committed(b3, 5)],
        vec![committed(b1, BS), committed(b2, 0)],
        vec![committed(b1, BS + 1)],
        vec![committed(b1, BS), committed(b1, 5)],
    ];
    for blocks in bad_cases {
        assert_eq!(
            kind(ns.complete(&p("/f"), id, &w(), &blocks, 1, &mut c)),
            ErrorKind::InvalidArgument,
            "{blocks:?}"
        );
    }

    let mut c = Changes::default();
    let status = ns
        .complete(&p("/f"), id, &w(), &[committed(b2, 5)], 3, &mut c)
        .unwrap();
    assert_eq!(status.length, 5);
    assert_eq!(c.dropped_blocks, vec![b1]);
    assert_eq!(
        ns.complete(&p("/f"), id, &w(), &[committed(b2, 5)], 4, &mut c)
            .unwrap(),
        status,
        "repeat is harmless"
    );
    assert_eq!(
        kind(ns.add_block(&p("/f"), id, &w(), None, &mut c)),
        ErrorKind::LeaseExpired
    );
    assert_eq!(
        kind(ns.complete(&p("/f"), id, &w(), &[], 4, &mut c)),
        ErrorKind::LeaseExpired
    );
}

#[test]
fn recursive_listing_is_sorted_by_path() {
    let mut ns = Namespace::new(0);
    mkdirs(&mut ns, "/d/a");
    touch_file(&mut ns, "/d/a.txt");
    touch_file(&mut ns, "/d/a/x");
    touch_file(&mut ns, "/d/b");
    let paths: Vec<String> = ns
        .list(&p("/"), true)
        .unwrap()
        .into_iter()
        .map(|s| s.path.to_string())
        .collect();
    assert_eq!(paths, vec!["/d", "/d/a", "/d/a.txt", "/d/a/x", "/d/b"]);
    let children: Vec<String> = ns
        .list(&p("/d"), false)
        .unwrap()
        .into_iter()
        .map(|s| s.path.to_string())
        .collect();
    assert_eq!(children, vec!["/d/a", "/d/a.txt", "/d/b"]);
    assert_eq!(kind(ns.list(&p("/nope"), false)), ErrorKind::NotFound);
}

#[test]
fn rebuilding_from_records_gives_the_same_namespace() {
    let mut ns = Namespace::new(0);
    mkdirs(&mut ns, "/a/b");
    touch_file(&mut ns, "/a/b/f");
    let records: Vec<_> = ns.inodes().cloned().collect();
    let (next_inode, next_block) = ns.counters();
    let rebuilt = Namespace::from_records(records, next_inode, next_block).unwrap();
    assert_eq!(
        rebuilt.list(&p("/"), true).unwrap(),
        ns.list(&p("/"), true).unwrap()
    );
    assert_eq!(rebuilt.counters(), ns.counters());
}

#[test]
fn listings_page_in_name_order_with_a_cursor() {
    let mut ns = Namespace::new(0);
    mkdirs(&mut ns, "/big");
    const ENTRIES: usize = 10_000;
    let mut changes = Changes::default();
    for i in 0..ENTRIES {
        let path = p(&format!("/big/f{i:06}"));
        let complete = FileParams {
            complete: true,
            ..params()
        };
        ns.create(&path, complete, &w(), false, false, 1, &mut changes)
            .unwrap();
    }
    // Open for writing: listed too.
    ns.create(
        &p("/big/f005000x"),
        params(),
        &w(),
        false,
        false,
        1,
        &mut changes,
    )
    .unwrap();
    let limit = 100;
    let mut cursor: Option<String> = None;
    let mut seen = Vec::with_capacity(ENTRIES);
    let mut pages = 0;
    loop {
        let page = ns.list_page(&p("/big"), cursor.as_deref(), limit).unwrap();
        assert!(page.entries.len() <= limit);
        pages += 1;
        assert!(pages <= ENTRIES / limit + 1, "the listing must end");
        seen.extend(page.entries.into_iter().map(|s| s.path.to_string()));
        match page.next_start_after {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, ENTRIES / limit + 1);
    assert_eq!(seen.len(), ENTRIES + 1);
    let mut expected: Vec<String> = (0..ENTRIES).map(|i| format!("/big/f{i:06}")).collect();
    expected.insert(5001, "/big/f005000x".to_string());
    assert_eq!(seen, expected, "every entry once, in name order");

    let after_last = ns.list_page(&p("/big"), Some("f009999"), limit).unwrap();
    assert!(after_last.entries.is_empty() && after_last.next_start_after.is_none());
    let missing_cursor = ns.list_page(&p("/big"), Some("f004999a"), 2).unwrap();
    let names: Vec<String> = missing_cursor
        .entries
        .iter()
        .map(|s| s.path.to_string())
        .collect();
    assert_eq!(
        names,
        vec!["/big/f005000", "/big/f005000x"],
        "a cursor need not name an entry"
    );
    assert_eq!(missing_cursor.next_start_after.as_deref(), Some("f005000x"));
    let file = ns.list_page(&p("/big/f000007"), None, limit).unwrap();
    assert_eq!(file.entries.len(), 1);
    assert!(file.next_start_after.is_none());
}
