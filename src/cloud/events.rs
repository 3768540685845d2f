//! Kubernetes Events, as `kubectl describe` and `kubectl get events` show
//! them: the cloud's controllers record what happened to an object (a node
//! registered, became Ready or NotReady; a pod's containers were pulled,
//! started, crash-looped, failed to pull), a repeat of the same event
//! raises its `count` and `lastTimestamp` instead of adding one, and events
//! expire (`TTL`, 1 h as in Kubernetes) so they cannot grow without bound.
//!
//! Pod events are derived here from the status reports edges already send
//! (a container newly running is Pulled/Created/Started, a waiting reason
//! such as CrashLoopBackOff is BackOff): nothing more crosses the tunnel.
//!
//! Owns: the `events/` keys of the store. Must not change the objects the
//! events are about; a failed event write is logged, never an error for
//! the caller.

use serde_json::{json, Value};

use super::store::{Store, StoreError};
use crate::kube::{parse_rfc3339, rfc3339_now};

/// How long an event is kept after it last happened.
pub const TTL_S: i64 = 3600;

/// Most events kept at once; the expiry sweep deletes the oldest beyond it.
pub const MAX_EVENTS: usize = 10_000;

/// What an event is about: kind, namespace ("" for nodes), name, uid.
pub struct About<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub field_path: &'a str,
}

impl<'a> About<'a> {
    /// A node: Kubernetes' node events carry the node's name as uid (kubectl describe node searches so).
    pub fn node(name: &'a str) -> About<'a> {
        About { kind: "Node", namespace: "", name, uid: name, field_path: "" }
    }
    pub fn pod(v: &'a Value, field_path: &'a str) -> About<'a> {
        About { field_path, ..About::object("Pod", v) }
    }
    /// Any namespaced object of `kind` (a ReplicaSet, a Deployment, …).
    pub fn object(kind: &'a str, v: &'a Value) -> About<'a> {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
        About { kind, namespace: s("/metadata/namespace"), name: s("/metadata/name"), uid: s("/metadata/uid"), field_path: "" }
    }
}

/// How many of a burst of similar events (one object, one reason) are
/// recorded one by one; the rest raise the count of one "(combined from
/// similar events)" event, as Kubernetes' event aggregator does — so a
/// ReplicaSet creating 1,000 pods writes 11 events, not 1,000.
pub const BURST_SINGLE: usize = 10;

/// Record `messages`, a burst of events of one object and reason (see
/// `BURST_SINGLE`).
pub fn record_burst(store: &dyn Store, about: &About, warning: bool, reason: &str, messages: &[String], component: &str) {
    for m in messages.iter().take(BURST_SINGLE) {
        record(store, about, warning, reason, m, component);
    }
    if let Some(last) = messages.get(BURST_SINGLE..).and_then(<[String]>::last) {
        let n = (messages.len() - BURST_SINGLE) as u64;
        let combined = format!("(combined from similar events): {last}");
        if let Err(e) = try_record_n(store, about, warning, reason, &combined, component, n, Some("combined")) {
            log::warn!(target: "events", "event {reason} for {} {} not recorded: {e}", about.kind, about.name);
        }
    }
}

/// The apiVersion of an involved object's kind.
fn api_version(kind: &str) -> &'static str {
    match kind {
        "Deployment" | "ReplicaSet" | "DaemonSet" => "apps/v1",
        "Device" | "DeviceModel" => "devices.kubeedge.io/v1beta1",
        _ => "v1",
    }
}

/// FNV-1a of the parts, each ended by a NUL, for stable event names (the
/// same event aggregates into one object).
fn fnv(parts: &[&str]) -> u64 {
    crate::kube::fnv64(parts.iter().flat_map(|p| [p.as_bytes(), &[0u8][..]]))
}

/// Record `reason` (type Normal or Warning) about `about`, from `component`.
pub fn record(store: &dyn Store, about: &About, warning: bool, reason: &str, message: &str, component: &str) {
    if let Err(e) = try_record(store, about, warning, reason, message, component) {
        log::warn!(target: "events", "event {reason} for {} {} not recorded: {e}", about.kind, about.name);
    }
}

fn try_record(store: &dyn Store, about: &About, warning: bool, reason: &str, message: &str, component: &str) -> Result<(), StoreError> {
    try_record_n(store, about, warning, reason, message, component, 1, None)
}

/// Record `n` occurrences; `group` names the event by it instead of by the
/// message (the combined event of a burst keeps one name as its message changes).
#[allow(clippy::too_many_arguments)]
fn try_record_n(
    store: &dyn Store,
    about: &About,
    warning: bool,
    reason: &str,
    message: &str,
    component: &str,
    n: u64,
    group: Option<&str>,
) -> Result<(), StoreError> {
    // Events of cluster-scoped objects live in `default`, as in Kubernetes.
    let ns = if about.namespace.is_empty() { "default" } else { about.namespace };
    let name = format!("{}.{:016x}", about.name, fnv(&[about.kind, about.uid, about.field_path, reason, group.unwrap_or(message)]));
    let key = format!("events/{ns}/{name}");
    let now = rfc3339_now();
    for _ in 0..3 {
        match store.get(&key)? {
            Some(cur) => {
                let mut v: Value = serde_json::from_slice(&cur.value).unwrap_or(Value::Null);
                let count = v["count"].as_u64().unwrap_or(1).saturating_add(n);
                v["count"] = json!(count);
                v["lastTimestamp"] = json!(now);
                v["message"] = json!(message);
                match store.update(&key, &serde_json::to_vec(&v).unwrap_or_default(), Some(cur.rev)) {
                    Err(StoreError::Conflict { .. }) => continue,
                    r => return r.map(|_| ()),
                }
            }
            None => {
                let mut involved = json!({"kind": about.kind, "name": about.name, "uid": about.uid, "apiVersion": api_version(about.kind)});
                if !about.namespace.is_empty() {
                    involved["namespace"] = json!(about.namespace);
                }
                if !about.field_path.is_empty() {
                    involved["fieldPath"] = json!(about.field_path);
                }
                let v = json!({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": name, "namespace": ns, "uid": crate::kube::new_uid(), "creationTimestamp": now},
                    "involvedObject": involved, "reason": reason, "message": message, "type": if warning { "Warning" } else { "Normal" },
                    "source": {"component": component}, "reportingComponent": component, "reportingInstance": "",
                    "firstTimestamp": now, "lastTimestamp": now, "count": n, "eventTime": null});
                match store.create(&key, &serde_json::to_vec(&v).unwrap_or_default()) {
                    Err(StoreError::AlreadyExists(_)) => continue,
                    r => return r.map(|_| ()),
                }
            }
        }
    }
    Ok(())
}

/// When an event last happened (Unix seconds).
fn last_time(v: &Value) -> i64 {
    ["/lastTimestamp", "/eventTime", "/metadata/creationTimestamp"]
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str).and_then(parse_rfc3339))
        .unwrap_or(0)
}

/// Delete events that last happened more than `TTL_S` before `now` (Unix
/// seconds), and the oldest beyond `MAX_EVENTS`; returns how many went.
pub fn expire(store: &dyn Store, now: i64) -> Result<usize, StoreError> {
    let mut all: Vec<(i64, String, u64)> =
        store.list("events/")?.0.into_iter().map(|s| (last_time(&serde_json::from_slice(&s.value).unwrap_or(Value::Null)), s.key, s.rev)).collect();
    all.sort();
    let over = all.len().saturating_sub(MAX_EVENTS);
    let mut n = 0;
    for (i, (last, key, rev)) in all.into_iter().enumerate() {
        if i >= over && now - last <= TTL_S {
            break;
        }
        match store.delete(&key, Some(rev)) {
            Ok(_) => n += 1,
            Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Events for what changed between two statuses of a pod (None: the first report).
pub fn pod_changes(store: &dyn Store, pod: &Value, before: Option<&Value>, after: &Value) {
    let old = |name: &str| -> Option<&Value> { before?.get("containerStatuses")?.as_array()?.iter().find(|c| c["name"] == name) };
    for c in crate::kube::items(after, "/containerStatuses") {
        let name = c["name"].as_str().unwrap_or("");
        let path = format!("spec.containers{{{name}}}");
        let about = About::pod(pod, &path);
        let was = old(name);
        let running = c.pointer("/state/running").is_some();
        let was_running = was.is_some_and(|w| w.pointer("/state/running").is_some());
        let restarts = c["restartCount"].as_u64().unwrap_or(0);
        let restarted = was.is_some_and(|w| w["restartCount"].as_u64().unwrap_or(0) < restarts);
        if running && (!was_running || restarted) {
            let image = c["image"].as_str().unwrap_or("");
            if restarts == 0 {
                record(store, &about, false, "Pulled", &format!("Container image \"{image}\" is present on the node"), "edged");
            }
            record(store, &about, false, "Created", &format!("Created container {name}"), "edged");
            record(store, &about, false, "Started", &format!("Started container {name}"), "edged");
        }
        let waiting = c.pointer("/state/waiting/reason").and_then(Value::as_str).unwrap_or("");
        let was_waiting = was.and_then(|w| w.pointer("/state/waiting/reason")).and_then(Value::as_str).unwrap_or("");
        if waiting != was_waiting || restarted {
            let msg = c.pointer("/state/waiting/message").and_then(Value::as_str).unwrap_or("");
            match waiting {
                "CrashLoopBackOff" => record(store, &about, true, "BackOff", &format!("Back-off restarting failed container {name}"), "edged"),
                "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
                    record(store, &about, true, "Failed", &format!("{waiting}: {msg}"), "edged")
                }
                "CreateContainerError" | "CreateContainerConfigError" | "RunContainerError" => {
                    record(store, &about, true, "Failed", &format!("Error: {msg}"), "edged")
                }
                "PostStartHookError" => record(store, &about, true, "FailedPostStartHook", msg, "edged"),
                _ => {}
            }
        }
    }
}

/// Events an edge saw about a pod (Edged's `hiveEvents`: probe failures,
/// kills): only reasons a kubelet records, about containers of the pod, at
/// most 16 a report, messages clipped; anything else is dropped (logged).
pub fn edge_reported(store: &dyn Store, pod: &Value, events: &Value) {
    let names: Vec<&str> =
        ["/spec/containers", "/spec/initContainers"].iter().flat_map(|f| crate::kube::items(pod, f)).filter_map(|c| c["name"].as_str()).collect();
    for e in events.as_array().into_iter().flatten().take(16) {
        let (container, reason) = (e["container"].as_str().unwrap_or(""), e["reason"].as_str().unwrap_or(""));
        let warning = match reason {
            "Unhealthy" => true,
            "Killing" => false,
            _ => {
                log::warn!(target: "events", "an edge reported an event `{}` kubelets do not record; dropped", crate::logging::clip(reason, 64));
                continue;
            }
        };
        if !names.contains(&container) {
            log::warn!(target: "events", "an edge reported an event about container `{}`, not in the pod; dropped", crate::logging::clip(container, 64));
            continue;
        }
        let message = crate::logging::clip(e["message"].as_str().unwrap_or(""), 1024).to_string();
        let n = e["count"].as_u64().unwrap_or(1).clamp(1, 1_000_000);
        let path = format!("spec.containers{{{container}}}");
        // One Event per (pod, container, reason), carrying the latest message:
        // messages vary (exec output), and must not flood the store.
        if let Err(err) = try_record_n(store, &About::pod(pod, &path), warning, reason, &message, "edged", n, Some("edge")) {
            log::warn!(target: "events", "event {reason} for pod {} not recorded: {err}", about_name(pod));
        }
    }
}

fn about_name(pod: &Value) -> &str {
    pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;

    fn store() -> SledStore {
        let db = sled::Config::new().temporary(true).open().unwrap();
        SledStore::open(&db, 100).unwrap()
    }

    fn events(s: &SledStore) -> Vec<Value> {
        s.list("events/").unwrap().0.iter().map(|e| serde_json::from_slice(&e.value).unwrap()).collect()
    }

    #[test]
    fn repeats_aggregate_and_old_events_expire() {
        let s = store();
        for _ in 0..3 {
            record(&s, &About::node("edge-1"), true, "NodeNotReady", "Node edge-1 status is now: NodeNotReady", "node-controller");
        }
        record(&s, &About::node("edge-1"), false, "NodeReady", "Node edge-1 status is now: NodeReady", "hive-edge");
        let evs = events(&s);
        assert_eq!(evs.len(), 2, "{evs:?}");
        let nr = evs.iter().find(|e| e["reason"] == "NodeNotReady").unwrap();
        assert_eq!((nr["count"].as_u64(), nr["type"].as_str()), (Some(3), Some("Warning")));
        assert_eq!(nr["involvedObject"], json!({"kind": "Node", "name": "edge-1", "uid": "edge-1", "apiVersion": "v1"}));
        assert_eq!(nr["metadata"]["namespace"], "default");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert_eq!(expire(&s, now).unwrap(), 0, "fresh events stay");
        assert_eq!(expire(&s, now + TTL_S + 5).unwrap(), 2);
        assert!(events(&s).is_empty());
    }

    #[test]
    fn pod_events_follow_container_states() {
        let s = store();
        let pod = json!({"metadata": {"name": "web", "namespace": "demo", "uid": "u-1"}});
        let running = json!({"containerStatuses": [{"name": "c", "image": "busybox", "restartCount": 0, "state": {"running": {}}}]});
        let creating =
            json!({"containerStatuses": [{"name": "c", "image": "busybox", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]});
        pod_changes(&s, &pod, None, &creating);
        assert!(events(&s).is_empty(), "nothing happened yet");
        pod_changes(&s, &pod, Some(&creating), &running);
        pod_changes(&s, &pod, Some(&running), &running);
        let reasons: Vec<String> = events(&s).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        for r in ["Pulled", "Created", "Started"] {
            assert!(reasons.iter().any(|x| x == r), "{reasons:?}");
        }
        let crash = json!({"containerStatuses": [{"name": "c", "image": "busybox", "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        pod_changes(&s, &pod, Some(&running), &crash);
        let back = events(&s).into_iter().find(|e| e["reason"] == "BackOff").expect("a BackOff event");
        assert_eq!(back["type"], "Warning");
        assert_eq!(back["involvedObject"]["fieldPath"], "spec.containers{c}");
        assert_eq!(back["metadata"]["namespace"], "demo");
    }

    #[test]
    fn events_an_edge_carries_are_recorded_counted_and_checked() {
        let s = store();
        let pod = json!({"metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": {"containers": [{"name": "main"}]}});
        let carried = json!([
            {"container": "main", "reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 404", "count": 3},
            {"container": "main", "reason": "Killing", "message": "Container main failed liveness probe, will be restarted"},
            {"container": "main", "reason": "Pwned", "message": "x"},
            {"container": "other", "reason": "Unhealthy", "message": "x"}
        ]);
        edge_reported(&s, &pod, &carried);
        edge_reported(
            &s,
            &pod,
            &json!([{"container": "main", "reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 404"}]),
        );
        let evs = events(&s);
        assert_eq!(evs.len(), 2, "{evs:?}");
        let un = evs.iter().find(|e| e["reason"] == "Unhealthy").unwrap();
        assert_eq!(
            (un["count"].as_u64(), un["type"].as_str(), un["involvedObject"]["fieldPath"].as_str()),
            (Some(4), Some("Warning"), Some("spec.containers{main}"))
        );
        assert_eq!(evs.iter().find(|e| e["reason"] == "Killing").unwrap()["type"], "Normal");
    }
}
