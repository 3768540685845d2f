//! ReplicaSet controller, as Kubernetes' does it: keeps `spec.replicas`
//! active pods of the template (named `<replicaset>-<5 characters>`, owned
//! by the ReplicaSet through a controller reference; the scheduler places
//! them), replacing pods that end or are deleted, deleting the extra ones
//! when scaled down (unplaced first, then not Ready, then the youngest),
//! and reports replicas, fullyLabeledReplicas, readyReplicas,
//! availableReplicas (Ready for minReadySeconds) and observedGeneration.
//!
//! Pods of its selector that no controller owns are adopted, and its own
//! pods that the selector no longer matches released (claim.rs).
//!
//! Owns: pods owned by ReplicaSets (creating and deleting them) and
//! ReplicaSet status. Must not touch the ReplicaSet spec, pods it does not
//! own, or pods whose ReplicaSet is gone (gc/ deletes those).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cloud::claim::claim;
use crate::cloud::controller::{self, active, gone, pod_from_template, ready, ready_for, str_at, Controller};
use crate::cloud::events::{self, About};
use crate::cloud::store::{Store, StoreError};

pub const NAME: &str = "replicaset";

/// Store prefix of ReplicaSets (apps/v1).
pub const PREFIX: &str = "apps/replicasets/";

/// Pods created or deleted per ReplicaSet per reconcile (Kubernetes' burst is 500).
const BURST: usize = 500;

/// The module.
pub fn controller(store: Arc<dyn Store + Send + Sync>) -> Controller {
    Controller::new(NAME, store, &[PREFIX, "pods/"], reconcile)
}

/// Which of `pods` to delete first when there are too many: not placed on
/// a node, then Pending, then not Ready, then the most recently created.
fn deletion_rank(pod: &Value) -> (u8, u8, u8, std::cmp::Reverse<String>) {
    let placed = u8::from(!str_at(pod, "/spec/nodeName").is_empty());
    let running = u8::from(str_at(pod, "/status/phase") == "Running");
    (placed, running, u8::from(ready(pod)), std::cmp::Reverse(str_at(pod, "/metadata/creationTimestamp").to_string()))
}

pub fn reconcile(store: &dyn Store) -> Result<Option<Duration>, StoreError> {
    let sets = controller::list(store, PREFIX)?;
    if sets.is_empty() {
        return Ok(None);
    }
    // Pods that still run or will, the only ones a ReplicaSet counts or adopts.
    let pods: Vec<_> = controller::list(store, "pods/")?.into_iter().filter(|(_, _, p)| active(p)).collect();
    let now = crate::kube::parse_rfc3339(&crate::kube::rfc3339_now()).unwrap_or(0);
    let mut again: Option<i64> = None;
    for (key, rev, rs) in &sets {
        let name = str_at(rs, "/metadata/name");
        let want = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0) as usize;
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let claimed = claim(store, "ReplicaSet", rs, &pods)?;
        let mut mine: Vec<&(String, u64, Value)> = claimed.iter().collect();
        let (mut created, mut deleted) = (Vec::new(), Vec::new());
        if mine.len() < want {
            for _ in 0..(want - mine.len()).min(BURST) {
                let (k, pod) = pod_from_template(&template, "ReplicaSet", rs, name, None);
                match store.create(&k, &serde_json::to_vec(&pod).unwrap_or_default()) {
                    Ok(_) => {
                        log::info!(target: NAME, "{key}: created pod {k}");
                        created.push(format!("Created pod: {}", str_at(&pod, "/metadata/name")));
                    }
                    Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        } else if mine.len() > want {
            mine.sort_by_key(|(_, _, p)| deletion_rank(p));
            for (k, _, p) in mine.iter().take((mine.len() - want).min(BURST)) {
                log::info!(target: NAME, "{key}: deleting pod {k} (scaled to {want})");
                gone(store.delete(k, None))?;
                deleted.push(format!("Deleted pod: {}", str_at(p, "/metadata/name")));
            }
            mine.drain(..mine.len() - want);
        }
        let about = About::object("ReplicaSet", rs);
        events::record_burst(store, &about, false, "SuccessfulCreate", &created, "replicaset-controller");
        events::record_burst(store, &about, false, "SuccessfulDelete", &deleted, "replicaset-controller");
        let min_ready = rs.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0).max(0);
        let labels = template.pointer("/metadata/labels").and_then(Value::as_object);
        let fully = mine
            .iter()
            .filter(|(_, _, p)| labels.is_none_or(|l| l.iter().all(|(k, v)| p.pointer("/metadata/labels").and_then(|pl| pl.get(k)) == Some(v))))
            .count();
        let n_ready = mine.iter().filter(|(_, _, p)| ready(p)).count();
        let mut available = 0;
        for (_, _, p) in &mine {
            match ready_for(p, now) {
                Some(s) if s >= min_ready => available += 1,
                // Ready, not yet for long enough: look again when it will be.
                Some(s) => again = Some(again.map_or(min_ready - s, |a| a.min(min_ready - s))),
                None => {}
            }
        }
        let mut status = json!({"replicas": mine.len(), "fullyLabeledReplicas": fully, "readyReplicas": n_ready, "availableReplicas": available,
            "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1))});
        // Kubernetes leaves zero counts out.
        if let Some(o) = status.as_object_mut() {
            o.retain(|k, v| k == "replicas" || v.as_i64() != Some(0));
        }
        let mut next = rs.clone();
        next["status"] = status;
        controller::write_back(store, key, *rev, rs, &next)?;
    }
    Ok(again.map(|s| Duration::from_secs(s.max(1) as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_pods_go_unplaced_first_then_not_ready_then_youngest() {
        let unplaced = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}});
        let pending = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"nodeName": "n"}, "status": {"phase": "Pending"}});
        let old = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        let young = json!({"metadata": {"creationTimestamp": "2026-01-02T00:00:00Z"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        let mut v = [&old, &young, &pending, &unplaced];
        v.sort_by_key(|p| deletion_rank(p));
        assert_eq!(v, [&unplaced, &pending, &young, &old]);
    }
}
