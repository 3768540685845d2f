//! `POST …/pods/<name>/binding`: a Binding places a pod on a node, as
//! kube-scheduler (or any other scheduler) does it: the pod's
//! `spec.nodeName` is set, with `PodScheduled=True`; a pod already on a
//! node is a 409, a target that is not a Node (or has no name) a 400.
//!
//! Owns: applying a Binding. Must not route or read bodies.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::error::ApiError;
use super::route::{valid_name, Target};
use crate::cloud::store::{Store, StoreError};

/// Bind pod `name` as the Binding `b` says; the answer is a Success Status (201).
pub fn bind(store: &dyn Store, t: &Target, name: &str, b: &Value) -> Result<Value, ApiError> {
    if let Some(k) = b.get("kind").and_then(Value::as_str).filter(|k| *k != "Binding") {
        return Err(ApiError::bad(format!("kind: `{k}` sent to pods/{name}/binding: send a Binding")));
    }
    if let Some(n) = b.pointer("/metadata/name").and_then(Value::as_str).filter(|n| *n != name) {
        return Err(ApiError::bad(format!("metadata.name: `{n}` does not match pod `{name}` in the URL")));
    }
    match b.pointer("/target/kind").and_then(Value::as_str) {
        None | Some("Node") => {}
        Some(k) => return Err(ApiError::bad(format!("target.kind: `{k}`: a pod can only be bound to a Node"))),
    }
    let node = b.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
    if !valid_name(node) {
        return Err(ApiError::bad(format!("target.name: `{node}` is not a node name")));
    }
    let key = t.res.key(t.ns.as_deref(), name);
    let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("pods \"{name}\" not found")))?;
    let mut pod: Value = serde_json::from_slice(&cur.value).map_err(|e| ApiError::bad(e.to_string()))?;
    if let Some(on) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{on}\""),
        ));
    }
    if !pod["spec"].is_object() {
        pod["spec"] = json!({});
    }
    pod["spec"]["nodeName"] = json!(node);
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let mut conds: Vec<Value> = crate::kube::items(&pod, "/status/conditions").filter(|c| c["type"] != "PodScheduled").cloned().collect();
    conds.push(json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": crate::kube::rfc3339_now()}));
    pod["status"]["conditions"] = Value::Array(conds);
    match store.update(&key, &serde_json::to_vec(&pod).unwrap_or_default(), Some(cur.rev)) {
        Ok(_) => Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})),
        Err(StoreError::Conflict { .. }) => Err(ApiError(StatusCode::CONFLICT, "Conflict", format!("pod {name} changed while being bound: try again"))),
        Err(e) => Err(e.into()),
    }
}
