//! A pod's status as Kubernetes shows it, from what sync.rs found: phase,
//! conditions, podIP, startTime and containerStatuses (state running /
//! waiting / terminated, lastState, restartCount, ready).
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
    let mut v = json!({"name": c.name, "image": c.image, "imageID": "", "ready": c.running, "started": c.running, "restartCount": c.restarts, "state": state,
        "lastState": last.unwrap_or_else(|| json!({}))});
    if !c.id.is_empty() {
        v["containerID"] = json!(format!("containerd://{}", c.id));
    }
    v
}

/// The status; `start` is when Edged first ran the pod (RFC 3339).
pub fn pod_status(pod: &Pod, f: &PodFacts, start: &str, host_ip: &str) -> Value {
    let cs: Vec<Value> = f.containers.iter().map(container_status).collect();
    let all_running = !f.containers.is_empty() && f.containers.iter().all(|c| c.running);
    let all_done = !f.containers.is_empty() && f.containers.iter().all(|c| c.done);
    let ever_started = f.containers.iter().any(|c| c.running || c.terminated.is_some());
    let phase = if f.problem.is_some() {
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
    let mut ready = json!({"type": "Ready", "status": tf(all_running)});
    let mut cready = json!({"type": "ContainersReady", "status": tf(all_running)});
    if !all_running {
        let why = f.containers.iter().filter(|c| !c.running).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        for c in [&mut ready, &mut cready] {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!("containers with unready status: [{why}]"));
        }
    }
    let mut conditions = vec![json!({"type": "PodScheduled", "status": "True"}), json!({"type": "Initialized", "status": "True"}), cready, ready];
    if let Some((reason, message)) = &f.problem {
        conditions.push(json!({"type": "PodReadyToStartContainers", "status": "False", "reason": reason, "message": message}));
    }
    let pod_ip = if pod.host_network || f.ip.is_empty() { host_ip } else { f.ip.as_str() };
    let mut st = json!({"phase": phase, "conditions": conditions, "containerStatuses": cs, "startTime": start, "hostIP": host_ip});
    if !pod_ip.is_empty() {
        st["podIP"] = json!(pod_ip);
        st["podIPs"] = json!([{ "ip": pod_ip }]);
    }
    if let Some((reason, message)) = &f.problem {
        st["reason"] = json!(reason);
        st["message"] = json!(message);
    }
    st
}
