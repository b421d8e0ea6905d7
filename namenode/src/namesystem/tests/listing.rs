//! Listings in pages of at most `ls_limit` entries.

use tempfile::TempDir;

use granary_client::{ErrorKind, FsPath};

use super::{p, put_empty, Running, BS};

#[tokio::test]
async fn a_directory_of_100_000_entries_is_listed_in_pages_of_ls_limit() {
    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    let nn = &running.nn;
    const ENTRIES: usize = 100_000;
    {
        // Straight into the in-memory namespace: the listing is what is under test.
        let mut state = nn.lock();
        let mut changes = crate::namespace::Changes::default();
        let params = crate::namespace::FileParams {
            replication: 1,
            block_size: BS,
            complete: true,
        };
        for i in 0..ENTRIES {
            let path = p(&format!("/big/f{i:06}"));
            state
                .ns
                .create(
                    &path,
                    params,
                    &"test-writer".parse().unwrap(),
                    false,
                    true,
                    1,
                    &mut changes,
                )
                .unwrap();
        }
    }
    let limit = nn.config().ls_limit;
    assert_eq!(limit, 1000, "the default");
    let mut cursor: Option<String> = None;
    let (mut listed, mut pages) = (0, 0);
    let mut previous: Option<FsPath> = None;
    loop {
        // Asking for more than ls_limit gets ls_limit.
        let page = nn.list(&p("/big"), cursor.as_deref(), Some(5000)).unwrap();
        assert!(page.entries.len() <= limit);
        pages += 1;
        assert!(pages <= ENTRIES / limit + 1, "the listing must end");
        for entry in &page.entries {
            assert!(previous.as_ref().is_none_or(|prev| *prev < entry.path));
            previous = Some(entry.path.clone());
        }
        listed += page.entries.len();
        match page.next_start_after {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!((listed, pages), (ENTRIES, ENTRIES / limit));
    let small = nn.list(&p("/big"), None, Some(3)).unwrap();
    assert_eq!(small.entries.len(), 3);
    assert_eq!(small.next_start_after.as_deref(), Some("f000002"));
    running.close().await;
}

#[tokio::test]
async fn the_trackers_listing_of_a_file_is_not_a_directory() {
    use granary_compute::tracker::TrackerNamespace;

    let dir = TempDir::new().unwrap();
    let running = Running::open(dir.path());
    put_empty(&running.nn, "/d/f").await;
    let tracker_ns = crate::tracker_link::JobNamespace::new(running.nn.clone()).unwrap();
    let err = tracker_ns
        .list_page(&p("/d/f"), None, 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotADirectory, "{err}");
    let page = tracker_ns.list_page(&p("/d"), None, 10).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].path, p("/d/f"));
    drop(tracker_ns);
    running.close().await;
}

#[tokio::test]
async fn a_content_summary_of_a_large_tree_is_counted_in_steps_of_ls_limit() {
    let dir = TempDir::new().unwrap();
    let running = Running::open_with(dir.path(), |c| c.ls_limit = 100);
    let nn = &running.nn;
    const FILES: u64 = 5_000;
    {
        let mut state = nn.lock();
        let mut changes = crate::namespace::Changes::default();
        let params = crate::namespace::FileParams {
            replication: 3,
            block_size: BS,
            complete: true,
        };
        for i in 0..FILES {
            let path = p(&format!("/big/d{}/f{i:05}", i % 10));
            let holder = "test-writer".parse().unwrap();
            state
                .ns
                .create(&path, params, &holder, false, true, 1, &mut changes)
                .unwrap();
        }
    }
    put_empty(nn, "/big/one").await;
    let summary = nn.content_summary(&p("/big")).unwrap();
    assert_eq!(
        (summary.directory_count, summary.file_count, summary.length),
        (11, FILES + 1, 0)
    );
    assert_eq!((summary.quota, summary.space_quota), (-1, -1));
    // What the namesystem does: one short hold of the lock per step of ls_limit entries.
    let mut walk = crate::namespace::SummaryWalk::new(&p("/big"));
    let mut steps = 1;
    while !walk.step(&nn.lock().ns, 100).unwrap() {
        steps += 1;
        assert!(steps <= 1000, "the walk must end");
    }
    assert!(steps >= 50, "{steps} steps for {FILES} entries");
    assert_eq!(walk.finish(), summary);
    assert_eq!(
        nn.content_summary(&p("/nope")).unwrap_err().kind,
        ErrorKind::NotFound
    );
    running.close().await;
}
