//! The `/scale` subresource of Deployments and ReplicaSets: the object's
//! `spec.replicas` as an autoscaling/v1 Scale (what `kubectl scale` reads
//! and writes), with `status.replicas` and the label selector as a string.
//!
//! Owns: the Scale form and applying one. Must not route or read bodies.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::error::ApiError;
use super::route::Target;
use crate::cloud::store::{Store, Stored};

/// `matchLabels` (and `matchExpressions` with In/NotIn/Exists/DoesNotExist)
/// as a selector string, `a=b,c in (d,e)`.
fn selector(sel: &Value) -> String {
    let mut parts: Vec<String> = sel["matchLabels"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    for e in crate::kube::items(sel, "/matchExpressions") {
        let key = e["key"].as_str().unwrap_or("");
        let values: Vec<&str> = crate::kube::items(e, "/values").filter_map(Value::as_str).collect();
        parts.push(match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    parts.join(",")
}

/// The Scale of a stored Deployment or ReplicaSet.
pub fn scale_of(s: &Stored) -> Result<Value, ApiError> {
    let v = super::object::shown(s)?;
    let m = &v["metadata"];
    Ok(json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {"replicas": v.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0), "selector": selector(&v["spec"]["selector"])}}))
}

pub fn get(store: &dyn Store, t: &Target, name: &str) -> Result<Value, ApiError> {
    let key = t.res.key(t.ns.as_deref(), name);
    let s = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
    scale_of(&s)
}

/// Apply a Scale (PUT) or a patch of one (PATCH, already merged into the
/// current Scale by the caller): only `spec.replicas` is taken.
pub fn set(store: &dyn Store, t: &Target, name: &str, scale: &Value, expected: Option<u64>) -> Result<Value, ApiError> {
    let invalid = |m: String| ApiError(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m);
    if let Some(k) = scale.get("kind").and_then(Value::as_str).filter(|k| *k != "Scale") {
        return Err(ApiError::bad(format!("kind: `{k}` sent to {}/scale: send a Scale", t.res.plural)));
    }
    let replicas = match scale.pointer("/spec/replicas") {
        Some(r) => r
            .as_i64()
            .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
            .ok_or_else(|| invalid(format!("spec.replicas: Invalid value: {r}: must be greater than or equal to 0")))?,
        // A Go client leaves 0 out (`omitempty`), in JSON and protobuf alike.
        None => 0,
    };
    let key = t.res.key(t.ns.as_deref(), name);
    let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
    let mut v: Value = serde_json::from_slice(&cur.value).map_err(|e| ApiError::bad(e.to_string()))?;
    if v.pointer("/spec/replicas").and_then(Value::as_i64) != Some(replicas) {
        v["spec"]["replicas"] = json!(replicas);
        let g = v.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        v["metadata"]["generation"] = json!(g + 1);
    }
    let value = serde_json::to_vec(&v).unwrap_or_default();
    let rev = store.update(&key, &value, expected.or(Some(cur.rev)))?;
    scale_of(&Stored { key, rev, value })
}
