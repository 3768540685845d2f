//! What the workload controllers (DaemonSet, ReplicaSet, Deployment, the
//! garbage collector) share: the loop that reconciles after every batch of
//! store changes (and at a time the last reconcile asked for, for what only
//! the clock changes: minReadySeconds, progress deadlines), and helpers for
//! the objects they own (controller references, readiness, template hashes,
//! pods made from a template).
//!
//! Owns: that loop (and `Controller`, the module that runs it) and those
//! helpers. Must not decide what any one controller does.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cloud::nodeset::merge_watches;
use crate::cloud::store::{Event, Store, StoreError, Stored, Watch};
use crate::core::{Context, Module, ModuleError, ModuleFuture};

/// A reconcile: one pass over the store; `Some(d)` to run again after `d`.
pub type Reconcile = fn(&dyn Store) -> Result<Option<Duration>, StoreError>;

/// A workload controller as a cloud module: its name (also its group), the
/// store prefixes it watches, which of their changes matter, its reconcile.
pub struct Controller {
    pub name: &'static str,
    pub store: Arc<dyn Store + Send + Sync>,
    pub prefixes: &'static [&'static str],
    pub relevant: fn(&Event) -> bool,
    pub reconcile: Reconcile,
}

impl Controller {
    /// A controller that reconciles after any change under `prefixes`.
    pub fn new(name: &'static str, store: Arc<dyn Store + Send + Sync>, prefixes: &'static [&'static str], reconcile: Reconcile) -> Controller {
        Controller { name, store, prefixes, relevant: |_| true, reconcile }
    }
}

impl Module for Controller {
    fn name(&self) -> &'static str {
        self.name
    }
    fn group(&self) -> &'static str {
        self.name
    }
    fn run(self: Box<Self>, ctx: Context) -> ModuleFuture {
        Box::pin(async move { run(ctx, &*self.store, self.name, self.prefixes, self.relevant, self.reconcile).await })
    }
}

/// Reconcile with `reconcile` once at start and after each batch of changes
/// under `prefixes` that `relevant` keeps, until shutdown. A reconcile that
/// fails is logged and retried on the next change; one that returns
/// `Some(d)` runs again after `d` even if nothing changes.
pub async fn run<F>(
    mut ctx: Context,
    store: &dyn Store,
    name: &'static str,
    prefixes: &[&str],
    relevant: fn(&Event) -> bool,
    mut reconcile: F,
) -> Result<(), ModuleError>
where
    F: FnMut(&dyn Store) -> Result<Option<Duration>, StoreError>,
{
    use smol::future::FutureExt as _;
    let ex = smol::LocalExecutor::new();
    let watches = |store: &dyn Store| -> Result<Vec<Watch>, ModuleError> {
        let rev = store.revision().map_err(ModuleError::new)?;
        prefixes.iter().map(|p| store.watch(p, rev).map_err(ModuleError::new)).collect()
    };
    let mut events = merge_watches(&ex, watches(store)?);
    ctx.ready();
    let main = async {
        let mut at: Option<std::time::Instant> = None;
        let mut due = true;
        loop {
            if due {
                let again = reconcile(store).unwrap_or_else(|e| {
                    log::warn!(target: name, "not reconciled (will retry on the next change): {e}");
                    None
                });
                at = again.map(|d| std::time::Instant::now() + d);
            }
            enum Woke {
                Change(Option<Event>),
                Timer,
                Stop,
            }
            let woke = async { Woke::Change(events.recv().await.ok().flatten()) }
                .or(async {
                    match at {
                        Some(t) => {
                            smol::Timer::at(t).await;
                            Woke::Timer
                        }
                        None => std::future::pending().await,
                    }
                })
                .or(async {
                    ctx.shutdown.wait().await;
                    Woke::Stop
                })
                .await;
            let (mut ended, mut wanted) = match woke {
                Woke::Stop => return Ok(()),
                Woke::Timer => (false, true),
                Woke::Change(first) => (first.is_none(), first.as_ref().is_some_and(relevant)),
            };
            // One reconcile for this change and whatever else is queued.
            while let Ok(ev) = events.try_recv() {
                ended |= ev.is_none();
                wanted |= ev.as_ref().is_some_and(relevant);
            }
            // Nothing relevant: wait on (a pending timer keeps its time).
            due = wanted || ended;
            if ended {
                log::warn!(target: name, "a store watch ended (fell behind); watching again");
                events = merge_watches(&ex, watches(store)?);
            }
        }
    };
    ex.run(main).await
}

pub fn parse(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

/// Every object under `prefix`: (key, revision, object).
pub fn list(store: &dyn Store, prefix: &str) -> Result<Vec<(String, u64, Value)>, StoreError> {
    Ok(store.list(prefix)?.0.into_iter().map(|s| (s.key, s.rev, parse(&s.value))).collect())
}

pub fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

/// The uid of the object's controller of `kind`, if it has one.
pub fn controller_uid<'a>(obj: &'a Value, kind: &str) -> Option<&'a str> {
    crate::kube::items(obj, "/metadata/ownerReferences").find(|o| o["kind"] == kind && o["controller"] == true).and_then(|o| o["uid"].as_str())
}

/// The owner reference a controller puts on what it makes.
pub fn controller_ref(kind: &str, owner: &Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": str_at(owner, "/metadata/name"), "uid": str_at(owner, "/metadata/uid"),
        "controller": true, "blockOwnerDeletion": true})
}

pub fn ready(pod: &Value) -> bool {
    crate::kube::items(pod, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Seconds since the pod's Ready condition last turned True (None if not
/// Ready; i64::MAX — long enough — if it carries no time).
pub fn ready_for(pod: &Value, now: i64) -> Option<i64> {
    let c = crate::kube::items(pod, "/status/conditions").find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    Some(c["lastTransitionTime"].as_str().and_then(crate::kube::parse_rfc3339).map(|t| now - t).unwrap_or(i64::MAX))
}

/// A pod that still runs or will: not Succeeded/Failed, not being deleted.
pub fn active(pod: &Value) -> bool {
    !matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed") && pod.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null)
}

/// FNV-1a of a JSON value (keys sorted: serde_json's maps are ordered).
pub fn hash(v: &Value) -> u32 {
    crate::kube::fnv32(v.to_string().as_bytes())
}

/// Kubernetes' alphabet for generated names (no vowels, no look-alikes).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A number in that alphabet, as the pod-template-hash label spells it.
pub fn safe_encode(mut n: u32) -> String {
    let mut s = String::new();
    loop {
        s.push(ALPHANUMS[(n % ALPHANUMS.len() as u32) as usize] as char);
        n /= ALPHANUMS.len() as u32;
        if n == 0 {
            return s;
        }
    }
}

/// `<prefix>-` and five random characters, as Kubernetes names generated pods.
pub fn generated_name(prefix: &str) -> String {
    let tail: String = (0..5).map(|_| ALPHANUMS[fastrand::usize(..ALPHANUMS.len())] as char).collect();
    format!("{prefix}-{tail}")
}

/// A new pod of `template` owned by `owner` (a `kind`), named from `prefix`,
/// bound to `node` if given (else the scheduler places it): (store key, pod).
pub fn pod_from_template(template: &Value, kind: &str, owner: &Value, prefix: &str, node: Option<&str>) -> (String, Value) {
    let ns = str_at(owner, "/metadata/namespace");
    let mut pod = template.clone();
    if !pod.is_object() {
        pod = json!({});
    }
    let pod_name = generated_name(prefix);
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    let mut meta = pod.get("metadata").cloned().filter(Value::is_object).unwrap_or(json!({}));
    if let Some(m) = meta.as_object_mut() {
        for f in ["deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "finalizers", "managedFields", "generateName"] {
            m.remove(f);
        }
    }
    meta["name"] = json!(pod_name);
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(crate::kube::new_uid());
    meta["creationTimestamp"] = json!(crate::kube::rfc3339_now());
    meta["generation"] = json!(1);
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["ownerReferences"] = json!([controller_ref(kind, owner)]);
    pod["metadata"] = meta;
    if !pod["spec"].is_object() {
        pod["spec"] = json!({});
    }
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    let qos = crate::kube::qos_class(&pod["spec"]);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
    (format!("pods/{ns}/{pod_name}"), pod)
}

/// A delete whose object is already gone is done.
pub fn gone(r: Result<Stored, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write `obj` back at `rev` if it differs from what was read; a conflict
/// or a deleted object is left for the next reconcile (the watch brings it).
pub fn write_back(store: &dyn Store, key: &str, rev: u64, before: &Value, after: &Value) -> Result<(), StoreError> {
    if before == after {
        return Ok(());
    }
    match store.update(key, &serde_json::to_vec(after).unwrap_or_default(), Some(rev)) {
        Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// An int-or-percent field (`maxSurge`, `maxUnavailable`) of `total`,
/// rounded up or down as Kubernetes does; None if it is neither.
pub fn int_or_percent(v: &Value, total: i64, round_up: bool) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let p: i64 = v.as_str()?.strip_suffix('%')?.parse().ok()?;
    let x = total.checked_mul(p)?;
    Some(if round_up { (x + 99).div_euclid(100) } else { x.div_euclid(100) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_round_as_kubernetes() {
        assert_eq!(int_or_percent(&json!("25%"), 4, true), Some(1));
        assert_eq!(int_or_percent(&json!("25%"), 3, true), Some(1));
        assert_eq!(int_or_percent(&json!("25%"), 3, false), Some(0));
        assert_eq!(int_or_percent(&json!(2), 3, false), Some(2));
        assert_eq!(int_or_percent(&json!("x"), 3, false), None);
        assert_eq!(int_or_percent(&json!("10"), 3, false), None);
    }

    #[test]
    fn names_use_the_safe_alphabet() {
        let n = generated_name("web");
        assert!(n.starts_with("web-") && n.len() == 9, "{n}");
        assert!(n[4..].bytes().all(|b| ALPHANUMS.contains(&b)));
        assert_eq!(safe_encode(0), "b");
        assert_ne!(safe_encode(hash(&json!({"a": 1}))), safe_encode(hash(&json!({"a": 2}))));
    }
}
