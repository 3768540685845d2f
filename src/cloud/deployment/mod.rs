//! Deployment controller, as Kubernetes' does it: one ReplicaSet per pod
//! template (`<deployment>-<pod-template-hash>`, the hash also a label of
//! its selector and pods), numbered by the `deployment.kubernetes.io/revision`
//! annotation (a template that comes back — `kubectl rollout undo` — takes
//! the next revision), scaled by the strategy (rollout.rs), old ones kept
//! at 0 up to `revisionHistoryLimit`, nothing rolled while `paused`, and
//! the status and conditions `kubectl rollout status` reads (status.rs).
//!
//! Owns: ReplicaSets owned by Deployments (creating, scaling, pruning
//! them) and Deployment status and revision annotation. Must not touch
//! pods (the ReplicaSet controller does) or the Deployment spec; it reads
//! pods only through its ReplicaSets' status.

mod rollout;
mod status;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cloud::claim::claim;
use crate::cloud::controller::{self, controller_ref, gone, int_or_percent, str_at, Controller};
use crate::cloud::events::{self, About};
use crate::cloud::replicaset;
use crate::cloud::store::{Store, StoreError};
use rollout::Rs;

pub const NAME: &str = "deployment";

/// Store prefix of Deployments (apps/v1).
pub const PREFIX: &str = "apps/deployments/";

/// The label (and selector term) naming a ReplicaSet's template.
pub const HASH_LABEL: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// The module.
pub fn controller(store: Arc<dyn Store + Send + Sync>) -> Controller {
    Controller::new(NAME, store, &[PREFIX, replicaset::PREFIX], reconcile)
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations").and_then(|a| a.get(REVISION)).and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn num(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

/// The template as hashed: without the hash label (which the ReplicaSet's copy carries).
fn bare_template(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove(HASH_LABEL);
    }
    t
}

/// A new ReplicaSet for the Deployment's template.
fn new_replicaset(d: &Value, hash: &str, rev: i64, replicas: i64) -> (String, Value) {
    let ns = str_at(d, "/metadata/namespace");
    let name = format!("{}-{hash}", str_at(d, "/metadata/name"));
    let mut template = bare_template(d.pointer("/spec/template").unwrap_or(&Value::Null));
    if !template["metadata"].is_object() {
        template["metadata"] = json!({});
    }
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    if !selector["matchLabels"].is_object() {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let mut annotations = json!({REVISION: rev.to_string()});
    if let Some(cause) = d.pointer("/metadata/annotations").and_then(|a| a.get(CHANGE_CAUSE)) {
        annotations[CHANGE_CAUSE] = cause.clone();
    }
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": ns, "uid": crate::kube::new_uid(), "creationTimestamp": crate::kube::rfc3339_now(), "generation": 1,
            "labels": template["metadata"]["labels"].clone(), "annotations": annotations, "ownerReferences": [controller_ref("Deployment", d)]},
        "spec": {"replicas": replicas, "minReadySeconds": num(d, "/spec/minReadySeconds"), "selector": selector, "template": template}});
    (format!("{}{ns}/{name}", replicaset::PREFIX), rs)
}

pub fn reconcile(store: &dyn Store) -> Result<Option<Duration>, StoreError> {
    let deployments = controller::list(store, PREFIX)?;
    if deployments.is_empty() {
        return Ok(None);
    }
    let sets = controller::list(store, replicaset::PREFIX)?;
    let now = crate::kube::parse_rfc3339(&crate::kube::rfc3339_now()).unwrap_or(0);
    let mut again: Option<i64> = None;
    for (key, rev, d) in &deployments {
        // Its ReplicaSets, with orphans of its selector adopted (a Deployment
        // deleted with --cascade=orphan and made again takes its history back).
        let mut owned = claim(store, "Deployment", d, &sets)?;
        owned.sort_by_key(|(_, _, rs)| (revision(rs), str_at(rs, "/metadata/creationTimestamp").to_string()));
        let replicas = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0);
        let hash = controller::safe_encode(controller::hash(&bare_template(d.pointer("/spec/template").unwrap_or(&Value::Null))));
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false);
        let max_rev = owned.iter().map(|(_, _, rs)| revision(rs)).max().unwrap_or(0);
        let mut created = false;
        let mut new_idx = owned.iter().position(|(_, _, rs)| rs.pointer(&format!("/metadata/labels/{HASH_LABEL}")).and_then(Value::as_str) == Some(&hash));
        let strategy = str_at(d, "/spec/strategy/type");
        let recreate = strategy == "Recreate";
        let surge = int_or_percent(d.pointer("/spec/strategy/rollingUpdate/maxSurge").unwrap_or(&json!("25%")), replicas, true).unwrap_or(0).max(0);
        let unavailable =
            int_or_percent(d.pointer("/spec/strategy/rollingUpdate/maxUnavailable").unwrap_or(&json!("25%")), replicas, false).unwrap_or(0).max(0);
        if paused {
            // Nothing rolls; the newest ReplicaSet stands for the template.
            new_idx = new_idx.or(owned.len().checked_sub(1));
        } else if new_idx.is_none() {
            let first = if owned.is_empty() || (!recreate && owned.iter().all(|(_, _, rs)| num(rs, "/spec/replicas") == 0)) { replicas } else { 0 };
            let (k, rs) = new_replicaset(d, &hash, max_rev + 1, if recreate { 0 } else { first });
            match store.create(&k, &serde_json::to_vec(&rs).unwrap_or_default()) {
                Ok(r) => {
                    log::info!(target: NAME, "{key}: created ReplicaSet {k} (revision {})", max_rev + 1);
                    let n = num(&rs, "/spec/replicas");
                    if n > 0 {
                        let msg = format!("Scaled up replica set {} from 0 to {n}", str_at(&rs, "/metadata/name"));
                        events::record(store, &About::object("Deployment", d), false, "ScalingReplicaSet", &msg, "deployment-controller");
                    }
                    owned.push((k, r, rs));
                    new_idx = Some(owned.len() - 1);
                    created = true;
                }
                Err(StoreError::AlreadyExists(_)) => log::warn!(target: NAME, "{key}: ReplicaSet {k} exists and is not this Deployment's"),
                Err(e) => return Err(e),
            }
        }
        let Some(ni) = new_idx else { continue };
        // The plan, on numbers; then the ReplicaSets whose replicas change.
        // Pods a ReplicaSet still has, as its status says (its controller
        // counts them after every change of its pods).
        let view = |(_, _, rs): &(String, u64, Value)| Rs {
            spec: num(rs, "/spec/replicas"),
            available: num(rs, "/status/availableReplicas"),
            pods: num(rs, "/status/replicas"),
        };
        let mut new = view(&owned[ni]);
        let mut old: Vec<Rs> = owned.iter().enumerate().filter(|(i, _)| *i != ni).map(|(_, r)| view(r)).collect();
        if paused {
            if old.iter().all(|r| r.spec == 0) {
                new.spec = replicas;
            }
        } else if recreate {
            rollout::recreate(replicas, &mut new, &mut old);
        } else {
            rollout::rolling(replicas, surge, unavailable, &mut new, &mut old);
        }
        let mut plan = old;
        plan.insert(ni, new);
        for ((k, r, rs), p) in owned.iter_mut().zip(&plan) {
            let mut next = rs.clone();
            next["spec"]["replicas"] = json!(p.spec);
            next["spec"]["minReadySeconds"] = json!(num(d, "/spec/minReadySeconds"));
            if !next["metadata"]["annotations"].is_object() {
                next["metadata"]["annotations"] = json!({});
            }
            let a = &mut next["metadata"]["annotations"];
            a["deployment.kubernetes.io/desired-replicas"] = json!(replicas.to_string());
            a["deployment.kubernetes.io/max-replicas"] = json!((replicas + if recreate { 0 } else { surge }).to_string());
            if std::ptr::eq(p, &plan[ni]) && revision(rs) < max_rev && !paused {
                // A template that comes back (rollout undo) is the newest revision again.
                a[REVISION] = json!((max_rev + 1).to_string());
            }
            if next != *rs {
                match store.update(k, &serde_json::to_vec(&next).unwrap_or_default(), Some(*r)) {
                    Ok(nr) => {
                        let from = num(rs, "/spec/replicas");
                        if from != p.spec {
                            log::info!(target: NAME, "{key}: scaled {k} to {}", p.spec);
                            let way = if p.spec > from { "up" } else { "down" };
                            let msg = format!("Scaled {way} replica set {} from {from} to {}", str_at(rs, "/metadata/name"), p.spec);
                            events::record(store, &About::object("Deployment", d), false, "ScalingReplicaSet", &msg, "deployment-controller");
                        }
                        *r = nr;
                        *rs = next;
                    }
                    Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // History beyond revisionHistoryLimit: the oldest empty ReplicaSets go.
        let limit = d.pointer("/spec/revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10).max(0) as usize;
        let empty: Vec<usize> = (0..owned.len()).filter(|i| *i != ni && plan[*i].spec == 0 && plan[*i].pods == 0).collect();
        for i in empty.iter().take(empty.len().saturating_sub(limit)) {
            log::info!(target: NAME, "{key}: deleting old ReplicaSet {} (revisionHistoryLimit {limit})", owned[*i].0);
            gone(store.delete(&owned[*i].0, None))?;
        }
        // Status, and the Deployment's revision annotation.
        let sum = |p: &str| owned.iter().map(|(_, _, rs)| num(rs, p)).sum::<i64>();
        let counts = status::Counts {
            replicas: sum("/status/replicas"),
            updated: num(&owned[ni].2, "/status/replicas"),
            ready: sum("/status/readyReplicas"),
            available: sum("/status/availableReplicas"),
            wanted: plan.iter().map(|p| p.spec).sum(),
        };
        let effective_unavailable = if surge == 0 && unavailable == 0 { 1 } else { unavailable };
        let facts = status::Facts {
            replicas,
            min_available: replicas - if recreate { 0 } else { effective_unavailable.min(replicas) },
            paused,
            new_rs: str_at(&owned[ni].2, "/metadata/name"),
            created,
            deadline_s: d.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64).or(Some(600)),
            now,
        };
        let generation = d.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
        let (st, wait) = status::status(d.get("status").unwrap_or(&Value::Null), &generation, counts, &facts);
        if let Some(w) = wait {
            again = Some(again.map_or(w, |a| a.min(w)));
        }
        let mut next = d.clone();
        next["status"] = st;
        if !next["metadata"]["annotations"].is_object() {
            next["metadata"]["annotations"] = json!({});
        }
        next["metadata"]["annotations"][REVISION] = json!(revision(&owned[ni].2).to_string());
        controller::write_back(store, key, *rev, d, &next)?;
    }
    Ok(again.map(|s| Duration::from_secs(s.max(1) as u64)))
}
