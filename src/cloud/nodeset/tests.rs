//! NodeSets as a spec: what CloudHub is told when objects come, change,
//! move and go, with EdgeController's placement rule.

use serde_json::{json, Value};

use super::{Change, NodeSets};
use crate::cloud::edgecontroller::place;
use crate::cloud::store::{Event, EventKind};

fn ev(kind: EventKind, key: &str, v: Value) -> Event {
    Event { rev: 0, kind, key: key.to_string(), value: serde_json::to_vec(&v).unwrap() }
}
fn pod(name: &str, node: &str, cm: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node, "volumes": [{"configMap": {"name": cm}}]}})
}
fn cm(name: &str, data: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"}, "data": {"k": data}})
}
/// The changes as (op, node, key), in order.
fn ops(sets: &mut NodeSets) -> Vec<(&'static str, String, String)> {
    sets.changes()
        .into_iter()
        .map(|c| match c {
            Change::Upsert { node, key, .. } => ("upsert", node, key),
            Change::Delete { node, key } => ("delete", node, key),
        })
        .collect()
}
fn op(o: &'static str, node: &str, key: &str) -> (&'static str, String, String) {
    (o, node.to_string(), key.to_string())
}

#[test]
fn changes_touch_only_what_moved() {
    let mut sets = NodeSets::new("test", place::KINDS, place::place);
    sets.apply(&ev(EventKind::Added, "configmaps/default/conf", cm("conf", "1")));
    assert_eq!(ops(&mut sets), vec![], "a configmap no pod uses goes nowhere");
    sets.apply(&ev(EventKind::Added, "pods/default/a", pod("a", "e1", "conf")));
    sets.apply(&ev(EventKind::Added, "pods/default/b", pod("b", "e2", "conf")));
    assert_eq!(
        ops(&mut sets),
        vec![
            op("upsert", "e1", "default/configmap/conf"),
            op("upsert", "e1", "default/pod/a"),
            op("upsert", "e2", "default/configmap/conf"),
            op("upsert", "e2", "default/pod/b")
        ]
    );
    assert_eq!(ops(&mut sets), vec![], "nothing changed since");

    // The configmap changes: each node holding it gets it again, nothing else.
    sets.apply(&ev(EventKind::Modified, "configmaps/default/conf", cm("conf", "2")));
    assert_eq!(ops(&mut sets), vec![op("upsert", "e1", "default/configmap/conf"), op("upsert", "e2", "default/configmap/conf")]);
    // A status-only write is no change for an edge.
    let mut with_status = pod("a", "e1", "conf");
    with_status["status"] = json!({"phase": "Running"});
    sets.apply(&ev(EventKind::Modified, "pods/default/a", with_status));
    assert_eq!(ops(&mut sets), vec![]);

    // Pod b moves to e3: e2 loses it and the configmap nobody there uses any more.
    sets.apply(&ev(EventKind::Modified, "pods/default/b", pod("b", "e3", "conf")));
    assert_eq!(
        ops(&mut sets),
        vec![
            op("delete", "e2", "default/configmap/conf"),
            op("delete", "e2", "default/pod/b"),
            op("upsert", "e3", "default/configmap/conf"),
            op("upsert", "e3", "default/pod/b")
        ]
    );
    // Deleting the configmap takes it from every node that had it; the pods stay.
    sets.apply(&ev(EventKind::Deleted, "configmaps/default/conf", cm("conf", "2")));
    assert_eq!(ops(&mut sets), vec![op("delete", "e1", "default/configmap/conf"), op("delete", "e3", "default/configmap/conf")]);
    // It comes back: to both again.
    sets.apply(&ev(EventKind::Added, "configmaps/default/conf", cm("conf", "3")));
    assert_eq!(ops(&mut sets), vec![op("upsert", "e1", "default/configmap/conf"), op("upsert", "e3", "default/configmap/conf")]);
    // The last pod on e1 goes: so does the configmap there.
    sets.apply(&ev(EventKind::Deleted, "pods/default/a", pod("a", "e1", "conf")));
    assert_eq!(ops(&mut sets), vec![op("delete", "e1", "default/configmap/conf"), op("delete", "e1", "default/pod/a")]);
    assert_eq!(sets.size(), (2, 2), "pod b and the configmap, both on e3");
}

#[test]
fn a_relist_sends_only_real_differences() {
    let mut sets = NodeSets::new("test", place::KINDS, place::place);
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = crate::cloud::store::sled_store::SledStore::open(&db, 100).unwrap();
    use crate::cloud::store::Store as _;
    let put = |k: &str, v: Value| store.create(k, &serde_json::to_vec(&v).unwrap()).unwrap();
    put("pods/default/a", pod("a", "e1", "conf"));
    put("pods/default/b", pod("b", "e2", "conf"));
    put("nodes/e1", json!({"metadata": {"name": "e1"}}));
    drop(sets.load(&store).unwrap());
    assert_eq!(ops(&mut sets), vec![op("upsert", "e1", "/node/e1"), op("upsert", "e1", "default/pod/a"), op("upsert", "e2", "default/pod/b")]);
    // While nobody watched, b was deleted: the relist deletes it and nothing else.
    store.delete("pods/default/b", None).unwrap();
    drop(sets.load(&store).unwrap());
    assert_eq!(ops(&mut sets), vec![op("delete", "e2", "default/pod/b")]);
}

#[test]
fn after_a_restart_what_cloudhub_holds_counts_as_sent() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = crate::cloud::store::sled_store::SledStore::open(&db, 100).unwrap();
    let held = crate::cloud::sync::ObjectSync::open(&db).unwrap();
    use crate::cloud::store::Store as _;
    let put = |k: &str, v: Value| store.create(k, &serde_json::to_vec(&v).unwrap()).unwrap();
    put("pods/default/a", pod("a", "e1", "conf"));
    put("pods/default/b", pod("b", "e2", "conf"));
    let mut before = NodeSets::new("test", place::KINDS, place::place);
    drop(before.load(&store).unwrap());
    for c in before.changes() {
        if let Change::Upsert { node, key, content } = c {
            held.upsert(&node, &key, &content).unwrap();
        }
    }
    held.upsert("e2", "default/device/d", b"{}").unwrap(); // DeviceController's
                                                           // The cloud dies after b left the store, before CloudHub heard of it.
    store.delete("pods/default/b", None).unwrap();
    let mut sets = NodeSets::new("test", place::KINDS, place::place);
    sets.adopt(held.held(&sets.kind_names()).unwrap());
    drop(sets.load(&store).unwrap());
    assert_eq!(ops(&mut sets), vec![op("delete", "e2", "default/pod/b")], "b goes, a is not sent again, the device is not ours");
}
