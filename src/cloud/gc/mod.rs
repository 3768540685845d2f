//! Garbage collector, as Kubernetes' does it for the kinds hive serves: an
//! object whose every owner reference names an owner that no longer exists
//! is deleted (background cascading deletion: a Deployment's ReplicaSets
//! go, then their pods). References to kinds hive does not serve are
//! taken as live (nothing is deleted on a guess). Orphan and foreground
//! deletion are decided when the owner is deleted (api/cascade.rs).
//!
//! Owns: deleting dependents whose owners are gone. Must not change any
//! object that still has an owner.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::cloud::controller::{self, Controller};
use crate::cloud::store::{Event, EventKind, Store, StoreError};
use crate::cloud::{daemonset, deployment, replicaset};

pub const NAME: &str = "garbagecollector";

/// Owner kinds hive serves, by the store prefix of their objects.
pub const OWNERS: &[(&str, &str)] = &[("Deployment", deployment::PREFIX), ("ReplicaSet", replicaset::PREFIX), ("DaemonSet", daemonset::PREFIX)];

/// Prefixes of the objects that may have owners.
pub const DEPENDENTS: &[&str] = &[replicaset::PREFIX, "pods/"];

/// What the collector watches: owners and pods.
const WATCHED: &[&str] = &[deployment::PREFIX, replicaset::PREFIX, daemonset::PREFIX, "pods/"];

/// The module.
pub fn controller(store: Arc<dyn Store + Send + Sync>) -> Controller {
    Controller { name: NAME, store, prefixes: WATCHED, relevant, reconcile: |s| collect(s).map(|_| None) }
}

/// What can orphan something: an owner deleted, or a dependent made (its
/// owner may be gone already). Status changes of pods are not.
fn relevant(ev: &Event) -> bool {
    match ev.kind {
        EventKind::Deleted => OWNERS.iter().any(|(_, p)| ev.key.starts_with(p)),
        EventKind::Added => DEPENDENTS.iter().any(|p| ev.key.starts_with(p)),
        EventKind::Modified => false,
    }
}

/// Whether `obj` has owners and all of them are gone.
fn orphaned(obj: &Value, live: &HashSet<(String, String)>) -> bool {
    let refs: Vec<&Value> = crate::kube::items(obj, "/metadata/ownerReferences").collect();
    !refs.is_empty()
        && refs.iter().all(|o| {
            let kind = o["kind"].as_str().unwrap_or("");
            OWNERS.iter().any(|(k, _)| *k == kind) && !live.contains(&(kind.to_string(), o["uid"].as_str().unwrap_or("").to_string()))
        })
}

/// Delete what has lost its owners; returns how many were deleted.
pub fn collect(store: &dyn Store) -> Result<usize, StoreError> {
    // Dependents first: an owner is made before its dependents, so every
    // owner of what is listed here is in the owners listed next (unless it
    // has been deleted since).
    let mut dependents = Vec::new();
    for prefix in DEPENDENTS {
        dependents.extend(controller::list(store, prefix)?);
    }
    let mut live = HashSet::new();
    for (kind, prefix) in OWNERS {
        for (_, _, o) in controller::list(store, prefix)? {
            live.insert((kind.to_string(), controller::str_at(&o, "/metadata/uid").to_string()));
        }
    }
    let mut n = 0;
    for (key, rev, obj) in dependents {
        if orphaned(&obj, &live) {
            // Only the version judged: one changed since (say, orphaned) is looked at again.
            match store.delete(&key, Some(rev)) {
                Ok(_) => {
                    log::info!(target: NAME, "{key}: its owner is gone, deleted it");
                    n += 1;
                }
                Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_objects_whose_every_known_owner_is_gone_are_orphans() {
        let live: HashSet<(String, String)> = [("ReplicaSet".to_string(), "u1".to_string())].into_iter().collect();
        let owned = |refs: Value| json!({"metadata": {"ownerReferences": refs}});
        assert!(!orphaned(&json!({"metadata": {}}), &live));
        assert!(!orphaned(&owned(json!([{"kind": "ReplicaSet", "uid": "u1"}])), &live));
        assert!(orphaned(&owned(json!([{"kind": "ReplicaSet", "uid": "u2"}])), &live));
        assert!(!orphaned(&owned(json!([{"kind": "ReplicaSet", "uid": "u2"}, {"kind": "ReplicaSet", "uid": "u1"}])), &live));
        assert!(!orphaned(&owned(json!([{"kind": "Job", "uid": "u9"}])), &live), "an owner kind hive does not serve is taken as live");
    }
}
