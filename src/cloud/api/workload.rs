//! The apps/v1 workloads (DaemonSet, Deployment, ReplicaSet) on their way
//! in, checked and defaulted as Kubernetes' validation and defaulting do:
//! a selector that selects the template's labels, a template with
//! containers, `replicas` not negative, a strategy Kubernetes knows whose
//! maxSurge and maxUnavailable are not both 0; `replicas` 1, RollingUpdate
//! 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600 when left
//! out. Each refusal is a 422 naming the field, in Kubernetes' words.
//!
//! Owns: those rules. Must not touch the store.

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::error::ApiError;

fn invalid(m: String) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m)
}

pub fn is_workload(kind: &str) -> bool {
    matches!(kind, "DaemonSet" | "Deployment" | "ReplicaSet")
}

/// Check and default a workload of `kind`.
pub fn check(kind: &str, obj: &mut Map<String, Value>) -> Result<(), ApiError> {
    check_selector(obj)?;
    let spec = obj.entry("spec").or_insert(json!({}));
    let Some(spec) = spec.as_object_mut() else { return Err(invalid("spec: must be an object".into())) };
    if kind == "DaemonSet" {
        return Ok(());
    }
    match spec.get("replicas") {
        None | Some(Value::Null) => {
            spec.insert("replicas".into(), json!(1));
        }
        Some(r) if r.as_i64().is_some_and(|n| (0..=i64::from(i32::MAX)).contains(&n)) => {}
        Some(r) => return Err(invalid(format!("spec.replicas: Invalid value: {r}: must be greater than or equal to 0"))),
    }
    for f in ["minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"] {
        if let Some(v) = spec.get(f).filter(|v| !v.is_null()) {
            if !v.as_i64().is_some_and(|n| (0..=i64::from(i32::MAX)).contains(&n)) {
                return Err(invalid(format!("spec.{f}: Invalid value: {v}: must be greater than or equal to 0")));
            }
        }
    }
    if kind == "ReplicaSet" {
        return Ok(());
    }
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
    let min_ready = spec.get("minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
    if spec.get("progressDeadlineSeconds").and_then(Value::as_i64).is_some_and(|p| p <= min_ready) {
        return Err(invalid(format!("spec.progressDeadlineSeconds: Invalid value: {}: must be greater than minReadySeconds", spec["progressDeadlineSeconds"])));
    }
    strategy(spec)
}

/// A Deployment's strategy: its type, and for RollingUpdate the two bounds.
fn strategy(spec: &mut Map<String, Value>) -> Result<(), ApiError> {
    let s = spec.entry("strategy").or_insert(json!({}));
    if !s.is_object() {
        return Err(invalid("spec.strategy: must be an object".into()));
    }
    match s["type"].as_str() {
        None => s["type"] = json!("RollingUpdate"),
        Some("RollingUpdate") => {}
        Some("Recreate") => {
            if s.get("rollingUpdate").is_some_and(|r| !r.is_null()) {
                return Err(invalid("spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'".into()));
            }
            return Ok(());
        }
        Some(t) => return Err(invalid(format!("spec.strategy.type: Unsupported value: \"{t}\": supported values: \"Recreate\", \"RollingUpdate\""))),
    }
    if !s["rollingUpdate"].is_object() {
        s["rollingUpdate"] = json!({});
    }
    let r = &mut s["rollingUpdate"];
    for f in ["maxSurge", "maxUnavailable"] {
        if r.get(f).is_none_or(Value::is_null) {
            r[f] = json!("25%");
        }
        bound(f, &r[f])?;
    }
    let zero = |v: &Value| v.as_i64() == Some(0) || v.as_str() == Some("0%");
    if zero(&r["maxSurge"]) && zero(&r["maxUnavailable"]) {
        return Err(invalid(format!("spec.strategy.rollingUpdate.maxUnavailable: Invalid value: {}: may not be 0 when `maxSurge` is 0", r["maxUnavailable"])));
    }
    Ok(())
}

/// maxSurge / maxUnavailable: a count ≥ 0 or a percent (≤ 100% for maxUnavailable).
fn bound(field: &str, v: &Value) -> Result<(), ApiError> {
    let at = format!("spec.strategy.rollingUpdate.{field}: Invalid value: {v}");
    if let Some(n) = v.as_i64() {
        return if n < 0 { Err(invalid(format!("{at}: must be greater than or equal to 0"))) } else { Ok(()) };
    }
    let p = v.as_str().and_then(|s| s.strip_suffix('%')).and_then(|n| n.parse::<i64>().ok());
    match p {
        None => Err(invalid(format!("{at}: a valid percent string must be a numeric string followed by an ending '%'"))),
        Some(p) if p < 0 => Err(invalid(format!("{at}: must be greater than or equal to 0"))),
        Some(p) if p > 100 && field == "maxUnavailable" => Err(invalid(format!("{at}: must not be greater than 100%"))),
        Some(_) => Ok(()),
    }
}

/// An update may not change an apps/v1 workload's selector (Kubernetes
/// refuses it: the pods it owns would no longer be its own).
pub fn check_update(kind: &str, cur: &Value, next: &Value) -> Result<(), ApiError> {
    if is_workload(kind) && cur.pointer("/spec/selector") != next.pointer("/spec/selector") {
        let shown = next.pointer("/spec/selector").map(Value::to_string).unwrap_or_else(|| "null".into());
        return Err(invalid(format!("spec.selector: Invalid value: {shown}: field is immutable")));
    }
    Ok(())
}

/// A workload's `spec.selector.matchLabels` must be there and select its
/// template's labels, and its template must have containers.
fn check_selector(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let sel = obj.get("spec").and_then(|s| s.pointer("/selector/matchLabels")).and_then(Value::as_object);
    let Some(sel) = sel.filter(|s| !s.is_empty()) else {
        return Err(invalid("spec.selector: Required value: a selector with matchLabels".into()));
    };
    let labels = obj.get("spec").and_then(|s| s.pointer("/template/metadata/labels")).and_then(Value::as_object);
    if !sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
        return Err(invalid(format!(
            "spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`",
            labels.map(|l| Value::Object(l.clone()).to_string()).unwrap_or_else(|| "{}".into())
        )));
    }
    if obj.get("spec").and_then(|s| s.pointer("/template/spec/containers")).and_then(Value::as_array).is_none_or(Vec::is_empty) {
        return Err(invalid("spec.template.spec.containers: Required value".into()));
    }
    // A workload keeps its pods running: an ended pod would only be replaced, again and again.
    match obj.get("spec").and_then(|s| s.pointer("/template/spec/restartPolicy")) {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v == "Always" => Ok(()),
        Some(v) => Err(invalid(format!("spec.template.spec.restartPolicy: Unsupported value: {v}: supported values: \"Always\""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(spec_extra: Value) -> Map<String, Value> {
        let mut spec =
            json!({"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c"}]}}});
        crate::kube::merge(&mut spec, &spec_extra);
        json!({"spec": spec}).as_object().cloned().unwrap()
    }

    fn refused(kind: &str, extra: Value) -> String {
        let mut d = deployment(extra);
        let e = check(kind, &mut d).expect_err("refused");
        assert_eq!(e.0, StatusCode::UNPROCESSABLE_ENTITY);
        e.2
    }

    #[test]
    fn defaults_are_kubernetes_ones() {
        let mut d = deployment(json!({}));
        assert!(check("Deployment", &mut d).is_ok());
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
        assert_eq!((d["spec"]["revisionHistoryLimit"].as_i64(), d["spec"]["progressDeadlineSeconds"].as_i64()), (Some(10), Some(600)));
    }

    #[test]
    fn bad_specs_name_their_field() {
        assert!(refused("Deployment", json!({"replicas": -1})).starts_with("spec.replicas: Invalid value: -1"));
        assert!(refused("ReplicaSet", json!({"replicas": "3"})).starts_with("spec.replicas"));
        let m = refused("Deployment", json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}}));
        assert!(m.contains("may not be 0 when `maxSurge` is 0"), "{m}");
        assert!(refused("Deployment", json!({"strategy": {"rollingUpdate": {"maxUnavailable": "150%"}}})).contains("greater than 100%"));
        assert!(refused("Deployment", json!({"strategy": {"rollingUpdate": {"maxSurge": "x"}}})).contains("valid percent"));
        assert!(refused("Deployment", json!({"strategy": {"type": "Canary"}})).contains("Unsupported value: \"Canary\""));
        assert!(refused("Deployment", json!({"strategy": {"type": "Recreate", "rollingUpdate": {}}})).contains("Forbidden"));
        assert!(refused("Deployment", json!({"selector": {"matchLabels": {"app": "other"}}})).contains("does not match template"));
        assert!(refused("ReplicaSet", json!({"template": {"spec": {"restartPolicy": "Never"}}})).contains("restartPolicy: Unsupported value"));
    }
}
