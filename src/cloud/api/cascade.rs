//! What deleting an owner does to its dependents, as DeleteOptions say
//! (`propagationPolicy`, or the older `orphanDependents`):
//! - `Background` (the default): the owner goes now, the garbage collector
//!   (cloud/gc/) deletes its dependents after it;
//! - `Orphan` (`kubectl delete --cascade=orphan`): the dependents' owner
//!   references to it are removed first, so they stay;
//! - `Foreground`: its dependents (and theirs) are deleted before it.
//!
//! Owns: reading the policy and the Orphan/Foreground work. Must not
//! delete the owner itself (the handler does).

use serde_json::Value;

use super::error::ApiError;
use crate::cloud::gc::DEPENDENTS;
use crate::cloud::store::{Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Background,
    Foreground,
    Orphan,
}

/// The policy of a DELETE body (a DeleteOptions, or nothing).
pub fn policy(body: &[u8]) -> Result<Policy, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Policy::Background);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("DELETE body: not a JSON DeleteOptions: {e}")))?;
    match (v.get("propagationPolicy").and_then(Value::as_str), v.get("orphanDependents").and_then(Value::as_bool)) {
        (Some("Background") | None, None | Some(false)) => Ok(Policy::Background),
        (Some("Foreground"), _) => Ok(Policy::Foreground),
        (Some("Orphan"), _) | (None, Some(true)) => Ok(Policy::Orphan),
        (Some("Background"), Some(true)) => Err(ApiError::bad("orphanDependents: true contradicts propagationPolicy Background")),
        (Some(p), _) => Err(ApiError::bad(format!("propagationPolicy: `{p}`: use Background, Foreground or Orphan"))),
    }
}

/// Dependents of the object with `uid` in namespace `ns`: (key, revision, object).
fn dependents(store: &dyn Store, ns: &str, uid: &str) -> Result<Vec<(String, u64, Value)>, StoreError> {
    let mut out = Vec::new();
    for prefix in DEPENDENTS {
        for (k, r, v) in crate::cloud::controller::list(store, &format!("{prefix}{ns}/"))? {
            if crate::kube::items(&v, "/metadata/ownerReferences").any(|o| o["uid"] == uid) {
                out.push((k, r, v));
            }
        }
    }
    Ok(out)
}

/// Do what `policy` asks of the dependents of `owner` before it is deleted.
pub fn before_delete(store: &dyn Store, owner: &Value, policy: Policy) -> Result<(), StoreError> {
    cascade(store, owner, policy, &mut std::collections::HashSet::new())
}

/// `seen`: uids already on the way down (owner references may form a cycle).
fn cascade(store: &dyn Store, owner: &Value, policy: Policy, seen: &mut std::collections::HashSet<String>) -> Result<(), StoreError> {
    let ns = crate::cloud::controller::str_at(owner, "/metadata/namespace");
    let uid = crate::cloud::controller::str_at(owner, "/metadata/uid");
    if uid.is_empty() || policy == Policy::Background || !seen.insert(uid.to_string()) {
        return Ok(());
    }
    for (key, rev, mut dep) in dependents(store, ns, uid)? {
        if seen.contains(crate::cloud::controller::str_at(&dep, "/metadata/uid")) {
            continue;
        }
        match policy {
            Policy::Orphan => {
                if let Some(refs) = dep.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|o| o["uid"] != uid);
                    if refs.is_empty() {
                        if let Some(m) = dep["metadata"].as_object_mut() {
                            m.remove("ownerReferences");
                        }
                    }
                }
                log::info!(target: "api", "{key}: orphaned (its owner is deleted with propagationPolicy Orphan)");
                store.update(&key, &serde_json::to_vec(&dep).unwrap_or_default(), Some(rev))?;
            }
            _ => {
                cascade(store, &dep, Policy::Foreground, seen)?;
                match store.delete(&key, None) {
                    Ok(_) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;
    use serde_json::json;

    #[test]
    fn foreground_deletion_goes_through_an_ownership_cycle_once() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = SledStore::open(&db, 100).unwrap();
        let pod = |name: &str, uid: &str, owner: &str| json!({"metadata": {"name": name, "namespace": "d", "uid": uid, "ownerReferences": [{"kind": "Pod", "uid": owner}]}});
        let (a, b) = (pod("a", "ua", "ub"), pod("b", "ub", "ua"));
        s.create("pods/d/a", &serde_json::to_vec(&a).unwrap()).unwrap();
        s.create("pods/d/b", &serde_json::to_vec(&b).unwrap()).unwrap();
        s.create("pods/d/self", &serde_json::to_vec(&pod("self", "us", "us")).unwrap()).unwrap();
        assert!(before_delete(&s, &a, Policy::Foreground).is_ok());
        assert!(s.get("pods/d/b").unwrap().is_none(), "the dependent went");
        let me = pod("self", "us", "us");
        assert!(before_delete(&s, &me, Policy::Foreground).is_ok(), "an object that owns itself");
        assert!(policy(br#"{"propagationPolicy":"Sideways"}"#).is_err());
        assert_eq!(policy(br#"{"orphanDependents":true}"#).ok(), Some(Policy::Orphan));
        assert_eq!(policy(b"").ok(), Some(Policy::Background));
    }
}
