//! Which node gets what, for EdgeController: its Node, the pods bound to it
//! (`spec.nodeName`) and the configmaps and secrets those pods reference.
//!
//! Owns: that rule. Must not do I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::kube::{items, split_key};

/// Store prefixes EdgeController places, with their edge cache kinds.
pub const KINDS: &[(&str, &str)] = &[("pods/", "pod"), ("configmaps/", "configmap"), ("secrets/", "secret"), ("nodes/", "node")];

/// Names of the configmaps and secrets a pod needs.
pub fn pod_refs(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut cms, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    let add = |set: &mut BTreeSet<String>, v: Option<&Value>| {
        if let Some(n) = v.and_then(Value::as_str) {
            set.insert(n.to_string());
        }
    };
    for vol in items(pod, "/spec/volumes") {
        add(&mut cms, vol.pointer("/configMap/name"));
        add(&mut secrets, vol.pointer("/secret/secretName"));
    }
    for list in ["/spec/containers", "/spec/initContainers"] {
        for c in items(pod, list) {
            for e in items(c, "/env") {
                add(&mut cms, e.pointer("/valueFrom/configMapKeyRef/name"));
                add(&mut secrets, e.pointer("/valueFrom/secretKeyRef/name"));
            }
            for e in items(c, "/envFrom") {
                add(&mut cms, e.pointer("/configMapRef/name"));
                add(&mut secrets, e.pointer("/secretRef/name"));
            }
        }
    }
    (cms, secrets)
}

/// The node a pod is bound to, if any.
pub fn pod_node(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())
}

pub fn place(objects: &BTreeMap<String, Value>) -> HashMap<String, BTreeSet<String>> {
    let mut sets: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (key, v) in objects {
        let (ns, kind, name) = split_key(key);
        match kind {
            "node" => {
                sets.entry(name.to_string()).or_default().insert(key.clone());
            }
            "pod" => {
                let Some(node) = pod_node(v) else { continue };
                let set = sets.entry(node.to_string()).or_default();
                set.insert(key.clone());
                let (cms, secrets) = pod_refs(v);
                set.extend(cms.into_iter().map(|c| format!("{ns}/configmap/{c}")));
                set.extend(secrets.into_iter().map(|s| format!("{ns}/secret/{s}")));
            }
            _ => {}
        }
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_gets_its_node_its_pods_and_what_they_reference() {
        let pod = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"nodeName": "e1",
            "volumes": [{"configMap": {"name": "vol-cm"}}, {"secret": {"secretName": "vol-s"}}],
            "containers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "env-s"}}}], "envFrom": [{"configMapRef": {"name": "from-cm"}}]}]}});
        let mut objects = BTreeMap::new();
        for (k, v) in [
            ("default/pod/web", pod),
            ("default/pod/other", json!({"spec": {"nodeName": "e2"}})),
            ("default/pod/unbound", json!({"spec": {}})),
            ("/node/e1", json!({})),
        ] {
            objects.insert(k.to_string(), v);
        }
        let sets = place(&objects);
        let e1: Vec<&str> = sets["e1"].iter().map(String::as_str).collect();
        assert_eq!(
            e1,
            vec!["/node/e1", "default/configmap/from-cm", "default/configmap/vol-cm", "default/pod/web", "default/secret/env-s", "default/secret/vol-s"]
        );
        assert_eq!(sets["e2"].iter().collect::<Vec<_>>(), vec!["default/pod/other"]);
        assert_eq!(sets.len(), 2, "an unbound pod goes nowhere");
    }
}
