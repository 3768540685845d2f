//! NodeSets: what EdgeController and DeviceController share. Each keeps a
//! copy of the objects it places (status and server bookkeeping stripped:
//! an edge gets specs, and a status write must not echo down), computes
//! which node gets which object, and turns the difference from what it
//! last handed CloudHub into `upsert` / `delete` requests.
//!
//! Owns: that copy and the per-node "sent" table. Must not write the store
//! or talk to edges (CloudHub does).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::store::{Event, EventKind, Store, StoreError, Watch};
use crate::core::Reply;
use crate::core::{Context, ModuleError};
use crate::kube::split_key;

/// Store key prefix → kind used in edge cache keys (`<ns>/<kind>/<name>`).
pub type Kinds = &'static [(&'static str, &'static str)];

/// Which node gets which cache keys, given every object.
pub type Place = fn(&BTreeMap<String, Value>) -> HashMap<String, BTreeSet<String>>;

pub struct NodeSets {
    owner: &'static str,
    kinds: Kinds,
    place: Place,
    objects: BTreeMap<String, Value>,
    bytes: HashMap<String, Vec<u8>>,
    sent: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// Set when an object's edge-visible part changed since the last sync.
    dirty: bool,
}

/// Edge cache key of an object: `<namespace>/<kind>/<name>` (`/node/<name>`
/// for cluster-scoped kinds).
pub fn cache_key(kind: &str, v: &Value) -> Option<String> {
    let name = v.pointer("/metadata/name")?.as_str()?;
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    Some(format!("{ns}/{kind}/{name}"))
}

/// What an edge gets of an object: no status, no server bookkeeping.
fn edge_view(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
            m.remove("resourceVersion");
        }
    }
    v
}

impl NodeSets {
    pub fn new(owner: &'static str, kinds: Kinds, place: Place) -> NodeSets {
        NodeSets { owner, kinds, place, objects: BTreeMap::new(), bytes: HashMap::new(), sent: HashMap::new(), dirty: true }
    }

    /// (Re)load every object of our kinds and watch for changes from that
    /// revision on. What was sent to CloudHub is kept, so a relist after a
    /// lost watch sends only real differences.
    pub fn load(&mut self, store: &dyn Store) -> Result<Vec<Watch>, StoreError> {
        self.objects.clear();
        self.bytes.clear();
        self.dirty = true;
        let mut watches = Vec::new();
        for (prefix, _) in self.kinds {
            let (items, rev) = store.list(prefix)?;
            for s in items {
                self.put(&s.key, &s.value);
            }
            watches.push(store.watch(prefix, rev)?);
        }
        Ok(watches)
    }

    fn kind_of(&self, store_key: &str) -> Option<&'static str> {
        self.kinds.iter().find(|(p, _)| store_key.starts_with(p)).map(|(_, k)| *k)
    }

    fn put(&mut self, store_key: &str, value: &[u8]) {
        let Some(kind) = self.kind_of(store_key) else { return };
        let Ok(v) = serde_json::from_slice::<Value>(value) else {
            log::warn!(target: self.owner, "{store_key}: stored value is not JSON; not placed on any node");
            return;
        };
        let Some(key) = cache_key(kind, &v) else { return };
        let v = edge_view(v);
        let b = serde_json::to_vec(&v).unwrap_or_default();
        if self.bytes.get(&key) != Some(&b) {
            self.dirty = true;
            self.bytes.insert(key.clone(), b);
            self.objects.insert(key, v);
        }
    }

    /// Take one store event into the copy.
    pub fn apply(&mut self, ev: &Event) {
        match ev.kind {
            EventKind::Deleted => {
                let Some(kind) = self.kind_of(&ev.key) else { return };
                let Some(key) = serde_json::from_slice::<Value>(&ev.value).ok().and_then(|v| cache_key(kind, &v)) else { return };
                if self.objects.remove(&key).is_some() {
                    self.bytes.remove(&key);
                    self.dirty = true;
                }
            }
            _ => self.put(&ev.key, &ev.value),
        }
    }

    /// Take one item of `merge_watches` and whatever else is queued behind
    /// it. False when a watch ended (or all did): the caller must `load` again.
    pub fn absorb(&mut self, first: Option<Option<Event>>, rx: &smol::channel::Receiver<Option<Event>>) -> bool {
        let mut next = first;
        loop {
            match next {
                Some(Some(ev)) => self.apply(&ev),
                _ => return false,
            }
            match rx.try_recv() {
                Ok(item) => next = Some(item),
                Err(_) => return true,
            }
        }
    }

    /// The node sets as they should be now: node → cache key → content.
    pub fn wanted(&self) -> HashMap<String, BTreeMap<String, Vec<u8>>> {
        let mut out: HashMap<String, BTreeMap<String, Vec<u8>>> = HashMap::new();
        for (node, keys) in (self.place)(&self.objects) {
            let set = out.entry(node).or_default();
            for k in keys {
                if let Some(b) = self.bytes.get(&k) {
                    set.insert(k, b.clone());
                }
            }
        }
        out.retain(|_, s| !s.is_empty());
        out
    }

    /// Make CloudHub's sets equal to `wanted()`, if anything changed.
    pub async fn sync(&mut self, ctx: &Context) -> Result<(), ModuleError> {
        if !self.dirty {
            return Ok(());
        }
        self.dirty = false;
        let want = self.wanted();
        let nodes: BTreeSet<String> = want.keys().chain(self.sent.keys()).cloned().collect();
        for node in nodes {
            let empty = BTreeMap::new();
            let w = want.get(&node).unwrap_or(&empty);
            let had = self.sent.remove(&node).unwrap_or_default();
            // Models before the devices that use them, so an edge never
            // sees a device whose model it does not know yet.
            let (models, rest): (Vec<_>, Vec<_>) = w.iter().partition(|(k, _)| split_key(k).1.ends_with("model"));
            for (key, content) in models.into_iter().chain(rest) {
                if had.get(key) != Some(content) {
                    call(ctx, self.owner, &node, key, "upsert", content.clone()).await?;
                }
            }
            for key in had.keys().filter(|k| !w.contains_key(*k)) {
                call(ctx, self.owner, &node, key, "delete", Vec::new()).await?;
            }
            if !w.is_empty() {
                self.sent.insert(node, w.clone());
            }
        }
        Ok(())
    }
}

async fn call(ctx: &Context, owner: &str, node: &str, key: &str, op: &str, content: Vec<u8>) -> Result<(), ModuleError> {
    let m = ctx.message("hub", &format!("node/{node}/{key}"), op, content);
    let r = ctx.request(crate::cloud::hub::NAME, m).await?;
    if Reply::parse(&r.content) != Some(Reply::Ok) {
        log::warn!(target: "nodeset", "{owner}: {op} {key} for node {node}: {}", r.content_text());
    }
    Ok(())
}

/// One stream of every watch's events; `None` when any watch ended (the
/// watcher fell behind): the owner must `load` again.
pub fn merge_watches(ex: &smol::LocalExecutor<'_>, watches: Vec<Watch>) -> smol::channel::Receiver<Option<Event>> {
    let (tx, rx) = smol::channel::unbounded();
    for w in watches {
        let tx = tx.clone();
        ex.spawn(async move {
            while let Ok(ev) = w.events.recv().await {
                if tx.send(Some(ev)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(None).await;
        })
        .detach();
    }
    rx
}

/// Answer an edge's `report` (`node/<name>/<resource>`) with `apply`'s
/// verdict: `ok`, or `error: <why>` (also logged); anything else is refused.
pub fn answer_report<F>(ctx: &Context, owner: &str, m: &crate::core::Message, apply: F)
where
    F: FnOnce(&str, &str, &[u8]) -> Result<crate::cloud::status::Written, crate::cloud::status::StatusError>,
{
    let reply = match crate::cloud::hub::split_node_resource(&m.resource) {
        Some((node, rest)) if m.operation == "report" => match apply(node, rest, &m.content) {
            Ok(w) => {
                log::debug!(target: "nodeset", "{owner}: node {node}: {rest}: {w:?}");
                Reply::Ok.encode()
            }
            Err(e) => {
                log::warn!(target: "nodeset", "{owner}: node {node}: report on {rest} refused: {e}");
                Reply::error(e)
            }
        },
        _ => {
            log::warn!(target: "nodeset", "{owner}: unexpected `{}` on {} from {}: refused", m.operation, m.resource, m.source);
            Reply::Error(format!("{owner} takes only `report` on node/<name>/..., not `{}` on {}", m.operation, m.resource)).encode()
        }
    };
    if ctx.router.is_waiting(m.id) {
        let _ = ctx.respond(m, reply);
    }
}
