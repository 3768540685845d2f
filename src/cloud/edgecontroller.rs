//! EdgeController: computes each node's object set from the store — its
//! Node, the pods bound to it (`spec.nodeName`), the configmaps and secrets
//! those pods reference, the devices placed on it and their models — and
//! keeps CloudHub's ObjectSync equal to it (upsert / delete to `cloudhub`).
//!
//! Owns: the mapping store → node sets. Must not talk to edges itself
//! (CloudHub does) nor write the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use smol::future::FutureExt as _;

use crate::cloud::store::{EventKind, Store};
use crate::core::{Context, Module, ModuleError, ModuleFuture};

pub const NAME: &str = "edgecontroller";

/// Store prefixes watched, with the kind used in edge cache keys.
const WATCHED: &[(&str, &str)] = &[
    ("pods/", "pod"),
    ("configmaps/", "configmap"),
    ("secrets/", "secret"),
    ("nodes/", "node"),
    ("devices.kubeedge.io/devices/", "device"),
    ("devices.kubeedge.io/devicemodels/", "devicemodel"),
];

pub struct EdgeController {
    store: Arc<dyn Store + Send + Sync>,
}

impl EdgeController {
    pub fn new(store: Arc<dyn Store + Send + Sync>) -> EdgeController {
        EdgeController { store }
    }
}

/// Every watched object: edge cache key (`<ns>/<kind>/<name>`) → JSON.
#[derive(Default)]
struct World {
    objects: BTreeMap<String, Value>,
}

fn cache_key(kind: &str, v: &Value) -> Option<String> {
    let name = v.pointer("/metadata/name")?.as_str()?;
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    Some(format!("{ns}/{kind}/{name}"))
}

fn strs<'a>(v: &'a Value, path: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(path).and_then(Value::as_array).into_iter().flatten()
}

/// Names of configmaps and secrets a pod needs.
fn pod_refs(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut cms, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    let add = |set: &mut BTreeSet<String>, v: Option<&Value>| {
        if let Some(n) = v.and_then(Value::as_str) {
            set.insert(n.to_string());
        }
    };
    for vol in strs(pod, "/spec/volumes") {
        add(&mut cms, vol.pointer("/configMap/name"));
        add(&mut secrets, vol.pointer("/secret/secretName"));
    }
    for list in ["/spec/containers", "/spec/initContainers"] {
        for c in strs(pod, list) {
            for e in strs(c, "/env") {
                add(&mut cms, e.pointer("/valueFrom/configMapKeyRef/name"));
                add(&mut secrets, e.pointer("/valueFrom/secretKeyRef/name"));
            }
            for e in strs(c, "/envFrom") {
                add(&mut cms, e.pointer("/configMapRef/name"));
                add(&mut secrets, e.pointer("/secretRef/name"));
            }
        }
    }
    (cms, secrets)
}

impl World {
    /// node → its set: cache key → content.
    fn node_sets(&self) -> HashMap<String, BTreeMap<String, Vec<u8>>> {
        let mut sets: HashMap<String, BTreeMap<String, Vec<u8>>> = HashMap::new();
        let put = |node: &str, key: &str, sets: &mut HashMap<String, BTreeMap<String, Vec<u8>>>| {
            if let Some(v) = self.objects.get(key) {
                sets.entry(node.to_string()).or_default().insert(key.to_string(), serde_json::to_vec(v).unwrap_or_default());
            }
        };
        for (key, v) in &self.objects {
            let mut parts = key.splitn(3, '/');
            let (ns, kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            match kind {
                "node" => put(name, key, &mut sets),
                "pod" => {
                    let Some(node) = v.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) else { continue };
                    put(node, key, &mut sets);
                    let (cms, secrets) = pod_refs(v);
                    for c in cms {
                        put(node, &format!("{ns}/configmap/{c}"), &mut sets);
                    }
                    for s in secrets {
                        put(node, &format!("{ns}/secret/{s}"), &mut sets);
                    }
                }
                "device" => {
                    let Some(node) = v.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) else { continue };
                    put(node, key, &mut sets);
                    if let Some(m) = v.pointer("/spec/deviceModelRef/name").and_then(Value::as_str) {
                        put(node, &format!("{ns}/devicemodel/{m}"), &mut sets);
                    }
                }
                _ => {}
            }
        }
        sets
    }
}

impl Module for EdgeController {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let mut world = World::default();
            let (tx, rx) = smol::channel::unbounded::<(usize, crate::cloud::store::Event)>();
            let ex = smol::LocalExecutor::new();
            for (i, (prefix, kind)) in WATCHED.iter().enumerate() {
                let (items, rev) = self.store.list(prefix).map_err(ModuleError::new)?;
                for s in items {
                    if let Ok(v) = serde_json::from_slice::<Value>(&s.value) {
                        if let Some(k) = cache_key(kind, &v) {
                            world.objects.insert(k, v);
                        }
                    }
                }
                let w = self.store.watch(prefix, rev).map_err(ModuleError::new)?;
                let tx = tx.clone();
                ex.spawn(async move {
                    while let Ok(ev) = w.events.recv().await {
                        if tx.send((i, ev)).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
            ctx.ready();
            ex.run(control_loop(&ctx, world, rx)).await
        })
    }
}

async fn control_loop(
    ctx: &Context,
    mut world: World,
    rx: smol::channel::Receiver<(usize, crate::cloud::store::Event)>,
) -> Result<(), ModuleError> {
            // What was last sent per node, to turn new sets into upserts and deletes.
            let mut sent: HashMap<String, BTreeMap<String, Vec<u8>>> = HashMap::new();
            loop {
                sync(ctx, &world, &mut sent).await?;
                // Take one change, then whatever else is queued, before syncing again.
                let next = async { rx.recv().await.ok() };
                let stop = async {
                    ctx.shutdown.wait().await;
                    None
                };
                let Some(first) = next.or(stop).await else { return Ok(()) };
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                for (i, ev) in batch {
                    let kind = WATCHED[i].1;
                    let Ok(v) = serde_json::from_slice::<Value>(&ev.value) else { continue };
                    let Some(k) = cache_key(kind, &v) else { continue };
                    match ev.kind {
                        EventKind::Deleted => {
                            world.objects.remove(&k);
                        }
                        _ => {
                            world.objects.insert(k, v);
                        }
                    }
                }
            }
}

/// Make CloudHub's sets equal to the world's.
async fn sync(ctx: &Context, world: &World, sent: &mut HashMap<String, BTreeMap<String, Vec<u8>>>) -> Result<(), ModuleError> {
    let want = world.node_sets();
    let nodes: BTreeSet<String> = want.keys().chain(sent.keys()).cloned().collect();
    for node in nodes {
        let empty = BTreeMap::new();
        let w = want.get(&node).unwrap_or(&empty);
        let had = sent.remove(&node).unwrap_or_default();
        for (key, content) in w {
            if had.get(key) != Some(content) {
                call(ctx, &node, key, "upsert", content.clone()).await?;
            }
        }
        for key in had.keys().filter(|k| !w.contains_key(*k)) {
            call(ctx, &node, key, "delete", Vec::new()).await?;
        }
        if !w.is_empty() {
            sent.insert(node, w.clone());
        }
    }
    Ok(())
}

async fn call(ctx: &Context, node: &str, key: &str, op: &str, content: Vec<u8>) -> Result<(), ModuleError> {
    let m = ctx.message("hub", &format!("node/{node}/{key}"), op, content);
    let r = ctx.request(crate::cloud::hub::NAME, m).await?;
    if r.content != b"ok" {
        log::warn!(target: NAME, "{op} {key} for node {node}: {}", r.content_text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_gets_its_pods_their_references_and_its_devices() {
        let mut w = World::default();
        let pod = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"nodeName": "e1",
            "volumes": [{"configMap": {"name": "vol-cm"}}, {"secret": {"secretName": "vol-s"}}],
            "containers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "env-s"}}}], "envFrom": [{"configMapRef": {"name": "from-cm"}}]}]}});
        for (k, v) in [
            ("default/pod/web", pod),
            ("default/pod/other", json!({"metadata": {"name": "other", "namespace": "default"}, "spec": {"nodeName": "e2"}})),
            ("default/configmap/vol-cm", json!({"metadata": {"name": "vol-cm"}})),
            ("default/configmap/from-cm", json!({})),
            ("default/configmap/unused", json!({})),
            ("default/secret/vol-s", json!({})),
            ("default/secret/env-s", json!({})),
            ("/node/e1", json!({})),
            ("default/device/d1", json!({"spec": {"nodeName": "e1", "deviceModelRef": {"name": "m1"}}})),
            ("default/devicemodel/m1", json!({})),
        ] {
            w.objects.insert(k.to_string(), v);
        }
        let sets = w.node_sets();
        let e1: Vec<&String> = sets["e1"].keys().collect();
        assert_eq!(
            e1,
            vec![
                "/node/e1",
                "default/configmap/from-cm",
                "default/configmap/vol-cm",
                "default/device/d1",
                "default/devicemodel/m1",
                "default/pod/web",
                "default/secret/env-s",
                "default/secret/vol-s"
            ]
        );
        assert_eq!(sets["e2"].keys().collect::<Vec<_>>(), vec!["default/pod/other"]);
    }
}
