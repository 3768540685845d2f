//! Node lifecycle, as Kubernetes' node lifecycle controller does it for
//! kubelets: CloudHub tells (group `nodestatus`) when an edge connects or
//! goes silent; this keeps the Node's `Ready` condition and nodeInfo in
//! the store (registering the Node on first contact), and after
//! `pod_unknown_grace_s` of NotReady sets the node's running pods to phase
//! `Unknown` (reason `NodeLost`). After a cloud start, nodes the store
//! still shows Ready get `node_startup_grace_s` to connect.
//!
//! Owns: the cloud's view of node liveness in the store. Must not touch
//! specs nor anything an edge reports about itself (capacity, other
//! conditions) — it merges only the Ready condition and nodeInfo.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::place::pod_node;
use super::upstream::set_conditions;
use crate::cloud::events::{self, About};
use crate::cloud::status::{update_status, StatusError};
use crate::cloud::store::{Store, StoreError};
use crate::config::EdgeControllerConfig;
use crate::kube::{goarch, merge, new_uid, rfc3339_now};

const TARGET: &str = "edgecontroller";

pub struct Lifecycle {
    cfg: EdgeControllerConfig,
    /// NotReady nodes: since when, and whether their pods were marked.
    not_ready: HashMap<String, (Instant, bool)>,
    /// Nodes the store shows Ready at start, not heard of since: deadline.
    unconfirmed: HashMap<String, Instant>,
    /// When expired events were last swept.
    swept: Instant,
    /// Unreachable nodes: when their pods' tolerations are looked at next.
    evict_at: HashMap<String, Instant>,
}

fn ready_condition(ready: bool, old: Option<&Value>) -> Value {
    let status = if ready { "True" } else { "Unknown" };
    let now = rfc3339_now();
    let since = match old {
        Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => c.get("lastTransitionTime").cloned().unwrap_or(json!(now)),
        _ => json!(now),
    };
    let (reason, message) =
        if ready { ("EdgeConnected", "the hive edge is connected to the cloud") } else { ("NodeStatusUnknown", "the hive edge stopped talking to the cloud") };
    json!({"type": "Ready", "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": since})
}

impl Lifecycle {
    pub fn start(store: &dyn Store, cfg: EdgeControllerConfig) -> Result<Lifecycle, StoreError> {
        let mut unconfirmed = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(cfg.node_startup_grace_s);
        for s in store.list("nodes/")?.0 {
            let Ok(v) = serde_json::from_slice::<Value>(&s.value) else { continue };
            let ready = crate::kube::items(&v, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True");
            if let (true, Some(name)) = (ready, v.pointer("/metadata/name").and_then(Value::as_str)) {
                unconfirmed.insert(name.to_string(), deadline);
            }
        }
        Ok(Lifecycle { cfg, not_ready: HashMap::new(), unconfirmed, swept: Instant::now(), evict_at: HashMap::new() })
    }

    /// A `nodestatus` message from CloudHub: `{"node","ready","hiveVersion","arch"}`.
    pub fn on_node_status(&mut self, store: &dyn Store, body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            log::warn!(target: TARGET, "node status message is not JSON: dropped");
            return;
        };
        let (Some(node), Some(ready)) = (v["node"].as_str(), v["ready"].as_bool()) else {
            log::warn!(target: TARGET, "node status message without node/ready: dropped");
            return;
        };
        self.unconfirmed.remove(node);
        if ready {
            self.not_ready.remove(node);
        } else {
            self.not_ready.entry(node.to_string()).or_insert((Instant::now(), false));
        }
        let info = json!({"kubeletVersion": format!("hive-v{}", v["hiveVersion"].as_str().unwrap_or("")),
            "architecture": goarch(v["arch"].as_str().unwrap_or("")), "operatingSystem": "linux"});
        if let Err(e) = self.write_node(store, node, ready, Some(info)) {
            log::warn!(target: TARGET, "node {node}: status not written: {e}");
        }
    }

    fn write_node(&self, store: &dyn Store, node: &str, ready: bool, info: Option<Value>) -> Result<(), StatusError> {
        let key = format!("nodes/{node}");
        if store.get(&key)?.is_none() && ready {
            // First contact: register the node, as a kubelet does.
            let arch = info.as_ref().and_then(|i| i["architecture"].as_str()).unwrap_or("").to_string();
            let obj = json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "uid": new_uid(), "creationTimestamp": rfc3339_now(),
                    "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch, "node-role.kubernetes.io/edge": ""}},
                "spec": {}, "status": {}});
            match store.create(&key, &serde_json::to_vec(&obj).unwrap_or_default()) {
                Ok(_) => {
                    log::info!(target: TARGET, "node {node} registered");
                    let msg = format!("Node {node} event: Registered Node {node} in Controller");
                    events::record(store, &About::node(node), false, "RegisteredNode", &msg, "node-controller");
                }
                Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut was = None;
        update_status(store, &key, |_, st| {
            let old = crate::kube::items(st, "/conditions").find(|c| c["type"] == "Ready").cloned();
            was = old.as_ref().and_then(|c| c["status"].as_str()).map(String::from);
            set_conditions(st, vec![ready_condition(ready, old.as_ref())]);
            if let Some(i) = &info {
                merge(st, &json!({ "nodeInfo": i }));
            }
            crate::kube::complete_node_info(st);
            Ok(())
        })?;
        if was.as_deref() != Some(if ready { "True" } else { "Unknown" }) {
            let (reason, by) = if ready { ("NodeReady", "hive-edge") } else { ("NodeNotReady", "node-controller") };
            events::record(store, &About::node(node), !ready, reason, &format!("Node {node} status is now: {reason}"), by);
        }
        Ok(())
    }

    /// Once a second: start-up grace expiries, then pods of nodes NotReady too long.
    pub fn tick(&mut self, store: &dyn Store) {
        let now = Instant::now();
        if now.duration_since(self.swept) >= Duration::from_secs(60) {
            self.swept = now;
            match events::expire(store, time::OffsetDateTime::now_utc().unix_timestamp()) {
                Ok(0) => {}
                Ok(n) => log::info!(target: TARGET, "{n} expired events deleted"),
                Err(e) => log::warn!(target: TARGET, "expired events not deleted (will retry): {e}"),
            }
        }
        let expired: Vec<String> = self.unconfirmed.iter().filter(|(_, d)| **d <= now).map(|(n, _)| n.clone()).collect();
        for node in expired {
            self.unconfirmed.remove(&node);
            log::info!(target: TARGET, "node {node} has not connected since the cloud started: NotReady");
            if let Err(e) = self.write_node(store, &node, false, None) {
                log::warn!(target: TARGET, "node {node}: status not written: {e}");
            }
            self.not_ready.insert(node, (now, false));
        }
        // Pods that asked to leave an unreachable node (eviction.rs).
        self.evict_at.retain(|n, _| self.not_ready.contains_key(n));
        for (node, (since, _)) in &self.not_ready {
            let at = self.evict_at.entry(node.clone()).or_insert(now);
            if *at > now {
                continue;
            }
            let for_s = now.duration_since(*since).as_secs() as i64;
            let wait = match super::eviction::evict(store, node, for_s) {
                Ok(next) => next.unwrap_or(5).clamp(0, 5),
                Err(e) => {
                    log::warn!(target: TARGET, "node {node}: evictions not done (will retry): {e}");
                    5
                }
            };
            *at = now + Duration::from_secs(wait as u64);
        }
        let grace = Duration::from_secs(self.cfg.pod_unknown_grace_s);
        let due: Vec<String> = self.not_ready.iter().filter(|(_, (t, marked))| !marked && now.duration_since(*t) >= grace).map(|(n, _)| n.clone()).collect();
        for node in due {
            match mark_pods_unknown(store, &node, grace) {
                Ok(n) => {
                    log::info!(target: TARGET, "node {node} NotReady for {}s: {n} pods now Unknown", grace.as_secs());
                    if let Some(e) = self.not_ready.get_mut(&node) {
                        e.1 = true;
                    }
                }
                Err(e) => log::warn!(target: TARGET, "node {node}: pods not marked Unknown (will retry): {e}"),
            }
        }
    }
}

/// Phase Unknown for every not-finished pod bound to `node`; returns how many changed.
fn mark_pods_unknown(store: &dyn Store, node: &str, grace: Duration) -> Result<usize, StatusError> {
    let mut n = 0;
    for s in store.list("pods/")?.0 {
        let Ok(v) = serde_json::from_slice::<Value>(&s.value) else { continue };
        if pod_node(&v) != Some(node) {
            continue;
        }
        let w = update_status(store, &s.key, |_, st| {
            if matches!(st["phase"].as_str(), Some("Succeeded" | "Failed" | "Unknown")) {
                return Ok(());
            }
            merge(
                st,
                &json!({"phase": "Unknown", "reason": "NodeLost",
                "message": format!("node {node} has been NotReady for more than {}s", grace.as_secs())}),
            );
            set_conditions(st, vec![json!({"type": "Ready", "status": "False", "reason": "NodeLost", "lastTransitionTime": rfc3339_now()})]);
            Ok(())
        });
        match w {
            Ok(crate::cloud::status::Written::At(_)) => n += 1,
            Ok(_) | Err(StatusError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;

    fn get(s: &SledStore, key: &str) -> Value {
        serde_json::from_slice(&s.get(key).unwrap().unwrap().value).unwrap()
    }

    #[test]
    fn a_connecting_node_is_registered_and_its_pods_go_unknown_after_the_grace() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = SledStore::open(&db, 100).unwrap();
        s.create("pods/default/a", br#"{"metadata":{"name":"a"},"spec":{"nodeName":"e1"},"status":{"phase":"Running"}}"#).unwrap();
        s.create("pods/default/done", br#"{"metadata":{"name":"done"},"spec":{"nodeName":"e1"},"status":{"phase":"Succeeded"}}"#).unwrap();
        s.create("pods/default/b", br#"{"metadata":{"name":"b"},"spec":{"nodeName":"e2"},"status":{"phase":"Running"}}"#).unwrap();
        let mut l = Lifecycle::start(&s, EdgeControllerConfig { pod_unknown_grace_s: 0, node_startup_grace_s: 60 }).unwrap();
        l.on_node_status(&s, br#"{"node":"e1","ready":true,"hiveVersion":"0.1.0","arch":"aarch64"}"#);
        let n = get(&s, "nodes/e1");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/arch"], "arm64");
        assert_eq!(n["status"]["conditions"][0]["status"], "True");
        assert_eq!(n["status"]["nodeInfo"]["kubeletVersion"], "hive-v0.1.0");
        l.tick(&s);
        assert_eq!(get(&s, "pods/default/a")["status"]["phase"], "Running", "a Ready node's pods stay");
        l.on_node_status(&s, br#"{"node":"e1","ready":false,"hiveVersion":"0.1.0","arch":"aarch64"}"#);
        assert_eq!(get(&s, "nodes/e1")["status"]["conditions"][0]["status"], "Unknown");
        l.tick(&s);
        let a = get(&s, "pods/default/a");
        assert_eq!((a["status"]["phase"].as_str(), a["status"]["reason"].as_str()), (Some("Unknown"), Some("NodeLost")));
        assert_eq!(get(&s, "pods/default/done")["status"]["phase"], "Succeeded");
        assert_eq!(get(&s, "pods/default/b")["status"]["phase"], "Running", "other nodes' pods untouched");
        l.on_node_status(&s, b"garbage");
    }

    #[test]
    fn after_a_cloud_start_a_ready_node_that_never_connects_becomes_not_ready() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = SledStore::open(&db, 100).unwrap();
        s.create("nodes/e1", br#"{"metadata":{"name":"e1"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#).unwrap();
        s.create("nodes/e2", br#"{"metadata":{"name":"e2"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#).unwrap();
        let mut l = Lifecycle::start(&s, EdgeControllerConfig { pod_unknown_grace_s: 60, node_startup_grace_s: 0 }).unwrap();
        l.on_node_status(&s, br#"{"node":"e2","ready":true,"hiveVersion":"0.1.0","arch":"x86_64"}"#);
        l.tick(&s);
        assert_eq!(get(&s, "nodes/e1")["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(get(&s, "nodes/e2")["status"]["conditions"][0]["status"], "True");
    }
}
