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

/// What a DELETE's DeleteOptions ask: the policy and preconditions.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub policy: Policy,
    uid: Option<String>,
    resource_version: Option<String>,
}

/// The options of a DELETE body (a DeleteOptions, or none).
pub fn options(body: Option<&Value>) -> Result<Options, ApiError> {
    let Some(v) = body else {
        return Ok(Options { policy: Policy::Background, uid: None, resource_version: None });
    };
    if !v.is_object() {
        return Err(ApiError::bad("DELETE body: a DeleteOptions must be a JSON object"));
    }
    if v.get("dryRun").is_some_and(|d| !d.is_null() && d.as_array().is_none_or(|a| !a.is_empty())) {
        return Err(ApiError::bad("DeleteOptions.dryRun: hive has no server-side dry run; nothing was deleted (use kubectl's --dry-run=client)"));
    }
    let policy = match (v.get("propagationPolicy").and_then(Value::as_str), v.get("orphanDependents").and_then(Value::as_bool)) {
        (Some("Background") | None, None | Some(false)) => Policy::Background,
        (Some("Foreground"), _) => Policy::Foreground,
        (Some("Orphan"), _) | (None, Some(true)) => Policy::Orphan,
        (Some("Background"), Some(true)) => return Err(ApiError::bad("orphanDependents: true contradicts propagationPolicy Background")),
        (Some(p), _) => return Err(ApiError::bad(format!("propagationPolicy: `{p}`: use Background, Foreground or Orphan"))),
    };
    let pre = |k: &str| v.pointer(&format!("/preconditions/{k}")).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Options { policy, uid: pre("uid"), resource_version: pre("resourceVersion") })
}

impl Options {
    /// Check the preconditions against the object `cur` at revision `rev`
    /// (`what` names it); the revision the delete must still find.
    pub fn check(&self, cur: &Value, rev: u64, what: &str) -> Result<Option<u64>, ApiError> {
        let conflict = |m: String| ApiError(hyper::StatusCode::CONFLICT, "Conflict", m);
        if let Some(uid) = &self.uid {
            let have = cur.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
            if have != uid {
                return Err(conflict(format!("{what}: precondition failed: UID in precondition: {uid}, UID in object meta: {have}")));
            }
        }
        match &self.resource_version {
            // A uid precondition holds for this revision only: a delete and a
            // re-create in between must not take the new object.
            None => Ok(self.uid.as_ref().map(|_| rev)),
            Some(want) if *want == rev.to_string() => Ok(Some(rev)),
            Some(want) => Err(conflict(format!("{what}: precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rev}"))),
        }
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
        let policy = |v: Value| options(Some(&v)).map(|o| o.policy);
        assert!(policy(json!({"propagationPolicy": "Sideways"})).is_err());
        assert_eq!(policy(json!({"orphanDependents": true})).ok(), Some(Policy::Orphan));
        assert_eq!(options(None).ok().map(|o| o.policy), Some(Policy::Background));
        assert!(policy(json!({"dryRun": ["All"]})).err().is_some_and(|e| e.2.contains("nothing was deleted")));
        assert!(policy(json!({"dryRun": "All"})).is_err(), "not an array: refused, not ignored");
        assert!(policy(json!({"dryRun": []})).is_ok());
        let uid_only = options(Some(&json!({"preconditions": {"uid": "u-1"}}))).unwrap_or_else(|e| panic!("{}", e.2));
        assert_eq!(uid_only.check(&json!({"metadata": {"uid": "u-1"}}), 9, "x").ok(), Some(Some(9)), "deletes only the revision it checked");
        let pre = options(Some(&json!({"preconditions": {"uid": "u-1", "resourceVersion": "7"}}))).map_err(|e| e.2).unwrap();
        let obj = json!({"metadata": {"uid": "u-1"}});
        assert_eq!(pre.check(&obj, 7, "pods \"p\"").ok(), Some(Some(7)));
        assert_eq!(pre.check(&obj, 8, "pods \"p\"").err().map(|e| e.0.as_u16()), Some(409));
        assert!(pre.check(&json!({"metadata": {"uid": "u-2"}}), 7, "x").err().is_some_and(|e| e.2.contains("UID in precondition: u-1")));
    }
}
