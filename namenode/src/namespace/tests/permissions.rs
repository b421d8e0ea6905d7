//! The permission checker (`access`): the owner/group/other × r/w/x matrix on files and
//! directories, traverse, the sticky bit, owners and the superuser.

use granary_client::{Access, ErrorKind, Permission};

use super::super::{Caller, Changes, Namespace};
use super::{p, params, w};

fn user(name: &str, groups: &[&str]) -> Caller {
    Caller {
        user: name.to_string(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        superuser: false,
    }
}

/// `/d` (a directory) and `/d/f` (a file), both owned by bob:staff with `mode`, under a
/// root open to everyone.
fn tree(mode: u16) -> Namespace {
    tree_with(mode, mode)
}

fn tree_with(dir_mode: u16, file_mode: u16) -> Namespace {
    let mut ns = Namespace::new(0);
    let mut changes = Changes::default();
    ns.set_permission(&p("/"), Permission::new(0o777), &mut changes)
        .unwrap();
    let first = ns.next_inode_id();
    ns.mkdir(&p("/d"), false, 1, &mut changes).unwrap();
    ns.create(&p("/d/f"), params(), &w(), false, false, 1, &mut changes)
        .unwrap();
    ns.own_new(first, "bob", Permission::new(0o755), Permission::new(0o644));
    let su = Caller::superuser("root");
    for (path, mode) in [("/d", dir_mode), ("/d/f", file_mode)] {
        ns.set_owner(&su, &p(path), None, Some("staff"), &mut changes)
            .unwrap();
        ns.set_permission(&p(path), Permission::new(mode), &mut changes)
            .unwrap();
    }
    ns
}

#[test]
fn each_class_gets_exactly_its_own_bits_on_files_and_directories() {
    let owner = user("bob", &["bob"]);
    let member = user("carol", &["staff"]);
    let other = user("dave", &["dave"]);
    let callers = [&owner, &member, &other];
    let accesses = [Access::READ, Access::WRITE, Access::EXECUTE];
    // One bit of one class set at a time: only that class asking that access passes.
    for (class, shift) in [(0, 6), (1, 3), (2, 0)] {
        for (bit, access) in [
            (4u16, Access::READ),
            (2, Access::WRITE),
            (1, Access::EXECUTE),
        ] {
            let mode = bit << shift;
            // The directory itself; and the file, reached through a directory all may cross.
            let on_dir = tree_with(mode, 0);
            let on_file = tree_with(0o111, mode);
            for (ns, path) in [(&on_dir, "/d"), (&on_file, "/d/f")] {
                for (index, caller) in callers.iter().enumerate() {
                    for asked in accesses {
                        let allowed = index == class && asked == access;
                        let result = ns.check_access(caller, &p(path), asked);
                        assert_eq!(
                            result.is_ok(),
                            allowed,
                            "{} asking {} on {path} with mode {mode:o}",
                            caller.user,
                            asked.name()
                        );
                        if let Err(e) = result {
                            assert_eq!(e.kind, ErrorKind::PermissionDenied);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_owner_class_does_not_fall_through_to_group_or_other() {
    let ns = tree(0o077);
    let owner = user("bob", &["staff"]);
    assert_eq!(
        ns.check_access(&owner, &p("/d"), Access::READ)
            .unwrap_err()
            .kind,
        ErrorKind::PermissionDenied
    );
    assert!(ns
        .check_access(&user("carol", &["staff"]), &p("/d"), Access::ALL)
        .is_ok());
}

#[test]
fn traverse_needs_x_on_every_ancestor_and_the_message_is_hdfs_like() {
    let ns = tree(0o744);
    let other = user("alice", &["alice"]);
    let err = ns.check_traverse(&other, &p("/d/f")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied);
    assert_eq!(
        err.message,
        "Permission denied: user=alice, access=EXECUTE, inode=\"/d\":bob:staff:drwxr--r--"
    );
    // Listing /d itself needs r+x on it; stat of /d only x on /.
    assert!(ns.check_traverse(&other, &p("/d")).is_ok());
    assert!(ns
        .check_access(&other, &p("/d"), Access::READ_EXECUTE)
        .is_err());
    // A missing path below an untraversable directory is refused too, not "not found".
    assert!(ns.check_traverse(&other, &p("/d/missing/x")).is_err());
}

#[test]
fn creating_needs_write_and_execute_on_the_deepest_existing_ancestor() {
    let ns = tree(0o755);
    let other = user("alice", &["alice"]);
    let owner = user("bob", &["bob"]);
    for path in ["/d/new", "/d/a/b/c"] {
        assert!(ns
            .check_ancestor(&other, &p(path), Access::WRITE_EXECUTE)
            .is_err());
        assert!(ns
            .check_ancestor(&owner, &p(path), Access::WRITE_EXECUTE)
            .is_ok());
    }
    // The root is 777 here: anyone may create at the top.
    assert!(ns
        .check_ancestor(&other, &p("/top"), Access::WRITE_EXECUTE)
        .is_ok());
}

#[test]
fn the_sticky_bit_keeps_others_from_removing_what_they_do_not_own() {
    let mut ns = tree(0o777);
    let mut changes = Changes::default();
    ns.set_permission(&p("/d"), Permission::new(0o1777), &mut changes)
        .unwrap();
    let stranger = user("alice", &["staff"]);
    let err = ns.check_remove(&stranger, &p("/d/f"), false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied);
    assert!(err.message.contains("sticky bit"), "{}", err.message);
    // The entry's owner, the directory's owner and the superuser may.
    assert!(ns
        .check_remove(&user("bob", &[]), &p("/d/f"), false)
        .is_ok());
    assert!(ns
        .check_remove(&Caller::superuser("root"), &p("/d/f"), false)
        .is_ok());
    // Without the sticky bit, w+x on the parent is enough.
    ns.set_permission(&p("/d"), Permission::new(0o777), &mut changes)
        .unwrap();
    assert!(ns.check_remove(&stranger, &p("/d/f"), false).is_ok());
}

#[test]
fn a_recursive_delete_needs_all_access_on_every_non_empty_directory_below() {
    let mut ns = tree(0o755);
    let mut changes = Changes::default();
    ns.set_permission(&p("/"), Permission::new(0o777), &mut changes)
        .unwrap();
    let other = user("alice", &["alice"]);
    assert!(ns.check_remove(&other, &p("/d"), true).is_err());
    ns.set_permission(&p("/d"), Permission::new(0o777), &mut changes)
        .unwrap();
    assert!(ns.check_remove(&other, &p("/d"), true).is_ok());
}

#[test]
fn owners_and_groups_change_as_hdfs_allows() {
    let mut ns = tree(0o755);
    let mut changes = Changes::default();
    let owner = user("bob", &["bob", "staff", "eng"]);
    let stranger = user("alice", &["eng"]);
    assert!(ns.check_owner(&stranger, &p("/d")).is_err());
    assert!(ns.check_owner(&owner, &p("/d")).is_ok());
    // Only the superuser gives a file away.
    let refused = ns.set_owner(&owner, &p("/d/f"), Some("alice"), None, &mut changes);
    assert_eq!(refused.unwrap_err().kind, ErrorKind::PermissionDenied);
    // The owner may change the group to one of its own, not to another.
    ns.set_owner(&owner, &p("/d/f"), None, Some("eng"), &mut changes)
        .unwrap();
    assert_eq!(ns.stat(&p("/d/f")).unwrap().attrs.group, "eng");
    let refused = ns.set_owner(&owner, &p("/d/f"), None, Some("wheel"), &mut changes);
    assert_eq!(refused.unwrap_err().kind, ErrorKind::PermissionDenied);
    ns.set_owner(
        &Caller::superuser("root"),
        &p("/d/f"),
        Some("alice"),
        None,
        &mut changes,
    )
    .unwrap();
    assert_eq!(ns.stat(&p("/d/f")).unwrap().attrs.owner, "alice");
}

#[test]
fn the_superuser_passes_every_check_and_new_entries_take_the_parents_group() {
    let ns = tree(0o000);
    let su = Caller::superuser("root");
    assert!(ns.check_access(&su, &p("/d/f"), Access::ALL).is_ok());
    assert!(ns.check_remove(&su, &p("/d"), true).is_ok());
    let mut ns = tree(0o777);
    let mut changes = Changes::default();
    let first = ns.next_inode_id();
    ns.mkdir(&p("/d/e/g"), true, 2, &mut changes).unwrap();
    ns.own_new(
        first,
        "carol",
        Permission::new(0o750),
        Permission::new(0o640),
    );
    let made = ns.stat(&p("/d/e/g")).unwrap().attrs;
    assert_eq!(
        (made.owner.as_str(), made.group.as_str()),
        ("carol", "staff")
    );
    assert_eq!(made.permission, Permission::new(0o750));
}

#[test]
fn records_from_before_owners_load_as_the_superusers_with_hdfs_modes() {
    let old_dir = r#"{"id":1,"parent":1,"name":"","modified_ms":5,"kind":"dir"}"#;
    let inode: super::super::Inode = serde_json::from_str(old_dir).unwrap();
    let mut ns = Namespace::from_records(vec![inode], 2, 1).unwrap();
    ns.assign_unowned("hdfs");
    let root = ns.stat(&p("/")).unwrap().attrs;
    assert_eq!(
        (
            root.owner.as_str(),
            root.group.as_str(),
            root.permission.to_string().as_str()
        ),
        ("hdfs", "supergroup", "755")
    );
}

#[test]
fn access_times_move_at_most_once_per_precision() {
    let mut ns = tree(0o755);
    let mut changes = Changes::default();
    let hour = 3_600_000;
    assert!(ns.access_is_stale(&p("/d/f"), hour, hour));
    ns.touch_access(&p("/d/f"), hour, hour, &mut changes)
        .unwrap();
    assert!(!ns.access_is_stale(&p("/d/f"), hour, hour + 1));
    assert!(ns.access_is_stale(&p("/d/f"), hour, 2 * hour));
    assert!(
        !ns.access_is_stale(&p("/d/f"), 0, 10 * hour),
        "0 disables it"
    );
    assert_eq!(ns.stat(&p("/d/f")).unwrap().attrs.accessed_ms, hour);
}
