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
    let ns = crate::cloud::controller::str_at(owner, "/metadata/namespace");
    let uid = crate::cloud::controller::str_at(owner, "/metadata/uid");
    if uid.is_empty() || policy == Policy::Background {
        return Ok(());
    }
    for (key, rev, mut dep) in dependents(store, ns, uid)? {
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
                before_delete(store, &dep, Policy::Foreground)?;
                match store.delete(&key, None) {
                    Ok(_) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}
