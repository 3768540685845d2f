//! Namespaces as Kubernetes has them: `default`, `kube-system`,
//! `kube-public` and `kube-node-lease` exist from the first start; an
//! object can only be created in a namespace that exists and is not being
//! deleted; deleting a namespace marks it `Terminating`, deletes every
//! object in it (EdgeController then drops them from the edges), then the
//! namespace itself.
//!
//! Owns: those rules. Must not route or parse bodies.

use serde_json::{json, Value};

use super::error::ApiError;
use super::object::{encode, shown};
use super::resources::RESOURCES;
use crate::cloud::store::{Store, StoreError};
use hyper::StatusCode;

/// The namespaces every cluster has.
pub const DEFAULTS: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Kubernetes refuses to delete these.
const UNDELETABLE: &[&str] = &["default", "kube-system", "kube-public"];

fn key(name: &str) -> String {
    format!("namespaces/{name}")
}

/// A new Namespace object, as the API completes one (Kubernetes labels each with its name).
pub fn complete(v: &mut Value) {
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    if !v["metadata"]["labels"].is_object() {
        v["metadata"]["labels"] = json!({});
    }
    v["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    if v.pointer("/spec/finalizers").is_none() {
        v["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    v["status"] = json!({"phase": "Active"});
}

/// Create the default namespaces that do not exist yet, and a Namespace
/// for every namespace objects are stored in (a store from before hive had
/// namespaces), so all of them can be listed and deleted.
pub fn ensure_defaults(store: &dyn Store) -> Result<(), StoreError> {
    let mut names: std::collections::BTreeSet<String> = DEFAULTS.iter().map(|n| n.to_string()).collect();
    for res in RESOURCES.iter().filter(|r| r.namespaced && !r.read_only()) {
        let prefix = res.prefix(None);
        for s in store.list(&prefix)?.0 {
            if let Some((ns, _)) = s.key[prefix.len()..].split_once('/') {
                if super::route::valid_name(ns) {
                    names.insert(ns.to_string());
                }
            }
        }
    }
    for name in &names {
        let name = name.as_str();
        let mut v = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": crate::kube::new_uid(), "creationTimestamp": crate::kube::rfc3339_now()}});
        complete(&mut v);
        match store.create(&key(name), &encode(&v)) {
            Ok(_) => log::info!(target: super::NAME, "namespace {name} created"),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Ok if objects may be created in `ns`; else 404 (no such namespace) or 403 (being deleted).
pub fn check_open(store: &dyn Store, ns: &str) -> Result<(), ApiError> {
    let Some(s) = store.get(&key(ns))? else {
        return Err(ApiError::not_found(format!("namespaces \"{ns}\" not found: create it first (kubectl create namespace {ns})")));
    };
    let v: Value = serde_json::from_slice(&s.value).unwrap_or(Value::Null);
    if v.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
        return Err(ApiError(StatusCode::FORBIDDEN, "Forbidden", format!("unable to create new content in namespace {ns} because it is being terminated")));
    }
    Ok(())
}

/// Delete namespace `name` and everything in it; answers the namespace as
/// it was last seen (Terminating), as Kubernetes does.
pub fn delete(store: &dyn Store, name: &str) -> Result<Value, ApiError> {
    if UNDELETABLE.contains(&name) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("namespace \"{name}\" may not be deleted: Kubernetes keeps {}", UNDELETABLE.join(", ")),
        ));
    }
    let k = key(name);
    let cur = store.get(&k)?.ok_or_else(|| ApiError::not_found(format!("namespaces \"{name}\" not found")))?;
    let mut v: Value = serde_json::from_slice(&cur.value).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", format!("{k}: {e}")))?;
    let mut rev = cur.rev;
    if v.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating") {
        v["status"]["phase"] = json!("Terminating");
        v["metadata"]["deletionTimestamp"] = json!(crate::kube::rfc3339_now());
        rev = store.update(&k, &encode(&v), Some(cur.rev))?;
        store.sync()?;
    }
    let mut gone = 0;
    for res in RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = store.list(&res.prefix(Some(name)))?;
        for s in items {
            match store.delete(&s.key, None) {
                Ok(_) | Err(StoreError::NotFound(_)) => gone += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let last = crate::cloud::store::Stored { key: k.clone(), rev, value: encode(&v) };
    match store.delete(&k, None) {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    log::info!(target: super::NAME, "namespace {name} deleted with the {gone} objects in it");
    shown(&last)
}
