//! PATCH bodies as Kubernetes applies them: JSON merge patches (RFC 7386),
//! JSON patches (RFC 6902, by the json-patch crate; `kubectl rollout undo`
//! sends one) and strategic merge patches, Kubernetes' own and kubectl's
//! default: lists of containers, env, ports, volumes, conditions, … are
//! merged element by element on their merge key (so `kubectl set image`
//! changes one container's image and keeps the rest of it), with the
//! `$patch`, `$retainKeys`, `$setElementOrder/…` and
//! `$deleteFromPrimitiveList/…` directives. As on Kubernetes, kinds that are
//! not built in (KubeEdge's devices) take strategic patches as merge patches.
//!
//! Owns: applying a patch to an object. Must not route, read bodies or
//! decide which fields a request may change.

use hyper::StatusCode;
use serde_json::{Map, Value};

use super::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
}

/// The patch type a Content-Type names; anything else is 415.
pub fn patch_type(content_type: &str) -> Result<PatchType, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/json-patch+json" => Ok(PatchType::Json),
        _ => Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "patch type `{content_type}`: use application/merge-patch+json, application/strategic-merge-patch+json or application/json-patch+json \
                 (server-side apply is not served)"
            ),
        )),
    }
}

/// Apply `patch` to `target` (an object of `kind`).
pub fn apply(kind: &str, target: &mut Value, patch: &Value, ty: PatchType) -> Result<(), ApiError> {
    let built_in = !matches!(kind, "Device" | "DeviceModel");
    match ty {
        PatchType::Json => {
            let ops: json_patch::Patch =
                serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad(format!("JSON patch: not a list of RFC 6902 operations: {e}")))?;
            // On a copy, swapped in only when every operation applied:
            // json-patch's own undo (`patch`) can panic on some moves.
            let mut doc = target.clone();
            json_patch::patch_unsafe(&mut doc, &ops).map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", format!("JSON patch: {e}")))?;
            *target = doc;
            Ok(())
        }
        _ if !patch.is_object() => Err(ApiError::bad("a merge patch must be a JSON object")),
        PatchType::Strategic if built_in => {
            strategic(target, patch);
            Ok(())
        }
        _ => {
            crate::kube::merge(target, patch);
            Ok(())
        }
    }
}

/// The merge key of the lists Kubernetes' types merge by key (their
/// `patchMergeKey` tags), by field name.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" | "resourceClaims" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" | "addresses" => "type",
        "hostAliases" => "ip",
        "ownerReferences" => "uid",
        "taints" => "key",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of strings merged as sets.
fn merged_set(field: &str) -> bool {
    field == "finalizers"
}

/// A patch value without directives, as stored.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        v => v.clone(),
    }
}

/// Strategic merge of a map. Returns false if the patch deletes the map itself.
fn strategic(target: &mut Value, patch: &Value) -> bool {
    let Some(p) = patch.as_object() else {
        *target = strip(patch);
        return true;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => return false,
        Some("replace") => {
            *target = strip(patch);
            return true;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else { return true };
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        t.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (v, merge_key(k)) {
            (Value::Array(items), Some(key)) if items.iter().all(Value::is_object) => merge_list(t.entry(k.clone()).or_insert(Value::Null), items, key),
            (Value::Array(items), _) if merged_set(k) => {
                let list = t.entry(k.clone()).or_insert(Value::Array(vec![]));
                if !list.is_array() {
                    *list = Value::Array(vec![]);
                }
                if let Some(l) = list.as_array_mut() {
                    for i in items {
                        if !l.contains(i) {
                            l.push(i.clone());
                        }
                    }
                }
            }
            (Value::Object(_), _) => {
                let e = t.entry(k.clone()).or_insert(Value::Null);
                if !strategic(e, v) {
                    t.remove(k);
                }
            }
            _ => {
                t.insert(k.clone(), strip(v));
            }
        }
    }
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(l), Some(gone)) = (t.get_mut(field).and_then(Value::as_array_mut), v.as_array()) {
                l.retain(|x| !gone.contains(x));
            }
        }
    }
    for (k, v) in p {
        if let (Some(field), Some(order)) = (k.strip_prefix("$setElementOrder/"), v.as_array()) {
            if let Some(l) = t.get_mut(field).and_then(Value::as_array_mut) {
                reorder(l, order, merge_key(field));
            }
        }
    }
    true
}

/// Merge list elements on `key`: a patch element updates the one with its
/// key (or is appended), `$patch: delete` removes it, `$patch: replace`
/// replaces the whole list.
fn merge_list(target: &mut Value, items: &[Value], key: &str) {
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        *target = Value::Array(items.iter().filter(|i| i.get("$patch").is_none()).map(strip).collect());
        return;
    }
    if !target.is_array() {
        *target = Value::Array(vec![]);
    }
    let Some(list) = target.as_array_mut() else { return };
    for item in items {
        let id = item.get(key);
        let at = id.and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
        match (at, item.get("$patch").and_then(Value::as_str)) {
            (Some(i), Some("delete")) => {
                list.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => {
                if !strategic(&mut list[i], item) {
                    list.remove(i);
                }
            }
            (None, _) => list.push(strip(item)),
        }
    }
}

/// Order a merged list as `$setElementOrder` asks: the named elements in
/// that order, the others after them as they were.
fn reorder(list: &mut [Value], order: &[Value], key: Option<&str>) {
    let id = |v: &Value| match key {
        Some(k) => v.get(k).cloned(),
        None => Some(v.clone()),
    };
    let pos = |v: &Value| {
        let i = id(v);
        order.iter().position(|o| i.is_some() && id(o) == i).unwrap_or(usize::MAX)
    };
    list.sort_by_key(pos);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(target: Value, patch: Value, ty: PatchType) -> Value {
        let mut t = target;
        assert!(apply("Deployment", &mut t, &patch, ty).is_ok());
        t
    }

    #[test]
    fn set_image_changes_one_container_and_keeps_the_rest() {
        let d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "command": ["sleep", "9"], "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "b:1"}]}}}});
        // What kubectl 1.20 and 1.32 `set image deployment/x a=a:2` send.
        let p = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [{"image": "a:2", "name": "a"}]}}}});
        let out = patched(d, p, PatchType::Strategic);
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0], json!({"name": "a", "image": "a:2", "command": ["sleep", "9"], "ports": [{"containerPort": 80}]}));
        assert_eq!(c[1], json!({"name": "b", "image": "b:1"}));
        assert!(!out.to_string().contains('$'), "{out}");
    }

    #[test]
    fn directives_delete_replace_retain_and_order() {
        let t = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
            "metadata": {"finalizers": ["x"]}, "data": {"k": "v"}});
        let p = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}, {"name": "c"}], "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}],
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}, "metadata": {"finalizers": ["y"]}, "data": {"$patch": "replace", "n": "1"}});
        let out = patched(t, p, PatchType::Strategic);
        assert_eq!(out["spec"]["containers"], json!([{"name": "c"}, {"name": "b"}]));
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(out["data"], json!({"n": "1"}));
        let out = patched(out, json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}), PatchType::Strategic);
        assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
    }

    #[test]
    fn merge_and_json_patches() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "1"}]}, "metadata": {"annotations": {"r": "1"}}});
        let out = patched(t.clone(), json!({"spec": {"containers": [{"name": "a"}]}}), PatchType::Merge);
        assert_eq!(out["spec"]["containers"], json!([{"name": "a"}]), "a merge patch replaces lists");
        let ops = json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "2"}, {"op": "replace", "path": "/metadata/annotations", "value": {}}]);
        let out = patched(t.clone(), ops, PatchType::Json);
        assert_eq!(out, json!({"spec": {"containers": [{"name": "a", "image": "2"}]}, "metadata": {"annotations": {}}}));
        let mut t2 = t.clone();
        let e = apply("Pod", &mut t2, &json!([{"op": "test", "path": "/spec/x", "value": 1}]), PatchType::Json).err().unwrap();
        assert_eq!(e.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(t2, t, "a failed JSON patch changes nothing");
        assert_eq!(apply("Pod", &mut t2, &json!({"op": "x"}), PatchType::Json).err().map(|e| e.0), Some(StatusCode::BAD_REQUEST));
        // A move onto an ancestor that a later failure would have to undo (json-patch's undo panics on it).
        let ops = json!([{"op": "move", "from": "/spec", "path": ""}, {"op": "test", "path": "/x", "value": 1}]);
        assert_eq!(apply("Pod", &mut t2, &ops, PatchType::Json).err().map(|e| e.0), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert_eq!(t2, t);
        assert_eq!(patch_type("application/apply-patch+yaml").err().map(|e| e.0), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
}
