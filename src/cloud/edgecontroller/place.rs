//! Which node gets what, for EdgeController: its Node, the pods bound to it
//! (`spec.nodeName`) and the configmaps and secrets those pods reference
//! (volumes, env, envFrom, imagePullSecrets).
//!
//! Owns: that rule. Must not do I/O.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cloud::nodeset::Placement;
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
    for r in items(pod, "/spec/imagePullSecrets") {
        add(&mut secrets, r.get("name"));
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

/// Where one object goes: a Node to itself, a bound pod to its node with
/// the configmaps and secrets it references; configmaps and secrets only
/// with the pods that take them.
pub fn place(key: &str, v: &Value) -> Placement {
    let (ns, kind, name) = split_key(key);
    match kind {
        "node" => Placement { nodes: vec![name.to_string()], takes: Vec::new() },
        "pod" => {
            let Some(node) = pod_node(v) else { return Placement::default() };
            let (cms, secrets) = pod_refs(v);
            let takes = cms.into_iter().map(|c| format!("{ns}/configmap/{c}")).chain(secrets.into_iter().map(|s| format!("{ns}/secret/{s}"))).collect();
            Placement { nodes: vec![node.to_string()], takes }
        }
        _ => Placement::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_gets_its_node_its_pods_and_what_they_reference() {
        let pod = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"nodeName": "e1", "imagePullSecrets": [{"name": "regcred"}],
            "volumes": [{"configMap": {"name": "vol-cm"}}, {"secret": {"secretName": "vol-s"}}],
            "containers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "env-s"}}}], "envFrom": [{"configMapRef": {"name": "from-cm"}}]}]}});
        let p = place("default/pod/web", &pod);
        assert_eq!(p.nodes, vec!["e1"]);
        assert_eq!(
            p.takes,
            vec!["default/configmap/from-cm", "default/configmap/vol-cm", "default/secret/env-s", "default/secret/regcred", "default/secret/vol-s"]
        );
        assert_eq!(place("/node/e1", &json!({})).nodes, vec!["e1"]);
        assert_eq!(place("default/pod/unbound", &json!({"spec": {}})), Placement::default(), "an unbound pod goes nowhere");
        assert_eq!(place("default/configmap/vol-cm", &json!({})), Placement::default(), "only with a pod");
    }
}
