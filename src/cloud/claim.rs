//! Claiming, as Kubernetes' ControllerRefManager does it for the workload
//! controllers: a controller adopts the objects of its namespace that its
//! selector matches and that no controller owns (ReplicaSets left by
//! `kubectl delete deployment --cascade=orphan` when the Deployment comes
//! back, pods made by hand), and releases those it controls that its
//! selector no longer matches (a pod relabelled out of service is left
//! alone, and replaced). An owner being deleted adopts nothing.
//!
//! Owns: the controller reference of the claimed objects. Must not create
//! or delete anything.

use serde_json::{json, Value};

use crate::cloud::controller::{controller_ref, str_at};
use crate::cloud::store::{Store, StoreError};

fn being_deleted(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// The uid of whatever controls `obj`, if anything does.
fn controller_of(obj: &Value) -> Option<&str> {
    crate::kube::items(obj, "/metadata/ownerReferences").find(|o| o["controller"] == true).and_then(|o| o["uid"].as_str())
}

/// Write `next` over (key, rev); the object as stored after, or None if it
/// changed meanwhile (the next reconcile sees it again).
fn write(store: &dyn Store, key: &str, rev: u64, next: Value) -> Result<Option<(String, u64, Value)>, StoreError> {
    match store.update(key, &serde_json::to_vec(&next).unwrap_or_default(), Some(rev)) {
        Ok(r) => Ok(Some((key.to_string(), r, next))),
        Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The objects among `candidates` that `owner` (of `kind`) controls once
/// it has adopted and released what its `spec.selector` says.
pub fn claim(store: &dyn Store, kind: &str, owner: &Value, candidates: &[(String, u64, Value)]) -> Result<Vec<(String, u64, Value)>, StoreError> {
    let uid = str_at(owner, "/metadata/uid");
    let ns = str_at(owner, "/metadata/namespace");
    let selector = owner.pointer("/spec/selector").unwrap_or(&Value::Null);
    let name = str_at(owner, "/metadata/name");
    let mut mine = Vec::new();
    for (key, rev, obj) in candidates {
        if str_at(obj, "/metadata/namespace") != ns {
            continue;
        }
        let matches = crate::kube::selects(selector, obj.pointer("/metadata/labels").unwrap_or(&Value::Null));
        let what = str_at(obj, "/metadata/name");
        match controller_of(obj) {
            Some(c) if c == uid => {
                if matches || being_deleted(owner) {
                    mine.push((key.clone(), *rev, obj.clone()));
                    continue;
                }
                let mut next = obj.clone();
                if let Some(refs) = next.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|o| o["uid"] != uid);
                }
                if write(store, key, *rev, next)?.is_some() {
                    log::info!(target: "claim", "{kind} {ns}/{name} released {what}: its labels no longer match the selector");
                }
            }
            Some(_) => {}
            None if matches && !being_deleted(owner) && !being_deleted(obj) => {
                let mut next = obj.clone();
                let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) else { continue };
                let refs = meta.entry("ownerReferences").or_insert(json!([]));
                if !refs.is_array() {
                    *refs = json!([]);
                }
                if let Some(a) = refs.as_array_mut() {
                    a.push(controller_ref(kind, owner));
                }
                if let Some(adopted) = write(store, key, *rev, next)? {
                    log::info!(target: "claim", "{kind} {ns}/{name} adopted {what}");
                    mine.push(adopted);
                }
            }
            None => {}
        }
    }
    Ok(mine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;

    #[test]
    fn orphans_that_match_are_adopted_and_mismatches_released() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledStore::open(&db, 100).unwrap();
        let owner = json!({"metadata": {"name": "web", "namespace": "default", "uid": "rs-1"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        let pod = |name: &str, app: &str, ctrl: Option<&str>| {
            let refs: Vec<Value> =
                ctrl.map(|u| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": u, "controller": true})).into_iter().collect();
            json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": app}, "ownerReferences": refs}})
        };
        let mut candidates = Vec::new();
        for (name, app, ctrl) in [
            ("orphan", "web", None),
            ("mine", "web", Some("rs-1")),
            ("relabelled", "debug", Some("rs-1")),
            ("theirs", "web", Some("rs-2")),
            ("other", "db", None),
        ] {
            let key = format!("pods/default/{name}");
            let rev = store.create(&key, &serde_json::to_vec(&pod(name, app, ctrl)).unwrap()).unwrap();
            candidates.push((key, rev, pod(name, app, ctrl)));
        }
        let mine = claim(&store, "ReplicaSet", &owner, &candidates).unwrap();
        let names: Vec<&str> = mine.iter().map(|(_, _, v)| str_at(v, "/metadata/name")).collect();
        assert_eq!(names, ["orphan", "mine"]);
        let stored = |name: &str| -> Value { serde_json::from_slice(&store.get(&format!("pods/default/{name}")).unwrap().unwrap().value).unwrap() };
        assert_eq!(controller_of(&stored("orphan")), Some("rs-1"), "adopted in the store");
        assert_eq!(controller_of(&stored("relabelled")), None, "released in the store");
        assert_eq!(controller_of(&stored("theirs")), Some("rs-2"));
        // A stale revision adopts nothing (the next reconcile retries).
        let stale = vec![(candidates[4].0.clone(), candidates[4].1, pod("other", "web", None))];
        let owner_db = json!({"metadata": {"name": "db", "namespace": "default", "uid": "rs-3"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        store.update(&candidates[4].0, &serde_json::to_vec(&pod("other", "db", None)).unwrap(), None).unwrap();
        assert!(claim(&store, "ReplicaSet", &owner_db, &stale).unwrap().is_empty());
    }
}
