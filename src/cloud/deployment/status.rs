//! A Deployment's status as Kubernetes computes it from its ReplicaSets —
//! the counts `kubectl rollout status` reads and the `Available` and
//! `Progressing` conditions (with the progress deadline).
//!
//! Owns: that computation. Must not read or write the store.

use serde_json::{json, Value};

/// The counts over a Deployment's ReplicaSets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pods of all its ReplicaSets.
    pub replicas: i64,
    /// Pods of the ReplicaSet of the current template.
    pub updated: i64,
    pub ready: i64,
    pub available: i64,
    /// Sum of the ReplicaSets' `spec.replicas`.
    pub wanted: i64,
}

/// What the conditions are computed from.
pub struct Facts<'a> {
    pub replicas: i64,
    pub min_available: i64,
    pub paused: bool,
    /// The ReplicaSet of the current template, and whether it was just made.
    pub new_rs: &'a str,
    pub created: bool,
    pub deadline_s: Option<i64>,
    pub now: i64,
}

fn condition(kind: &str, status: &str, reason: &str, message: String, now: &str, before: Option<&Value>) -> Value {
    // The transition time moves only when the status does.
    let transition = match before {
        Some(b) if b["status"] == status => b["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message, "lastUpdateTime": now, "lastTransitionTime": transition})
}

/// The new status, and the seconds until the progress deadline passes
/// (to look again then) while the rollout is under way.
pub fn status(prev: &Value, generation: &Value, c: Counts, f: &Facts) -> (Value, Option<i64>) {
    let now = crate::kube::rfc3339(f.now, None).unwrap_or_default();
    let before = |kind: &str| crate::kube::items(prev, "/conditions").find(|c| c["type"] == kind).cloned();
    let counts = |v: &Value| [&v["replicas"], &v["updatedReplicas"], &v["readyReplicas"], &v["availableReplicas"]].map(|x| x.as_i64().unwrap_or(0));
    let mut conds = Vec::new();
    let available = c.available >= f.min_available;
    let old_available = before("Available");
    conds.push(match (&old_available, available) {
        (Some(b), true) if b["status"] == "True" => b.clone(),
        (Some(b), false) if b["status"] == "False" => b.clone(),
        (_, true) => condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into(), &now, old_available.as_ref()),
        (_, false) => {
            condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into(), &now, old_available.as_ref())
        }
    });
    let complete = c.updated == f.replicas && c.replicas == f.replicas && c.available >= f.replicas;
    // Progress is what Kubernetes counts: more updated, ready or available pods, fewer old ones.
    let [p_replicas, p_updated, p_ready, p_available] = counts(prev);
    let progressed = f.created || c.updated > p_updated || c.replicas - c.updated < p_replicas - p_updated || c.ready > p_ready || c.available > p_available;
    let old = before("Progressing");
    // A rollout that finished is not watched for progress again until a new one starts.
    let was_complete = c.replicas == c.updated && old.as_ref().is_some_and(|b| b["reason"] == "NewReplicaSetAvailable");
    let rs = f.new_rs;
    let mut again = None;
    let progressing = if f.paused {
        condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused".into(), &now, old.as_ref())
    } else if was_complete && !f.created {
        old.clone().unwrap_or(Value::Null)
    } else if complete {
        match &old {
            Some(b) if b["reason"] == "NewReplicaSetAvailable" => b.clone(),
            _ => condition("Progressing", "True", "NewReplicaSetAvailable", format!("ReplicaSet \"{rs}\" has successfully progressed."), &now, old.as_ref()),
        }
    } else if progressed || old.as_ref().is_none_or(|b| b["reason"] == "DeploymentPaused" || b["reason"] == "NewReplicaSetAvailable") {
        let (reason, msg) = if f.created {
            ("NewReplicaSetCreated", format!("Created new replica set \"{rs}\""))
        } else {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{rs}\" is progressing."))
        };
        again = f.deadline_s;
        condition("Progressing", "True", reason, msg, &now, old.as_ref())
    } else {
        let b = old.clone().unwrap_or(Value::Null);
        let since = b["lastUpdateTime"].as_str().and_then(crate::kube::parse_rfc3339).unwrap_or(f.now);
        match f.deadline_s {
            Some(d) if b["status"] == "True" && f.now - since >= d => {
                condition("Progressing", "False", "ProgressDeadlineExceeded", format!("ReplicaSet \"{rs}\" has timed out progressing."), &now, old.as_ref())
            }
            Some(d) if b["status"] == "True" => {
                again = Some(d - (f.now - since));
                b
            }
            _ => b,
        }
    };
    conds.push(progressing);
    let mut st = json!({"observedGeneration": generation, "replicas": c.replicas, "updatedReplicas": c.updated, "readyReplicas": c.ready,
        "availableReplicas": c.available, "unavailableReplicas": (c.wanted - c.available).max(0), "conditions": conds});
    // Kubernetes leaves zero counts out.
    if let Some(o) = st.as_object_mut() {
        o.retain(|_, v| v.as_i64() != Some(0));
    }
    (st, again)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(now: i64) -> Facts<'static> {
        Facts { replicas: 2, min_available: 1, paused: false, new_rs: "web-abc", created: false, deadline_s: Some(600), now }
    }

    #[test]
    fn a_finished_rollout_is_available_and_complete() {
        let c = Counts { replicas: 2, updated: 2, ready: 2, available: 2, wanted: 2 };
        let (st, again) = status(&json!({}), &json!(3), c, &facts(1_000));
        assert_eq!(st["observedGeneration"], 3);
        assert_eq!(st["conditions"][0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(st["conditions"][1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(again, None);
        // Nothing changes on the next reconcile, so nothing is written.
        assert_eq!(status(&st, &json!(3), c, &facts(2_000)).0, st);
        // A pod of a finished rollout going away is no new rollout: no deadline.
        let fewer = Counts { available: 1, ready: 1, ..c };
        let (later, again) = status(&st, &json!(3), fewer, &facts(3_000));
        assert_eq!((later["conditions"][1].clone(), again), (st["conditions"][1].clone(), None));
    }

    #[test]
    fn a_rollout_that_stops_progressing_times_out() {
        let c = Counts { replicas: 3, updated: 1, ready: 2, available: 2, wanted: 3 };
        let (st, again) = status(&json!({}), &json!(2), c, &facts(1_000));
        assert_eq!((st["conditions"][1]["reason"].as_str(), again), (Some("ReplicaSetUpdated"), Some(600)));
        let (st2, again) = status(&st, &json!(2), c, &facts(1_100));
        assert_eq!((st2.clone(), again), (st.clone(), Some(500)));
        let (st3, _) = status(&st2, &json!(2), c, &facts(1_600));
        assert_eq!(st3["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        assert_eq!(st3["conditions"][1]["status"], "False");
    }
}
