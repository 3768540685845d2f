//! Whether a pod fits a node, filter by filter as kube-scheduler decides
//! it: the node is Ready and schedulable, matches `nodeSelector` and the
//! required node affinity, its NoSchedule/NoExecute taints are tolerated,
//! it has the CPU, memory and pod slots the pod requests left, and the
//! pod's host ports are free there. A refusal is the reason in
//! kube-scheduler's words, counted per reason for the "0/3 nodes are
//! available: …" message. A node is read once into a `NodeInfo` (labels,
//! taints, allocatable parsed) when it changes, not for every pod.
//!
//! Owns: those rules over JSON objects. Must not touch the store.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::quantity::{milli, MAX};

/// What is bound to a node already: requested CPU and memory (milli-units),
/// pod count, host ports (with how many pods hold each).
#[derive(Default, Clone, Debug)]
pub struct Used {
    pub cpu: i128,
    pub memory: i128,
    pub pods: i128,
    pub ports: HashMap<(String, i64), u32>,
}

/// A pod's requests: CPU and memory (milli-units; the larger of the sum of
/// its containers and any one init container), host ports (protocol, port).
pub struct Requests {
    pub cpu: i128,
    pub memory: i128,
    pub ports: Vec<(String, i64)>,
}

/// What the filters read of a node, parsed once.
#[derive(Debug, Default, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub labels: BTreeMap<String, String>,
    /// NoSchedule / NoExecute taints: (key, value, effect).
    pub taints: Vec<(String, String, String)>,
    /// Allocatable CPU and memory (milli-units) and pods (0: no limit).
    pub cpu: i128,
    pub memory: i128,
    pub max_pods: i128,
}

impl NodeInfo {
    pub fn of(node: &Value) -> NodeInfo {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let alloc = |r: &str| node.pointer("/status/allocatable").and_then(|a| a.get(r)).and_then(Value::as_str).and_then(milli).unwrap_or(0);
        NodeInfo {
            name: node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string(),
            ready: crate::kube::items(node, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True"),
            unschedulable: node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true),
            labels: node
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                .unwrap_or_default(),
            taints: crate::kube::items(node, "/spec/taints")
                .filter(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")))
                .map(|t| (s(t, "key"), s(t, "value"), s(t, "effect")))
                .collect(),
            cpu: alloc("cpu"),
            memory: alloc("memory"),
            max_pods: alloc("pods") / 1000,
        }
    }
}

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod.get("spec").and_then(|s| s.get(field)).and_then(Value::as_array).into_iter().flatten()
}

fn request(c: &Value, r: &str) -> i128 {
    // A limit without a request is also the request, as Kubernetes defaults it.
    let res = c.get("resources");
    let q = res.and_then(|x| x.get("requests")).and_then(|x| x.get(r)).or_else(|| res.and_then(|x| x.get("limits")).and_then(|x| x.get(r)));
    q.and_then(|q| match q {
        Value::String(s) => milli(s),
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| ((f * 1000.0) as i128).clamp(-MAX, MAX)),
        _ => None,
    })
    .unwrap_or(0)
}

pub fn requests(pod: &Value) -> Requests {
    let sum = |r: &str| containers(pod, "containers").map(|c| request(c, r)).fold(0i128, i128::saturating_add);
    let init = |r: &str| containers(pod, "initContainers").map(|c| request(c, r)).max().unwrap_or(0);
    let ports = containers(pod, "containers")
        .flat_map(|c| c.get("ports").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|p| {
            let port = p.get("hostPort").and_then(Value::as_i64).filter(|p| *p > 0)?;
            Some((p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string(), port))
        })
        .collect();
    Requests { cpu: sum("cpu").max(init("cpu")), memory: sum("memory").max(init("memory")), ports }
}

/// One `matchExpressions` term against a node's labels (or `matchFields` against its name).
fn expression_matches<'n>(e: &Value, get: &dyn Fn(&str) -> Option<&'n str>) -> bool {
    let key = e["key"].as_str().unwrap_or("");
    let mut values = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str);
    let have = get(key);
    let num = |s: &str| s.parse::<i64>().ok();
    let first = || e["values"].get(0).and_then(Value::as_str).and_then(num);
    match e["operator"].as_str().unwrap_or("") {
        "In" => have.is_some_and(|h| values.any(|v| v == h)),
        "NotIn" => !have.is_some_and(|h| values.any(|v| v == h)),
        "Exists" => have.is_some(),
        "DoesNotExist" => have.is_none(),
        "Gt" => matches!((have.and_then(num), first()), (Some(h), Some(v)) if h > v),
        "Lt" => matches!((have.and_then(num), first()), (Some(h), Some(v)) if h < v),
        _ => false,
    }
}

/// Required node affinity: any of the terms, each with all of its expressions.
fn affinity_matches(pod: &Value, node: &NodeInfo) -> bool {
    let Some(terms) = pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms").and_then(Value::as_array)
    else {
        return true;
    };
    let by_label = |k: &str| node.labels.get(k).map(String::as_str);
    let by_field = |k: &str| (k == "metadata.name").then_some(node.name.as_str());
    terms.iter().any(|t| {
        let exprs = t.get("matchExpressions").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let fields = t.get("matchFields").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        (!exprs.is_empty() || !fields.is_empty())
            && exprs.iter().all(|e| expression_matches(e, &by_label))
            && fields.iter().all(|e| expression_matches(e, &by_field))
    })
}

fn tolerates(pod: &Value, (key, value, effect): &(String, String, String)) -> bool {
    crate::kube::items(pod, "/spec/tolerations").any(|t| {
        let effect_ok = t["effect"].as_str().is_none_or(|e| e.is_empty() || e == effect);
        let key_ok = t["key"].as_str().is_none_or(|k| k.is_empty() || k == key);
        let value_ok = match t["operator"].as_str().unwrap_or("Equal") {
            "Exists" => true,
            _ => t["value"].as_str().unwrap_or("") == value && t["key"].as_str().is_some_and(|k| !k.is_empty()),
        };
        effect_ok && key_ok && value_ok
    })
}

/// Ok if `pod` may go to `node` by its nodeSelector, required node affinity
/// and the node's NoSchedule/NoExecute taints (what a DaemonSet checks too);
/// else why not, in kube-scheduler's words.
pub fn placeable(pod: &Value, node: &NodeInfo) -> Result<(), String> {
    let selector_ok = pod
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .is_none_or(|sel| sel.iter().all(|(k, v)| v.as_str().is_some_and(|v| node.labels.get(k).map(String::as_str) == Some(v))));
    if !selector_ok || !affinity_matches(pod, node) {
        return Err("node(s) didn't match Pod's node affinity/selector".into());
    }
    if let Some((k, v, _)) = node.taints.iter().find(|t| !tolerates(pod, t)) {
        return Err(format!("node(s) had untolerated taint {{{k}: {v}}}"));
    }
    Ok(())
}

/// Ok if `pod` fits `node` given what `used` is bound there; else why not, in kube-scheduler's words.
pub fn fits(pod: &Value, req: &Requests, node: &NodeInfo, used: &Used) -> Result<(), String> {
    if !node.ready {
        return Err("node(s) were not ready".into());
    }
    if node.unschedulable {
        return Err("node(s) were unschedulable".into());
    }
    placeable(pod, node)?;
    if node.max_pods > 0 && used.pods + 1 > node.max_pods {
        return Err("Too many pods".into());
    }
    if req.cpu > 0 && used.cpu.saturating_add(req.cpu) > node.cpu {
        return Err("Insufficient cpu".into());
    }
    if req.memory > 0 && used.memory.saturating_add(req.memory) > node.memory {
        return Err("Insufficient memory".into());
    }
    if req.ports.iter().any(|p| used.ports.get(p).is_some_and(|n| *n > 0)) {
        return Err("node(s) didn't have free ports for the requested pod ports".into());
    }
    Ok(())
}

/// kube-scheduler's summary: `0/3 nodes are available: 2 node(s) didn't match …, 1 node(s) were not ready.`
pub fn summary(nodes: usize, reasons: &BTreeMap<String, usize>) -> String {
    if nodes == 0 {
        return "0/0 nodes are available: no nodes registered.".into();
    }
    let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: Value, taints: Value, cpu: &str) -> Value {
        json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "2"}, "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    fn check(pod: &Value, node: &Value, used: &Used) -> Result<(), String> {
        fits(pod, &requests(pod), &NodeInfo::of(node), used)
    }

    #[test]
    fn every_filter_can_refuse_and_says_why() {
        let n = node(json!({"zone": "a", "gpu": "2"}), json!([{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]), "2");
        let tolerant = |extra: Value| {
            let mut p = json!({"spec": {"containers": [{"name": "c"}], "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]}});
            crate::kube::merge(&mut p, &extra);
            p
        };
        let none = Used::default();
        assert_eq!(check(&tolerant(json!({})), &n, &none), Ok(()));
        let untolerated = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(check(&untolerated, &n, &none), Err("node(s) had untolerated taint {dedicated: ml}".into()));
        let exists_all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        assert_eq!(check(&exists_all, &n, &none), Ok(()));
        assert!(check(&tolerant(json!({"spec": {"nodeSelector": {"zone": "b"}}})), &n, &none).unwrap_err().contains("affinity/selector"));
        let affinity = |op: &str, values: Value| {
            tolerant(json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "gpu", "operator": op, "values": values}]}]}}}}}))
        };
        assert_eq!(check(&affinity("In", json!(["1", "2"])), &n, &none), Ok(()));
        assert!(check(&affinity("NotIn", json!(["2"])), &n, &none).is_err());
        assert_eq!(check(&affinity("Gt", json!(["1"])), &n, &none), Ok(()));
        assert!(check(&affinity("Lt", json!(["2"])), &n, &none).is_err());
        assert!(check(&affinity("DoesNotExist", json!([])), &n, &none).is_err());
        assert_eq!(check(&affinity("Exists", json!([])), &n, &none), Ok(()));
        let big = tolerant(json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1500m"}}}]}}));
        assert_eq!(check(&big, &n, &none), Ok(()));
        assert_eq!(check(&big, &n, &Used { cpu: 600, ..Used::default() }), Err("Insufficient cpu".into()));
        let mem = tolerant(json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "2Gi"}}}]}}));
        assert_eq!(check(&mem, &n, &none), Err("Insufficient memory".into()), "a limit without a request is the request");
        assert_eq!(check(&tolerant(json!({})), &n, &Used { pods: 2, ..Used::default() }), Err("Too many pods".into()));
        let port = tolerant(json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}));
        let taken = Used { ports: [(("TCP".to_string(), 8080), 1)].into_iter().collect(), ..Used::default() };
        assert!(check(&port, &n, &taken).unwrap_err().contains("free ports"));
        let mut down = n.clone();
        down["status"]["conditions"][0]["status"] = json!("False");
        assert_eq!(check(&tolerant(json!({})), &down, &none), Err("node(s) were not ready".into()));
        let mut cordoned = n.clone();
        cordoned["spec"]["unschedulable"] = json!(true);
        assert_eq!(check(&tolerant(json!({})), &cordoned, &none), Err("node(s) were unschedulable".into()));
        let reasons = BTreeMap::from([("node(s) were not ready".to_string(), 1), ("Insufficient cpu".to_string(), 2)]);
        assert_eq!(summary(3, &reasons), "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were not ready.");
    }
}
