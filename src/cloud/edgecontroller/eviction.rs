//! Evicting pods from an unreachable edge — only where a pod asks for it.
//! KubeEdge's rule is edge autonomy: an edge that loses the cloud keeps
//! running its pods, and nothing is deleted or recreated elsewhere. A pod
//! that tolerates `node.kubernetes.io/unreachable` (NoExecute, or any
//! effect) for a bounded `tolerationSeconds` says otherwise: once its node
//! has been unreachable that long, it is deleted as Kubernetes' taint
//! manager does (its ReplicaSet then makes a replacement the scheduler
//! places on a reachable node), with a `TaintManagerEviction` event.
//! Kubernetes' admission adds 300 s tolerations to every pod; hive does not,
//! so a pod without one stays, marked Unknown (lifecycle.rs).
//!
//! Owns: that decision and the delete. Must not touch pods of reachable nodes.

use serde_json::Value;

use crate::cloud::events::{self, About};
use crate::cloud::store::{Store, StoreError};

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// How long `pod` tolerates its node being unreachable: the smallest
/// bounded toleration, as Kubernetes' taint manager takes it; None: for
/// ever, or not at all — then too it stays (autonomy).
pub fn tolerated_s(pod: &Value) -> Option<i64> {
    crate::kube::items(pod, "/spec/tolerations")
        .filter(|t| {
            let key_ok = match t["operator"].as_str() {
                Some("Exists") => t["key"].as_str().is_none_or(|k| k.is_empty() || k == UNREACHABLE),
                _ => t["key"] == UNREACHABLE,
            };
            key_ok && t["effect"].as_str().is_none_or(|e| e.is_empty() || e == "NoExecute")
        })
        .filter_map(|t| t["tolerationSeconds"].as_i64())
        .map(|s| s.max(0))
        .min()
}

/// Delete the pods of `node`, unreachable for `for_s` seconds, whose
/// tolerations have run out; returns the seconds until the next one will
/// (None if no pod waits for it).
pub fn evict(store: &dyn Store, node: &str, for_s: i64) -> Result<Option<i64>, StoreError> {
    let mut next: Option<i64> = None;
    for s in store.list("pods/")?.0 {
        let Ok(pod) = serde_json::from_slice::<Value>(&s.value) else { continue };
        if super::place::pod_node(&pod) != Some(node) {
            continue;
        }
        let Some(limit) = tolerated_s(&pod) else { continue };
        if for_s < limit {
            next = Some(next.map_or(limit - for_s, |n| n.min(limit - for_s)));
            continue;
        }
        let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        log::info!(target: "edgecontroller", "node {node} unreachable for {for_s}s: evicting pod {ns}/{name} (it tolerates {limit}s)");
        match store.delete(&s.key, Some(s.rev)) {
            Ok(_) => events::record(
                store,
                &About::pod(&pod, ""),
                false,
                "TaintManagerEviction",
                &format!("Marking for deletion Pod {ns}/{name}"),
                "taint-controller",
            ),
            Err(StoreError::NotFound(_)) | Err(StoreError::Conflict { .. }) => next = Some(0),
            Err(e) => return Err(e),
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(tolerations: Value) -> Value {
        json!({"spec": {"tolerations": tolerations}})
    }

    #[test]
    fn only_a_bounded_unreachable_toleration_evicts() {
        assert_eq!(tolerated_s(&pod(json!([]))), None);
        let t = |s: Value| json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": s});
        assert_eq!(tolerated_s(&pod(json!([t(json!(30))]))), Some(30));
        assert_eq!(tolerated_s(&pod(json!([t(json!(null))]))), None, "no seconds: for ever");
        assert_eq!(tolerated_s(&pod(json!([t(json!(30)), t(json!(null))]))), Some(30));
        assert_eq!(tolerated_s(&pod(json!([t(json!(30)), t(json!(90))]))), Some(30));
        assert_eq!(tolerated_s(&pod(json!([t(json!(-5))]))), Some(0));
        let other = json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5});
        assert_eq!(tolerated_s(&pod(json!([other]))), None);
        let noschedule = json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5});
        assert_eq!(tolerated_s(&pod(json!([noschedule]))), None);
        let any = json!({"operator": "Exists", "tolerationSeconds": 7});
        assert_eq!(tolerated_s(&pod(json!([any]))), Some(7));
    }
}
