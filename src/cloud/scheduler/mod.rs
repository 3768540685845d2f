//! The scheduler, as kube-scheduler does it for a cluster: a pod created
//! without `spec.nodeName` is bound to the node that fits it best (filters
//! in filter.rs; among those that fit, the least allocated, spreading one
//! owner's pods over nodes). A pod that fits nowhere is marked
//! `PodScheduled=False, reason Unschedulable` with the per-filter count
//! ("0/3 nodes are available: …") and a FailedScheduling event, and is
//! tried again only when a node or a pod changes — never in a busy loop.
//!
//! Owns: `spec.nodeName` of unbound pods and their PodScheduled
//! condition. Must not touch bound pods, nodes or anything else.

pub mod filter;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::cloud::events::{self, About};
use crate::cloud::nodeset::merge_watches;
use crate::cloud::store::{EventKind, Store, StoreError};
use crate::core::{Context, Module, ModuleError, ModuleFuture};
use filter::{fits, requests, summary, NodeInfo, Used};

pub const NAME: &str = "scheduler";

pub struct Scheduler {
    store: Arc<dyn Store + Send + Sync>,
}

impl Scheduler {
    pub fn new(store: Arc<dyn Store + Send + Sync>) -> Scheduler {
        Scheduler { store }
    }
}

/// What the scheduler knows of the cluster, kept from the store's watches:
/// nodes as the filters read them, and what is bound to each, both
/// updated per change (a pass costs O(nodes) per pending pod, nothing per
/// bound pod).
#[derive(Default)]
struct Cluster {
    nodes: BTreeMap<String, NodeInfo>,
    pods: HashMap<String, Value>,
    usage: Usage,
    /// Pods without a node, by store key, in creation order of their keys.
    pending: BTreeSet<String>,
    /// The Unschedulable message last written per pending pod.
    told: HashMap<String, String>,
    /// Where the next pod's search over the nodes starts.
    next_start: String,
}

fn node_of(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())
}

fn wants_node(pod: &Value) -> bool {
    let done = matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    node_of(pod).is_none() && !done && pod.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null)
}

fn owner(pod: &Value) -> Option<&str> {
    crate::kube::items(pod, "/metadata/ownerReferences").find_map(|o| o["uid"].as_str())
}

impl Cluster {
    fn apply(&mut self, kind: EventKind, key: &str, value: &[u8]) {
        let v: Value = serde_json::from_slice(value).unwrap_or(Value::Null);
        if let Some(name) = key.strip_prefix("nodes/") {
            match kind {
                EventKind::Deleted => self.nodes.remove(name),
                _ => self.nodes.insert(name.to_string(), NodeInfo { name: name.to_string(), ..NodeInfo::of(&v) }),
            };
            return;
        }
        if kind == EventKind::Deleted || !wants_node(&v) {
            self.pending.remove(key);
            self.told.remove(key);
        } else {
            self.pending.insert(key.to_string());
        }
        if kind != EventKind::Deleted {
            self.usage.count(&v, 1);
        }
        let old = match kind {
            EventKind::Deleted => self.pods.remove(key),
            _ => self.pods.insert(key.to_string(), v),
        };
        if let Some(old) = old {
            self.usage.count(&old, -1);
        }
    }

    /// The best node for `pod`, or the reasons each node refused it. As
    /// kube-scheduler does, a large cluster is not searched whole for
    /// every pod: the search starts where the last one stopped and ends
    /// once enough nodes fit (`feasible_to_find`); a pod that fits nowhere
    /// has seen every node.
    fn choose(&mut self, pod: &Value) -> Result<String, String> {
        let usage = &self.usage;
        let req = requests(pod);
        let none = Used::default();
        let mine = owner(pod).and_then(|o| usage.by_owner.get(o));
        let want = feasible_to_find(self.nodes.len());
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut best: Option<(i128, &str)> = None;
        let (mut feasible, mut seen) = (0, 0);
        let start = std::mem::take(&mut self.next_start);
        let order = self.nodes.range::<str, _>((std::ops::Bound::Included(start.as_str()), std::ops::Bound::Unbounded));
        let order = order.chain(self.nodes.range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(start.as_str()))));
        let mut next = None;
        for (name, node) in order {
            if feasible >= want {
                next = Some(name.clone());
                break;
            }
            seen += 1;
            let u = usage.nodes.get(name).unwrap_or(&none);
            if let Err(why) = fits(pod, &req, node, u) {
                *reasons.entry(why).or_default() += 1;
                continue;
            }
            feasible += 1;
            let free = |alloc: i128, used: i128, want: i128| if alloc <= 0 { 0 } else { (alloc - used - want).max(0) * 100 / alloc };
            let siblings = mine.and_then(|m| m.get(name)).copied().unwrap_or(0);
            // Least allocated first; one owner's pods spread; then fewer pods; then the first in search order.
            let score = (free(node.cpu, u.cpu, req.cpu) + free(node.memory, u.memory, req.memory)) / 2 - 50 * siblings - u.pods;
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, name));
            }
        }
        let chosen = best.map(|(_, n)| n.to_string()).ok_or_else(|| summary(seen, &reasons));
        self.next_start = next.unwrap_or(start);
        chosen
    }
}

/// How many fitting nodes to find before choosing among them, as
/// kube-scheduler's default (percentageOfNodesToScore adaptive: 50% less
/// 1% per 125 nodes, at least 5%, at least 100 nodes).
fn feasible_to_find(nodes: usize) -> usize {
    if nodes < 100 {
        return nodes;
    }
    let pct = 50usize.saturating_sub(nodes / 125).max(5);
    (nodes * pct / 100).max(100)
}

/// Requests bound per node, and pods per owner uid per node.
#[derive(Default)]
struct Usage {
    nodes: HashMap<String, Used>,
    by_owner: HashMap<String, HashMap<String, i128>>,
}

impl Usage {
    /// Add (`sign` 1) or take away (-1) what bound, unfinished pod `p` uses.
    fn count(&mut self, p: &Value, sign: i128) {
        let Some(n) = node_of(p) else { return };
        if matches!(p.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")) {
            return;
        }
        let r = requests(p);
        let u = self.nodes.entry(n.to_string()).or_default();
        u.cpu = u.cpu.saturating_add(sign * r.cpu);
        u.memory = u.memory.saturating_add(sign * r.memory);
        u.pods += sign;
        for port in r.ports {
            let c = u.ports.entry(port.clone()).or_default();
            *c = c.saturating_add_signed(sign as i32);
            if *c == 0 {
                u.ports.remove(&port);
            }
        }
        if u.pods <= 0 && u.ports.is_empty() {
            self.nodes.remove(n);
        }
        if let Some(o) = owner(p) {
            let per = self.by_owner.entry(o.to_string()).or_default();
            let c = per.entry(n.to_string()).or_default();
            *c += sign;
            if *c <= 0 {
                per.remove(n);
                if per.is_empty() {
                    self.by_owner.remove(o);
                }
            }
        }
    }
}

/// Write `node` into the pod's spec with PodScheduled=True, if it is still unbound.
fn bind(store: &dyn Store, key: &str, node: &str) -> Result<Option<Value>, StoreError> {
    let Some(cur) = store.get(key)? else { return Ok(None) };
    let mut v: Value = serde_json::from_slice(&cur.value).unwrap_or(Value::Null);
    if !wants_node(&v) {
        return Ok(None);
    }
    v["spec"]["nodeName"] = json!(node);
    set_scheduled(&mut v, json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": crate::kube::rfc3339_now()}));
    match store.update(key, &serde_json::to_vec(&v).unwrap_or_default(), Some(cur.rev)) {
        Ok(_) => Ok(Some(v)),
        Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn set_scheduled(v: &mut Value, cond: Value) {
    if !v["status"].is_object() {
        v["status"] = json!({"phase": "Pending"});
    }
    let mut conds: Vec<Value> = crate::kube::items(v, "/status/conditions").filter(|c| c["type"] != "PodScheduled").cloned().collect();
    conds.insert(0, cond);
    v["status"]["conditions"] = Value::Array(conds);
}

/// Mark a pod Unschedulable with `why`; false if it needs no mark any more (bound meanwhile).
fn refuse(store: &dyn Store, key: &str, why: &str) -> Result<bool, crate::cloud::status::StatusError> {
    let mut still = false;
    crate::cloud::status::update_status(store, key, |pod, st| {
        if !wants_node(pod) {
            return Ok(());
        }
        still = true;
        let mut holder = json!({"status": st.clone()});
        set_scheduled(
            &mut holder,
            json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why, "lastTransitionTime": crate::kube::rfc3339_now()}),
        );
        *st = holder["status"].take();
        Ok(())
    })
    .map(|_| still)
}

fn pass(store: &dyn Store, c: &mut Cluster) {
    if c.pending.is_empty() {
        return;
    }
    let keys: Vec<String> = c.pending.iter().cloned().collect();
    for key in keys {
        let Some(pod) = c.pods.get(&key).cloned() else { continue };
        let name = format!(
            "{}/{}",
            pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
            pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
        );
        match c.choose(&pod) {
            Ok(node) => match bind(store, &key, &node) {
                Ok(Some(v)) => {
                    log::info!(target: NAME, "pod {name} bound to {node}");
                    events::record(store, &About::pod(&v, ""), false, "Scheduled", &format!("Successfully assigned {name} to {node}"), "default-scheduler");
                    c.apply(EventKind::Modified, &key, &serde_json::to_vec(&v).unwrap_or_default());
                }
                Ok(None) => {}
                Err(e) => log::warn!(target: NAME, "pod {name}: not bound to {node} (will retry): {e}"),
            },
            Err(why) => {
                if c.told.get(&key) == Some(&why) {
                    continue;
                }
                log::info!(target: NAME, "pod {name} unschedulable: {why}");
                match refuse(store, &key, &why) {
                    Ok(false) => {}
                    Ok(true) => {
                        events::record(store, &About::pod(&pod, ""), true, "FailedScheduling", &why, "default-scheduler");
                        c.told.insert(key, why);
                    }
                    Err(e) => log::warn!(target: NAME, "pod {name}: Unschedulable not written: {e}"),
                }
            }
        }
    }
}

fn load(store: &dyn Store) -> Result<(Cluster, Vec<crate::cloud::store::Watch>), StoreError> {
    let mut c = Cluster::default();
    let (nodes, rev_n) = store.list("nodes/")?;
    let (pods, rev_p) = store.list("pods/")?;
    for s in nodes.iter().chain(pods.iter()) {
        c.apply(EventKind::Added, &s.key, &s.value);
    }
    Ok((c, vec![store.watch("nodes/", rev_n)?, store.watch("pods/", rev_p)?]))
}

impl Module for Scheduler {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = &*self.store;
            let ex = smol::LocalExecutor::new();
            let (mut cluster, watches) = load(store).map_err(ModuleError::new)?;
            let mut events = merge_watches(&ex, watches);
            ctx.ready();
            let main = async {
                use smol::future::FutureExt as _;
                loop {
                    pass(store, &mut cluster);
                    let first = async { Some(events.recv().await.ok().flatten()) }
                        .or(async {
                            ctx.shutdown.wait().await;
                            None
                        })
                        .await;
                    let Some(first) = first else { return Ok(()) };
                    // A batch: this change and whatever else is queued.
                    let mut item = first;
                    loop {
                        match item {
                            Some(ev) => cluster.apply(ev.kind, &ev.key, &ev.value),
                            None => {
                                log::warn!(target: NAME, "a store watch ended (fell behind); listing again");
                                let (c, w) = load(store).map_err(ModuleError::new)?;
                                cluster = c;
                                events = merge_watches(&ex, w);
                                break;
                            }
                        }
                        match events.try_recv() {
                            Ok(next) => item = next,
                            Err(_) => break,
                        }
                    }
                }
            };
            ex.run(main).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> (String, NodeInfo) {
        let v = json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}});
        (name.to_string(), NodeInfo::of(&v))
    }

    #[test]
    fn a_large_cluster_is_searched_in_turns_as_kube_scheduler_does() {
        assert_eq!([50, 100, 1000, 5000, 10_000].map(feasible_to_find), [50, 100, 420, 500, 500]);
        let mut c = Cluster { nodes: (0..1000).map(|i| node(&format!("n{i:04}"))).collect(), ..Cluster::default() };
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        // Every node is as free as the next: the first of each turn wins, and turns move on.
        let first = c.choose(&pod).unwrap();
        let second = c.choose(&pod).unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("n0000", "n0420"));
        assert_eq!(c.next_start, "n0840");
        // Nowhere to go: every node was looked at and counted.
        let picky = json!({"spec": {"containers": [{"name": "c"}], "nodeSelector": {"zone": "mars"}}});
        assert_eq!(c.choose(&picky), Err("0/1000 nodes are available: 1000 node(s) didn't match Pod's node affinity/selector.".to_string()));
    }
}
