//! EdgeController upstream: pod and node status reported by an edge land
//! in the store — the status subresource only, and only for objects of
//! that edge (node authorization). Resources, as the edge names them:
//! - `<namespace>/pod/<name>/status`: the pod's whole status (with, under
//!   `hiveEvents`, events Edged saw — recorded as Events, not stored);
//! - `/node/<name>/status`: part of the node's status (capacity, nodeInfo,
//!   conditions by type) merged into what the cloud keeps.
//!
//! Owns: the rules of what an edge may write. Must not touch specs.

use serde_json::Value;

use super::place::pod_node;
use crate::cloud::status::{update_status, StatusError, Written};
use crate::cloud::store::Store;
use crate::kube::merge;

/// Apply one report from `node` about `resource`. Err = refused (the reason
/// is logged by the caller and returned to CloudHub).
pub fn apply(store: &dyn Store, node: &str, resource: &str, content: &[u8]) -> Result<Written, StatusError> {
    let mut status: Value = serde_json::from_slice(content).map_err(|e| StatusError::Refused(format!("{resource}: content is not JSON: {e}")))?;
    // Events the edge saw (probe failures, kills) ride with a pod's status; they are not part of it.
    let carried = status.as_object_mut().and_then(|o| o.remove("hiveEvents"));
    if !status.is_object() {
        return Err(StatusError::Refused(format!("{resource}: status must be a JSON object")));
    }
    let parts: Vec<&str> = resource.split('/').collect();
    match parts.as_slice() {
        [ns, "pod", name, "status"] if !ns.is_empty() && !name.is_empty() => {
            let mut seen = None;
            let written = update_status(store, &format!("pods/{ns}/{name}"), |pod, st| {
                match pod_node(pod) {
                    Some(n) if n == node => {}
                    other => return Err(format!("pod {ns}/{name} is bound to {}, not to node {node}", other.unwrap_or("no node"))),
                }
                seen = Some((pod.clone(), st.clone()));
                // The edge reports what it sees; the QoS class is the API's (set at create).
                let qos = st.get("qosClass").cloned();
                let old_conditions = st.get("conditions").cloned();
                *st = status.clone();
                stamp_transitions(st, old_conditions.as_ref());
                if let (Some(q), Some(o)) = (qos, st.as_object_mut()) {
                    o.entry("qosClass").or_insert(q);
                }
                Ok(())
            });
            if let (Ok(Written::At(_)), Some((pod, before))) = (&written, &seen) {
                crate::cloud::events::pod_changes(store, pod, before.get("containerStatuses").map(|_| before), &status);
            }
            if let (Ok(_), Some((pod, _)), Some(carried)) = (&written, &seen, &carried) {
                crate::cloud::events::edge_reported(store, pod, carried);
            }
            written
        }
        ["", "node", name, "status"] => {
            if *name != node {
                return Err(StatusError::Refused(format!("node {node} may not write the status of node {name}")));
            }
            let ready_of =
                |st: &Value| crate::kube::items(st, "/conditions").find(|c| c["type"] == "Ready").and_then(|c| c["status"].as_str()).map(String::from);
            let mut change = None;
            let written = update_status(store, &format!("nodes/{name}"), |_, st| {
                let before = ready_of(st);
                merge_node_status(st, &status);
                crate::kube::complete_node_info(st);
                let after = ready_of(st);
                change = (before != after).then_some(after).flatten();
                Ok(())
            });
            // The edge's own Ready (e.g. False while its container runtime is down) is an event too.
            if let (Ok(Written::At(_)), Some(now)) = (&written, &change) {
                let reason = if now == "True" { "NodeReady" } else { "NodeNotReady" };
                let about = crate::cloud::events::About::node(name);
                crate::cloud::events::record(store, &about, now != "True", reason, &format!("Node {name} status is now: {reason}"), "hive-edge");
            }
            written
        }
        _ => Err(StatusError::Refused(format!("`{resource}` is not a pod or node status this node may report"))),
    }
}

/// Merge a node status report: conditions by `type`, the rest as a merge patch.
pub fn merge_node_status(st: &mut Value, report: &Value) {
    let mut rest = report.clone();
    let conditions = rest.as_object_mut().and_then(|o| o.remove("conditions"));
    merge(st, &rest);
    if let Some(Value::Array(new)) = conditions {
        set_conditions(st, new);
    }
}

/// Replace the conditions of the same `type`, keep the others.
/// Conditions the edge reports without `lastTransitionTime` get one: the
/// previous one while their status holds, now when it flips (what
/// minReadySeconds counts from).
fn stamp_transitions(st: &mut Value, old: Option<&Value>) {
    let now = crate::kube::rfc3339_now();
    let Some(list) = st.get_mut("conditions").and_then(Value::as_array_mut) else { return };
    for c in list.iter_mut().filter(|c| c.get("lastTransitionTime").is_none_or(Value::is_null)) {
        let prev = old.and_then(Value::as_array).and_then(|o| o.iter().find(|p| p.get("type") == c.get("type")));
        let since = match prev {
            Some(p) if p.get("status") == c.get("status") => p.get("lastTransitionTime").cloned().filter(|t| !t.is_null()),
            _ => None,
        };
        if let Some(o) = c.as_object_mut() {
            o.insert("lastTransitionTime".into(), since.unwrap_or_else(|| Value::String(now.clone())));
        }
    }
}

pub fn set_conditions(st: &mut Value, new: Vec<Value>) {
    let Some(o) = st.as_object_mut() else { return };
    let list = o.entry("conditions").or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let Some(list) = list.as_array_mut() else { return };
    for c in new {
        let ty = c.get("type").cloned();
        match list.iter_mut().find(|old| old.get("type") == ty.as_ref()) {
            Some(old) => *old = c,
            None => list.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;
    use serde_json::json;

    fn store() -> SledStore {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = SledStore::open(&db, 100).unwrap();
        s.create("pods/default/web", br#"{"metadata":{"name":"web","namespace":"default"},"spec":{"nodeName":"e1"}}"#).unwrap();
        s.create("nodes/e1", br#"{"metadata":{"name":"e1"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#).unwrap();
        s.create("nodes/e2", br#"{"metadata":{"name":"e2"}}"#).unwrap();
        s
    }

    fn status_of(s: &SledStore, key: &str) -> Value {
        serde_json::from_slice::<Value>(&s.get(key).unwrap().unwrap().value).unwrap()["status"].clone()
    }

    #[test]
    fn an_edge_writes_the_status_of_its_own_pods_and_node_only() {
        let s = store();
        apply(&s, "e1", "default/pod/web/status", br#"{"phase":"Running"}"#).unwrap();
        assert_eq!(status_of(&s, "pods/default/web"), json!({"phase": "Running"}));
        let e = apply(&s, "e2", "default/pod/web/status", br#"{"phase":"Failed"}"#).unwrap_err();
        assert!(e.to_string().contains("bound to e1, not to node e2"), "{e}");
        assert_eq!(status_of(&s, "pods/default/web"), json!({"phase": "Running"}));
        assert!(apply(&s, "e2", "/node/e1/status", b"{}").is_err());
        assert!(apply(&s, "e1", "default/configmap/x/status", b"{}").is_err());
        assert!(apply(&s, "e1", "default/pod/web", b"{}").is_err());
        assert!(apply(&s, "e1", "default/pod/web/status", b"[1]").is_err());
        assert!(apply(&s, "e1", "default/pod/web/status", b"not json").is_err());
        assert!(matches!(apply(&s, "e1", "default/pod/ghost/status", b"{}"), Err(StatusError::NotFound(_))));
    }

    #[test]
    fn a_condition_keeps_its_transition_time_until_its_status_flips() {
        let s = store();
        let ready = |st: &str| format!(r#"{{"phase":"Running","conditions":[{{"type":"Ready","status":"{st}"}}]}}"#);
        let time = |s: &SledStore| {
            let v: Value = serde_json::from_slice(&s.get("pods/default/web").unwrap().unwrap().value).unwrap();
            v["status"]["conditions"][0]["lastTransitionTime"].as_str().unwrap().to_string()
        };
        apply(&s, "e1", "default/pod/web/status", ready("True").as_bytes()).unwrap();
        let first = time(&s);
        // Pretend it flipped long ago; the same status again keeps that time.
        let mut v: Value = serde_json::from_slice(&s.get("pods/default/web").unwrap().unwrap().value).unwrap();
        v["status"]["conditions"][0]["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
        s.update("pods/default/web", &serde_json::to_vec(&v).unwrap(), None).unwrap();
        apply(&s, "e1", "default/pod/web/status", ready("True").as_bytes()).unwrap();
        assert_eq!(time(&s), "2020-01-01T00:00:00Z");
        apply(&s, "e1", "default/pod/web/status", ready("False").as_bytes()).unwrap();
        assert_ne!(time(&s), "2020-01-01T00:00:00Z");
        assert!(!first.is_empty());
    }

    #[test]
    fn a_node_report_merges_conditions_by_type() {
        let s = store();
        apply(&s, "e1", "/node/e1/status", br#"{"capacity":{"cpu":"2"},"conditions":[{"type":"RuntimeReady","status":"True"}]}"#).unwrap();
        let mut st = status_of(&s, "nodes/e1");
        let info = st.as_object_mut().unwrap().remove("nodeInfo").unwrap();
        assert!(crate::kube::NODE_INFO_FIELDS.iter().all(|f| info[*f].is_string()), "every field typed clients require: {info}");
        assert_eq!(st, json!({"capacity": {"cpu": "2"}, "conditions": [{"type": "Ready", "status": "True"}, {"type": "RuntimeReady", "status": "True"}]}));
        apply(&s, "e1", "/node/e1/status", br#"{"conditions":[{"type":"RuntimeReady","status":"False"}]}"#).unwrap();
        assert_eq!(status_of(&s, "nodes/e1")["conditions"][1], json!({"type": "RuntimeReady", "status": "False"}));
    }
}
