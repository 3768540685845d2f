//! The store contract as a spec, on the embedded sled store.

use super::*;
use crate::cloud::store::{EventKind, Store, StoreError};

fn store(dir: &std::path::Path, history: u64) -> SledStore {
    let db = crate::store::open(dir, 1 << 20).unwrap();
    SledStore::open(&db, history).unwrap()
}

#[test]
fn one_global_revision_and_compare_and_swap() {
    let d = tempfile::tempdir().unwrap();
    let s = store(d.path(), 100);
    let r1 = s.create("pods/default/a", b"1").unwrap();
    let r2 = s.create("configmaps/default/c", b"x").unwrap();
    assert!(r2 > r1);
    assert_eq!(s.create("pods/default/a", b"again"), Err(StoreError::AlreadyExists("pods/default/a".into())));
    let r3 = s.update("pods/default/a", b"2", Some(r1)).unwrap();
    // A writer that read r1 is now stale.
    assert_eq!(s.update("pods/default/a", b"3", Some(r1)), Err(StoreError::Conflict { key: "pods/default/a".into(), expected: r1, current: r3 }));
    assert_eq!(s.get("pods/default/a").unwrap().unwrap().value, b"2");
    assert!(matches!(s.delete("pods/default/a", Some(r1)), Err(StoreError::Conflict { .. })));
    let gone = s.delete("pods/default/a", Some(r3)).unwrap();
    assert_eq!(gone.value, b"2");
    assert_eq!(s.get("pods/default/a").unwrap(), None);
    assert_eq!(s.update("pods/default/a", b"4", None), Err(StoreError::NotFound("pods/default/a".into())));
    let (items, rev) = s.list("configmaps/").unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(rev, s.revision().unwrap());
}

#[test]
fn watch_resumes_from_a_revision_and_streams_live_changes() {
    let d = tempfile::tempdir().unwrap();
    let s = store(d.path(), 100);
    let r1 = s.create("pods/default/a", b"1").unwrap();
    s.create("configmaps/default/c", b"x").unwrap();
    s.update("pods/default/a", b"2", None).unwrap();
    let w = s.watch("pods/", r1).unwrap();
    s.delete("pods/default/a", None).unwrap();
    s.create("pods/default/b", b"3").unwrap();
    let got: Vec<(EventKind, String, Vec<u8>)> = (0..3).map(|_| w.events.try_recv().unwrap()).map(|e| (e.kind, e.key, e.value)).collect();
    assert_eq!(
        got,
        vec![
            (EventKind::Modified, "pods/default/a".into(), b"2".to_vec()),
            (EventKind::Deleted, "pods/default/a".into(), b"2".to_vec()),
            (EventKind::Added, "pods/default/b".into(), b"3".to_vec()),
        ]
    );
    assert!(w.events.try_recv().is_err(), "configmaps are not under pods/");
}

#[test]
fn history_overflow_makes_an_old_revision_too_old() {
    let d = tempfile::tempdir().unwrap();
    let s = store(d.path(), 5);
    let first = s.create("k/0", b"0").unwrap();
    for i in 1..20 {
        s.create(&format!("k/{i}"), b"v").unwrap();
    }
    assert!(matches!(s.watch("k/", first), Err(StoreError::TooOld { .. })));
    let recent = s.revision().unwrap() - 3;
    let w = s.watch("k/", recent).unwrap();
    assert_eq!(w.events.len(), 3);
}

#[test]
fn everything_survives_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let rev;
    {
        let s = store(d.path(), 100);
        s.create("pods/default/a", b"1").unwrap();
        rev = s.update("pods/default/a", b"2", None).unwrap();
    }
    let s = store(d.path(), 100);
    assert_eq!(s.revision().unwrap(), rev);
    assert_eq!(s.get("pods/default/a").unwrap().unwrap(), Stored { key: "pods/default/a".into(), rev, value: b"2".to_vec() });
    assert!(s.create("pods/default/b", b"3").unwrap() > rev);
    let w = s.watch("pods/", rev - 1).unwrap();
    assert_eq!(w.events.try_recv().unwrap().rev, rev, "history survives too");
}

#[test]
fn a_watcher_that_falls_behind_is_closed_not_blocking_writers() {
    let d = tempfile::tempdir().unwrap();
    let s = store(d.path(), 10_000);
    let w = s.watch("k/", 0).unwrap();
    for i in 0..(WATCH_BUFFER + 10) {
        s.create(&format!("k/{i}"), b"v").unwrap();
    }
    // It got what fit, then was cut off: it must relist.
    assert_eq!(w.events.len(), WATCH_BUFFER);
    let n = std::iter::from_fn(|| w.events.try_recv().ok()).count();
    assert_eq!(n, WATCH_BUFFER);
    assert!(w.events.is_closed());
}
