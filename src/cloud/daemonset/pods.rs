//! One reconcile of every DaemonSet: which nodes should run its pod, the
//! pods to create, replace (a newer template) or delete, and its status.
//!
//! Owns: that decision and its writes. Must not touch pods no DaemonSet
//! owns.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{identity, PREFIX};
use crate::cloud::claim::claim;
use crate::cloud::controller::{self, gone, parse, pod_from_template, ready};
use crate::cloud::events::{self, About};
use crate::cloud::scheduler::filter::{placeable, NodeInfo};
use crate::cloud::store::{Store, StoreError};

/// Label carrying the hash of the template a pod was made from (Kubernetes' name for it).
const HASH: &str = "controller-revision-hash";

/// Tolerations Kubernetes adds to every DaemonSet pod: it stays on a node that is NotReady, offline or cordoned.
fn with_daemon_tolerations(template: &Value) -> Value {
    let mut pod = template.clone();
    let mut t: Vec<Value> = crate::kube::items(&pod, "/spec/tolerations").cloned().collect();
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        t.push(json!({"key": key, "operator": "Exists", "effect": effect}));
    }
    pod["spec"]["tolerations"] = Value::Array(t);
    pod
}

/// FNV-1a of the template, as the revision label.
fn template_hash(template: &Value) -> String {
    format!("{:010x}", crate::kube::fnv64([template.to_string().as_bytes()]) & 0xff_ffff_ffff)
}

fn new_pod(ds: &Value, node: &str, hash: &str) -> (String, Value) {
    let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let (key, mut pod) = pod_from_template(&template, "DaemonSet", ds, identity(ds).1, Some(node));
    pod["metadata"]["labels"][HASH] = json!(hash);
    (key, pod)
}

pub fn reconcile(store: &dyn Store) -> Result<(), StoreError> {
    let sets: Vec<(String, u64, Value)> = store.list(PREFIX)?.0.into_iter().map(|s| (s.key, s.rev, parse(&s.value))).collect();
    if sets.is_empty() {
        return Ok(());
    }
    let nodes: Vec<Value> = store.list("nodes/")?.0.iter().map(|s| parse(&s.value)).collect();
    let infos: Vec<NodeInfo> = nodes.iter().map(NodeInfo::of).collect();
    let pods = controller::list(store, "pods/")?;
    for (key, rev, ds) in &sets {
        let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let candidate = with_daemon_tolerations(&template);
        let wanted: BTreeMap<&str, &Value> =
            nodes.iter().zip(&infos).filter(|(_, i)| !i.name.is_empty() && placeable(&candidate, i).is_ok()).map(|(n, i)| (i.name.as_str(), n)).collect();
        // Its pods, with orphans of its selector adopted (claim.rs).
        let mine: Vec<(String, Value)> = claim(store, "DaemonSet", ds, &pods)?.into_iter().map(|(k, _, v)| (k, v)).collect();
        let mut by_node: BTreeMap<&str, Vec<&(String, Value)>> = BTreeMap::new();
        for p in &mine {
            by_node.entry(p.1.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("")).or_default().push(p);
        }
        let pod_name = |k: &str| k.rsplit('/').next().unwrap_or("").to_string();
        let (mut created, mut deleted) = (Vec::new(), Vec::new());
        // Pods on nodes that no longer want one, and extra copies.
        for (node, ps) in &by_node {
            let keep = if wanted.contains_key(node) { 1 } else { 0 };
            for (k, _) in ps.iter().skip(keep) {
                gone(store.delete(k, None))?;
                deleted.push(format!("Deleted pod: {}", pod_name(k)));
            }
        }
        for node in wanted.keys() {
            if !by_node.contains_key(node) {
                let (k, pod) = new_pod(ds, node, &hash);
                match store.create(&k, &serde_json::to_vec(&pod).unwrap_or_default()) {
                    Ok(_) => {
                        log::info!(target: super::NAME, "{key}: pod {k} for node {node}");
                        created.push(format!("Created pod: {}", pod_name(&k)));
                    }
                    Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // Rolling update: one outdated pod at a time, only while all the others are Ready.
        let kept: Vec<&(String, Value)> = by_node.iter().filter(|(n, _)| wanted.contains_key(*n)).filter_map(|(_, ps)| ps.first().copied()).collect();
        let outdated: Vec<&&(String, Value)> =
            kept.iter().filter(|(_, p)| p.pointer(&format!("/metadata/labels/{HASH}")).and_then(Value::as_str) != Some(&hash)).collect();
        let rolling = ds.pointer("/spec/updateStrategy/type").and_then(Value::as_str).unwrap_or("RollingUpdate") == "RollingUpdate";
        let all_ready = kept.len() == wanted.len() && kept.iter().all(|(_, p)| ready(p));
        if rolling && all_ready {
            if let Some((k, _)) = outdated.first().map(|p| &***p) {
                log::info!(target: super::NAME, "{key}: replacing {k} (template changed)");
                gone(store.delete(k, None))?;
                deleted.push(format!("Deleted pod: {}", pod_name(k)));
            }
        }
        let about = About::object("DaemonSet", ds);
        events::record_burst(store, &about, false, "SuccessfulCreate", &created, "daemonset-controller");
        events::record_burst(store, &about, false, "SuccessfulDelete", &deleted, "daemonset-controller");
        let n_ready = kept.iter().filter(|(_, p)| ready(p)).count();
        let status = json!({"desiredNumberScheduled": wanted.len(), "currentNumberScheduled": kept.len(), "numberReady": n_ready,
            "numberAvailable": n_ready, "numberUnavailable": wanted.len() - n_ready.min(wanted.len()), "updatedNumberScheduled": kept.len() - outdated.len(),
            "numberMisscheduled": 0, "observedGeneration": ds.pointer("/metadata/generation").cloned().unwrap_or(json!(1))});
        if ds.get("status") != Some(&status) {
            let mut next = ds.clone();
            next["status"] = status;
            match store.update(key, &serde_json::to_vec(&next).unwrap_or_default(), Some(*rev)) {
                Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
