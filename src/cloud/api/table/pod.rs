//! A pod's READY, STATUS and RESTARTS as `kubectl get pods` shows them:
//! STATUS is the reason users know (ContainerCreating, CrashLoopBackOff,
//! ErrImagePull, Completed, Init:0/1, Terminating, …), not only the phase.
//!
//! Owns: those rules, as Kubernetes' pod printer applies them. Must not do
//! I/O.

use serde_json::Value;

use super::columns::human_duration;

pub struct Summary {
    pub ready: usize,
    pub total: usize,
    pub reason: String,
    /// `3`, or `3 (2m ago)` once a container has restarted.
    pub restarts: String,
    pub gates_true: usize,
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn statuses<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.pointer(&format!("/status/{field}")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Why a terminated container ended, in the printer's words: its reason, else `Signal:N` or `ExitCode:N`.
fn ended(t: &Value) -> String {
    let reason = str_at(t, "/reason");
    if !reason.is_empty() {
        return reason.to_string();
    }
    match t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
        Some(sig) => format!("Signal:{sig}"),
        None => format!("ExitCode:{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)),
    }
}

/// Add a container's restarts, and keep the latest time one of them ended.
fn note_restart(c: &Value, restarts: &mut u64, last: &mut Option<i64>) {
    *restarts += c.get("restartCount").and_then(Value::as_u64).unwrap_or(0);
    if let Some(t) = c.pointer("/lastState/terminated/finishedAt").and_then(Value::as_str).and_then(crate::kube::parse_rfc3339) {
        *last = Some(last.map_or(t, |l| l.max(t)));
    }
}

pub fn summary(v: &Value, now: i64) -> Summary {
    let total = v.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    let mut reason = str_at(v, "/status/phase").to_string();
    let own_reason = str_at(v, "/status/reason");
    if !own_reason.is_empty() {
        reason = own_reason.to_string();
    }
    if reason.is_empty() {
        reason = "Pending".into();
    }
    let (mut restarts, mut last_restart, mut ready) = (0u64, None::<i64>, 0usize);
    let inits = statuses(v, "initContainerStatuses");
    let init_total = v.pointer("/spec/initContainers").and_then(Value::as_array).map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        note_restart(c, &mut restarts, &mut last_restart);
        if let Some(t) = c.pointer("/state/terminated") {
            if t.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            reason = format!("Init:{}", ended(t));
        } else {
            let waiting = str_at(c, "/state/waiting/reason");
            reason = if !waiting.is_empty() && waiting != "PodInitializing" { format!("Init:{waiting}") } else { format!("Init:{i}/{init_total}") };
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        last_restart = None;
        let mut running = false;
        for c in statuses(v, "containerStatuses").iter().rev() {
            note_restart(c, &mut restarts, &mut last_restart);
            let waiting = str_at(c, "/state/waiting/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = c.pointer("/state/terminated") {
                reason = ended(t);
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            let pod_ready = crate::kube::items(v, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    if v.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        reason = if own_reason == "NodeLost" { "Unknown" } else { "Terminating" }.into();
    }
    let restarts = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    let gates: Vec<&str> = crate::kube::items(v, "/spec/readinessGates").filter_map(|g| g["conditionType"].as_str()).collect();
    let gates_true = gates.iter().filter(|g| crate::kube::items(v, "/status/conditions").any(|c| c["type"] == **g && c["status"] == "True")).count();
    Summary { ready, total, reason, restarts, gates_true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": status})
    }

    #[test]
    fn status_column_says_what_users_expect() {
        let created = summary(&json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}}), 0);
        assert_eq!((created.reason.as_str(), created.ready, created.total, created.restarts.as_str()), ("Pending", 0, 1, "0"));
        let creating = pod(json!({"phase": "Pending", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}},
            {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}]}));
        let s = summary(&creating, 0);
        assert_eq!((s.reason.as_str(), s.ready), ("ContainerCreating", 1));
        let crash = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:00:00Z"}}},
            {"name": "b", "ready": true, "restartCount": 1, "state": {"running": {}}}]}));
        let s = summary(&crash, 1_767_225_600 + 150);
        assert_eq!((s.reason.as_str(), s.restarts.as_str()), ("CrashLoopBackOff", "5 (2m30s ago)"));
        let done = pod(json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137}}}]}));
        assert_eq!(summary(&done, 0).reason, "Completed", "the first container's reason wins (read last)");
        let killed = pod(json!({"containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}));
        assert_eq!(summary(&killed, 0).reason, "Signal:9");
        let init = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {"reason": "ErrImagePull"}}}]}});
        assert_eq!(summary(&init, 0).reason, "Init:ErrImagePull");
        let mut deleting = creating.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(summary(&deleting, 0).reason, "Terminating");
        let evicted = pod(json!({"phase": "Failed", "reason": "Evicted"}));
        assert_eq!(summary(&evicted, 0).reason, "Evicted");
    }
}
