//! Objects on their way into and out of the store: checked and completed
//! for their endpoint (kind, apiVersion, name, namespace, uid, creation
//! time), their resourceVersion put in on the way out.
//!
//! Owns: those rules. Objects are kept without `metadata.resourceVersion`;
//! the store's revision is the version. Must not route or talk HTTP beyond
//! building a JSON response.

use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::route::{valid_name, Target};
use crate::cloud::store::Stored;
use crate::http::{self, Body};

/// The object as the API shows it: with its resourceVersion.
pub fn shown(s: &Stored) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&s.value).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", format!("{}: {e}", s.key)))?;
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(s.rev.to_string()));
    }
    Ok(v)
}

/// Check and complete an object for `t`; returns its name and the object to store.
pub fn prepare(t: &Target, mut v: Value, creating: bool) -> Result<(String, Value), ApiError> {
    let obj = v.as_object_mut().ok_or_else(|| ApiError::bad("the body must be a JSON object"))?;
    check_structs(obj)?;
    check_data(t.res.kind, obj)?;
    if super::workload::is_workload(t.res.kind) {
        super::workload::check(t.res.kind, obj)?;
    }
    if t.res.kind == "Secret" {
        fold_string_data(obj);
    }
    let api_version = t.res.api_version();
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k != t.res.kind => return Err(ApiError::bad(format!("kind: `{k}` sent to the {} endpoint", t.res.plural))),
        _ => {}
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(a) if a != api_version => return Err(ApiError::bad(format!("apiVersion: `{a}`, this endpoint serves {api_version}"))),
        _ => {}
    }
    obj.insert("kind".into(), Value::String(t.res.kind.into()));
    obj.insert("apiVersion".into(), Value::String(api_version));
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let meta = meta.as_object_mut().ok_or_else(|| ApiError::bad("metadata: must be an object"))?;
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => match (meta.get("generateName").and_then(Value::as_str), creating) {
            (Some(g), true) => format!("{g}{:05x}", fastrand::u32(..0xfffff)),
            _ => t.name.clone().ok_or_else(|| ApiError::bad("metadata.name: required"))?,
        },
    };
    if !valid_name(&name) {
        return Err(ApiError::bad(format!("metadata.name: `{name}` is not a valid name (lowercase letters, digits, '-', '.')")));
    }
    if let Some(path_name) = &t.name {
        if *path_name != name {
            return Err(ApiError::bad(format!("metadata.name: `{name}` does not match `{path_name}` in the URL")));
        }
    }
    meta.insert("name".into(), Value::String(name.clone()));
    if t.res.namespaced {
        let ns = t.ns.clone().unwrap_or_else(|| "default".into());
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if n != ns => return Err(ApiError::bad(format!("metadata.namespace: `{n}` does not match `{ns}` in the URL"))),
            _ => {}
        }
        meta.insert("namespace".into(), Value::String(ns));
    } else {
        meta.remove("namespace");
    }
    meta.remove("resourceVersion");
    if creating {
        meta.entry("uid").or_insert(Value::String(crate::kube::new_uid()));
        meta.insert("creationTimestamp".into(), Value::String(crate::kube::rfc3339_now()));
        if super::workload::is_workload(t.res.kind) {
            meta.insert("generation".into(), Value::from(1));
        }
        if t.res.kind == "Pod" {
            meta.insert("generation".into(), Value::from(1));
            let qos = crate::kube::qos_class(v.get("spec").unwrap_or(&Value::Null));
            // A new pod is Pending until its edge reports (a client's status is not taken).
            v["status"] = serde_json::json!({"phase": "Pending", "qosClass": qos});
        }
    }
    Ok((name, v))
}

/// ConfigMap and Secret data are maps of strings (Secret `data` base64), as
/// Kubernetes' types say; anything else is a 400 naming the field.
/// Fields that are Go structs or string maps in every kind hive serves:
/// JSON of another type there is a 400 naming the field, as Kubernetes'
/// decoder refuses it (and the controllers that write into them rely on it).
fn check_structs(obj: &Map<String, Value>) -> Result<(), ApiError> {
    const OBJECTS: &[&str] = &["spec", "status", "spec.template", "spec.template.metadata", "spec.template.spec", "spec.selector"];
    const STRING_MAPS: &[&str] = &[
        "metadata.labels",
        "metadata.annotations",
        "spec.nodeSelector",
        "spec.selector.matchLabels",
        "spec.template.metadata.labels",
        "spec.template.metadata.annotations",
        "spec.template.spec.nodeSelector",
    ];
    let at = |path: &str| -> Option<&Value> {
        let mut parts = path.split('.');
        let mut v = obj.get(parts.next()?)?;
        for p in parts {
            v = v.get(p)?;
        }
        Some(v).filter(|v| !v.is_null())
    };
    for path in OBJECTS {
        if let Some(v) = at(path).filter(|v| !v.is_object()) {
            return Err(ApiError::bad(format!("{path}: must be an object, not {}", kind_of(v))));
        }
    }
    for path in STRING_MAPS {
        let Some(v) = at(path) else { continue };
        let m = v.as_object().ok_or_else(|| ApiError::bad(format!("{path}: must be a map of strings, not {}", kind_of(v))))?;
        if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_string()) {
            return Err(ApiError::bad(format!("{path}.{k}: must be a string, not {}", kind_of(v))));
        }
    }
    Ok(())
}

fn check_data(kind: &str, obj: &Map<String, Value>) -> Result<(), ApiError> {
    let fields: &[&str] = match kind {
        "ConfigMap" => &["data", "binaryData"],
        "Secret" => &["data", "stringData"],
        _ => return Ok(()),
    };
    for f in fields {
        let Some(v) = obj.get(*f) else { continue };
        if v.is_null() {
            continue;
        }
        let map = v.as_object().ok_or_else(|| ApiError::bad(format!("{f}: must be a map of strings, not {}", kind_of(v))))?;
        for (k, v) in map {
            let Some(s) = v.as_str() else {
                return Err(ApiError::bad(format!("{f}.{k}: must be a string, not {}", kind_of(v))));
            };
            let base64 = (kind == "Secret" && *f == "data") || *f == "binaryData";
            if base64 {
                use base64::Engine as _;
                // As Go's decoder (and so Kubernetes) does, line breaks are ignored.
                let s: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
                base64::engine::general_purpose::STANDARD.decode(&s).map_err(|e| ApiError::bad(format!("{f}.{k}: not base64: {e}")))?;
            }
        }
    }
    Ok(())
}

/// A Secret's `stringData` is written into `data` (base64, winning over a
/// `data` key of the same name) and not stored, as Kubernetes does.
fn fold_string_data(obj: &mut Map<String, Value>) {
    use base64::Engine as _;
    let Some(Value::Object(sd)) = obj.remove("stringData") else { return };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj.insert("data".into(), Value::Object(Map::new()));
    }
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for (k, v) in sd {
            let text = v.as_str().unwrap_or("");
            data.insert(k, Value::String(base64::engine::general_purpose::STANDARD.encode(text)));
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub fn rv_of(v: &Value) -> Result<Option<u64>, ApiError> {
    match v.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| ApiError::bad(format!("metadata.resourceVersion: `{s}` is not a revision"))),
        Some(other) => Err(ApiError::bad(format!("metadata.resourceVersion: must be a string, not {other}"))),
    }
}

pub fn encode(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

pub fn ok_json(code: StatusCode, v: &Value) -> Response<Body> {
    http::json(code, encode(v))
}

/// uid, creationTimestamp and generation are the server's; a changed spec
/// is a new generation (what controllers' observedGeneration follows).
/// What a write leaves must be an object with object metadata (a patch or
/// PUT could make it anything), else a 400 — before anything indexes into it.
pub fn check_shape(v: &Value) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad(format!("the object must be a JSON object, not {}", kind_of(v))));
    }
    match v.get("metadata") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(m) => Err(ApiError::bad(format!("metadata: must be an object, not {}", kind_of(m)))),
    }
}

pub fn keep_identity(next: &mut Value, cur: &Value) {
    for f in ["uid", "creationTimestamp", "generation"] {
        if let (Some(m), Some(v)) = (next.get_mut("metadata").and_then(Value::as_object_mut), cur.pointer(&format!("/metadata/{f}"))) {
            m.insert(f.into(), v.clone());
        }
    }
    if let Some(g) = cur.pointer("/metadata/generation").and_then(Value::as_i64) {
        if next.get("spec") != cur.get("spec") {
            next["metadata"]["generation"] = Value::from(g + 1);
        }
    }
}
