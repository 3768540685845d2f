//! A pod's status as Kubernetes shows it, from what sync.rs found: phase,
//! conditions, podIP, startTime and containerStatuses (state running /
//! waiting / terminated, lastState, restartCount, ready and started as the
//! probes say; the pod is Ready when every container is), and
//! initContainerStatuses with the Initialized condition (Pending until every
//! init container completed; Failed when one failed for good).
//!
//! Owns: that mapping. Must not do I/O.

use serde_json::{json, Value};

use super::spec::Pod;
use super::sync::{ContainerFacts, PodFacts};

pub fn rfc3339_ns(ns: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) {
        Ok(t) if ns > 0 => format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second()),
        _ => String::new(),
    }
}

fn terminated(t: &(i32, String, i64, i64)) -> Value {
    json!({"terminated": {"exitCode": t.0, "reason": t.1, "startedAt": rfc3339_ns(t.2), "finishedAt": rfc3339_ns(t.3)}})
}

fn container_status(c: &ContainerFacts) -> Value {
    let (state, last) = if c.running {
        (json!({"running": {"startedAt": rfc3339_ns(c.started_at)}}), c.terminated.as_ref().map(terminated))
    } else if let Some((reason, message)) = &c.waiting {
        (json!({"waiting": {"reason": reason, "message": message}}), c.terminated.as_ref().map(terminated))
    } else if let Some(t) = &c.terminated {
        (terminated(t), None)
    } else {
        (json!({"waiting": {"reason": "ContainerCreating"}}), None)
    };
    let mut v = json!({"name": c.name, "image": c.image, "imageID": "", "ready": c.running && c.ready, "started": c.running && c.started, "restartCount": c.restarts, "state": state,
        "lastState": last.unwrap_or_else(|| json!({}))});
    if !c.id.is_empty() {
        v["containerID"] = json!(format!("containerd://{}", c.id));
    }
    v
}

/// It ran to completion (exit code 0) and will not run again.
fn completed(c: &ContainerFacts) -> bool {
    !c.running && c.terminated.as_ref().is_some_and(|t| t.0 == 0)
}

/// The status; `start` is when Edged first ran the pod (RFC 3339).
pub fn pod_status(pod: &Pod, f: &PodFacts, start: &str, host_ip: &str) -> Value {
    let cs: Vec<Value> = f.containers.iter().map(container_status).collect();
    let all_running = !f.containers.is_empty() && f.containers.iter().all(|c| c.running);
    let all_done = !f.containers.is_empty() && f.containers.iter().all(|c| c.done);
    let ever_started = f.containers.iter().any(|c| c.running || c.terminated.is_some());
    // An init container that failed for good (restartPolicy Never) fails the pod.
    let init_failed = f.init_containers.iter().any(|c| c.done && c.terminated.as_ref().is_some_and(|t| t.0 != 0));
    let phase = if init_failed {
        "Failed"
    } else if f.problem.is_some() || !f.initialized {
        "Pending"
    } else if all_done {
        if f.containers.iter().all(|c| c.terminated.as_ref().is_some_and(|t| t.0 == 0)) {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if all_running || ever_started {
        "Running"
    } else {
        "Pending"
    };
    let tf = |b: bool| if b { "True" } else { "False" };
    let all_ready = all_running && f.containers.iter().all(|c| c.ready);
    let mut ready = json!({"type": "Ready", "status": tf(all_ready)});
    let mut cready = json!({"type": "ContainersReady", "status": tf(all_ready)});
    if !all_ready {
        let why = f.containers.iter().filter(|c| !(c.running && c.ready)).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        for c in [&mut ready, &mut cready] {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!("containers with unready status: [{why}]"));
        }
    }
    let mut initialized = json!({"type": "Initialized", "status": tf(f.initialized)});
    if !f.initialized {
        let why = f.init_containers.iter().filter(|c| !completed(c)).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        initialized["reason"] = json!("ContainersNotInitialized");
        initialized["message"] = json!(format!("containers with incomplete status: [{why}]"));
    }
    let mut conditions = vec![json!({"type": "PodScheduled", "status": "True"}), initialized, cready, ready];
    if let Some((reason, message)) = &f.problem {
        conditions.push(json!({"type": "PodReadyToStartContainers", "status": "False", "reason": reason, "message": message}));
    }
    let pod_ip = if pod.host_network || f.ip.is_empty() { host_ip } else { f.ip.as_str() };
    let mut st = json!({"phase": phase, "conditions": conditions, "containerStatuses": cs, "startTime": start, "hostIP": host_ip});
    if !pod_ip.is_empty() {
        st["podIP"] = json!(pod_ip);
        st["podIPs"] = json!([{ "ip": pod_ip }]);
    }
    if !f.init_containers.is_empty() {
        let ics: Vec<Value> = f
            .init_containers
            .iter()
            .map(|c| {
                let mut v = container_status(c);
                // A completed init container counts as ready (kubelet).
                v["ready"] = json!(completed(c));
                v
            })
            .collect();
        st["initContainerStatuses"] = json!(ics);
    }
    if let Some((reason, message)) = &f.problem {
        st["reason"] = json!(reason);
        st["message"] = json!(message);
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(name: &str, running: bool, terminated: Option<i32>, done: bool) -> ContainerFacts {
        let terminated = terminated.map(|code| (code, if code == 0 { "Completed" } else { "Error" }.to_string(), 1, 2));
        ContainerFacts { name: name.into(), running, terminated, done, ready: true, started: true, ..Default::default() }
    }

    #[test]
    fn init_containers_hold_the_pod_pending_until_they_complete_and_fail_it_for_good() {
        let pod = super::super::spec::parse(
            &json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}],
            "containers": [{"name": "c", "image": "i"}]}}),
        )
        .unwrap();
        let cond = |st: &Value, t: &str| st["conditions"].as_array().unwrap().iter().find(|c| c["type"] == t).cloned().unwrap();
        // a completed, b runs.
        let f = PodFacts {
            init_containers: vec![facts("a", false, Some(0), true), facts("b", true, None, false)],
            containers: vec![facts("c", false, None, false)],
            ..Default::default()
        };
        let st = pod_status(&pod, &f, "", "");
        assert_eq!(st["phase"], "Pending");
        assert_eq!(
            (cond(&st, "Initialized")["status"].as_str(), cond(&st, "Initialized")["message"].as_str()),
            (Some("False"), Some("containers with incomplete status: [b]"))
        );
        assert_eq!((st["initContainerStatuses"][0]["ready"].as_bool(), st["initContainerStatuses"][1]["ready"].as_bool()), (Some(true), Some(false)));
        // Both completed, the app runs.
        let f = PodFacts {
            initialized: true,
            init_containers: vec![facts("a", false, Some(0), true), facts("b", false, Some(0), true)],
            containers: vec![facts("c", true, None, false)],
            ..Default::default()
        };
        let st = pod_status(&pod, &f, "", "");
        assert_eq!(
            (st["phase"].as_str(), cond(&st, "Initialized")["status"].as_str(), cond(&st, "Ready")["status"].as_str()),
            (Some("Running"), Some("True"), Some("True"))
        );
        // b failed and will not run again (restartPolicy Never).
        let f = PodFacts {
            init_containers: vec![facts("a", false, Some(0), true), facts("b", false, Some(1), true)],
            containers: vec![facts("c", false, None, false)],
            ..Default::default()
        };
        assert_eq!(pod_status(&pod, &f, "", "")["phase"], "Failed");
        // No init containers: no initContainerStatuses at all.
        let plain = super::super::spec::parse(&json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).unwrap();
        let f = PodFacts { initialized: true, containers: vec![facts("c", true, None, false)], ..Default::default() };
        assert!(pod_status(&plain, &f, "", "").get("initContainerStatuses").is_none());
    }
}
