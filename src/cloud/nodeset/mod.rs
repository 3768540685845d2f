//! NodeSets: what EdgeController and DeviceController share. Each keeps the
//! edge view of the objects it places (status and server bookkeeping
//! stripped: an edge gets specs, and a status write must not echo down),
//! where each one goes, and turns the difference from what it last handed
//! CloudHub into `upsert` / `delete` requests.
//!
//! Incremental: a changed object touches only the nodes it was or is
//! placed on (and the nodes holding it, if its content changed); a sync
//! compares only those (node, key) pairs. One pod change costs the same
//! with 100 placed objects as with 100,000 (`hive bench nodesets`).
//!
//! Owns: the copy, the placement indexes and the per-node "sent" table.
//! Must not write the store or talk to edges (CloudHub does).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};

use serde_json::Value;

use super::store::{Event, EventKind, Store, StoreError, Watch};
use crate::core::Reply;
use crate::core::{Context, ModuleError};
use crate::kube::split_key;

/// Store key prefix → kind used in edge cache keys (`<ns>/<kind>/<name>`).
pub type Kinds = &'static [(&'static str, &'static str)];

/// Where one object goes: the nodes it is placed on, and the other objects
/// (cache keys) it takes along to each of them (a pod's configmaps and
/// secrets, a device's model). Objects placed only by reference (a
/// configmap) have none of their own.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    pub nodes: Vec<String>,
    pub takes: Vec<String>,
}

/// The placement of one object, from its cache key and edge view.
pub type Place = fn(&str, &Value) -> Placement;

/// One request for CloudHub.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Upsert { node: String, key: String, content: Vec<u8> },
    Delete { node: String, key: String },
}

pub struct NodeSets {
    owner: &'static str,
    kinds: Kinds,
    place: Place,
    /// Edge view of every object of our kinds, by cache key.
    bytes: HashMap<String, Vec<u8>>,
    /// Where each object placed somewhere goes.
    placed: HashMap<String, Placement>,
    /// node → cache key → how many placed objects bring it there.
    want: HashMap<String, HashMap<String, u32>>,
    /// cache key → the nodes that want it.
    holders: HashMap<String, HashSet<String>>,
    /// node → cache key → hash of the content CloudHub was last given.
    sent: HashMap<String, HashMap<String, u64>>,
    /// (node, key) pairs to compare with `sent` at the next sync.
    dirty: BTreeMap<String, BTreeSet<String>>,
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

fn digest(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

impl NodeSets {
    pub fn new(owner: &'static str, kinds: Kinds, place: Place) -> NodeSets {
        NodeSets {
            owner,
            kinds,
            place,
            bytes: HashMap::new(),
            placed: HashMap::new(),
            want: HashMap::new(),
            holders: HashMap::new(),
            sent: HashMap::new(),
            dirty: BTreeMap::new(),
        }
    }

    /// Take what CloudHub already holds of our kinds (placed before a
    /// restart) as sent: at the first sync, what is no longer wanted is
    /// deleted (a deletion the cloud died before passing on) and what is
    /// unchanged is not sent again.
    pub fn adopt(&mut self, held: Vec<(String, String, Vec<u8>)>) {
        for (node, key, content) in held {
            self.sent.entry(node.clone()).or_default().insert(key.clone(), digest(&content));
            self.dirty.entry(node).or_default().insert(key);
        }
    }

    /// Our kinds as they appear in cache keys.
    pub fn kind_names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|(_, k)| *k).collect()
    }

    /// (Re)load every object of our kinds and watch for changes from that
    /// revision on. What was sent to CloudHub is kept, so a relist after a
    /// lost watch sends only real differences.
    pub fn load(&mut self, store: &dyn Store) -> Result<Vec<Watch>, StoreError> {
        self.bytes.clear();
        self.placed.clear();
        self.want.clear();
        self.holders.clear();
        // Whatever was sent is compared again: what is gone is deleted.
        for (node, keys) in &self.sent {
            self.dirty.entry(node.clone()).or_default().extend(keys.keys().cloned());
        }
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

    fn mark(&mut self, node: &str, key: &str) {
        self.dirty.entry(node.to_string()).or_default().insert(key.to_string());
    }

    /// Every node holding `key` compares it again (its content changed).
    fn mark_holders(&mut self, key: &str) {
        let nodes: Vec<String> = self.holders.get(key).map(|h| h.iter().cloned().collect()).unwrap_or_default();
        for n in nodes {
            self.mark(&n, key);
        }
    }

    fn count(&mut self, node: &str, key: &str, up: bool) {
        let per = self.want.entry(node.to_string()).or_default();
        let n = per.entry(key.to_string()).or_insert(0);
        if up {
            *n += 1;
            if *n > 1 {
                return;
            }
            self.holders.entry(key.to_string()).or_default().insert(node.to_string());
        } else {
            *n = n.saturating_sub(1);
            if *n > 0 {
                return;
            }
            per.remove(key);
            if per.is_empty() {
                self.want.remove(node);
            }
            if let Some(h) = self.holders.get_mut(key) {
                h.remove(node);
                if h.is_empty() {
                    self.holders.remove(key);
                }
            }
        }
        self.mark(node, key);
    }

    /// Move `key` from where it was placed to `new`.
    fn replace_placement(&mut self, key: &str, new: Placement) {
        let old = self.placed.remove(key).unwrap_or_default();
        if old != new {
            for n in &new.nodes {
                self.count(n, key, true);
                for t in &new.takes {
                    self.count(n, t, true);
                }
            }
            for n in &old.nodes {
                self.count(n, key, false);
                for t in &old.takes {
                    self.count(n, t, false);
                }
            }
        }
        if !new.nodes.is_empty() {
            self.placed.insert(key.to_string(), new);
        }
    }

    fn put(&mut self, store_key: &str, value: &[u8]) {
        let Some(kind) = self.kind_of(store_key) else { return };
        let Ok(v) = serde_json::from_slice::<Value>(value) else {
            log::warn!(target: self.owner, "{store_key}: stored value is not JSON; not placed on any node");
            return;
        };
        let Some(key) = cache_key(kind, &v) else { return };
        let v = edge_view(v);
        let placement = (self.place)(&key, &v);
        let b = serde_json::to_vec(&v).unwrap_or_default();
        if self.bytes.get(&key) != Some(&b) {
            self.bytes.insert(key.clone(), b);
            self.mark_holders(&key);
        }
        self.replace_placement(&key, placement);
    }

    fn remove(&mut self, key: &str) {
        self.replace_placement(key, Placement::default());
        if self.bytes.remove(key).is_some() {
            // Still taken along by others (a configmap pods use): deleted there too.
            self.mark_holders(key);
        }
    }

    /// Take one store event into the copy.
    pub fn apply(&mut self, ev: &Event) {
        match ev.kind {
            EventKind::Deleted => {
                let Some(kind) = self.kind_of(&ev.key) else { return };
                if let Some(key) = serde_json::from_slice::<Value>(&ev.value).ok().and_then(|v| cache_key(kind, &v)) {
                    self.remove(&key);
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

    /// What CloudHub must be told so its sets equal ours, recorded as sent.
    /// Per node, upserts come first, models before the devices that use
    /// them, then deletes: an edge never sees a device whose model it does
    /// not know (yet, or any more).
    pub fn changes(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        for (node, keys) in std::mem::take(&mut self.dirty) {
            let (models, rest): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| split_key(k).1.ends_with("model"));
            let mut deletes = Vec::new();
            let sent = self.sent.entry(node.clone()).or_default();
            for key in models.into_iter().chain(rest) {
                let wanted = self.want.get(&node).is_some_and(|w| w.contains_key(&key)).then(|| self.bytes.get(&key)).flatten();
                match wanted {
                    Some(b) => {
                        let d = digest(b);
                        if sent.insert(key.clone(), d) != Some(d) {
                            out.push(Change::Upsert { node: node.clone(), key, content: b.clone() });
                        }
                    }
                    None => {
                        if sent.remove(&key).is_some() {
                            deletes.push(Change::Delete { node: node.clone(), key });
                        }
                    }
                }
            }
            if sent.is_empty() {
                self.sent.remove(&node);
            }
            out.extend(deletes);
        }
        out
    }

    /// Make CloudHub's sets equal to ours, if anything changed.
    pub async fn sync(&mut self, ctx: &Context) -> Result<(), ModuleError> {
        for c in self.changes() {
            match c {
                Change::Upsert { node, key, content } => call(ctx, self.owner, &node, &key, "upsert", content).await?,
                Change::Delete { node, key } => call(ctx, self.owner, &node, &key, "delete", Vec::new()).await?,
            }
        }
        Ok(())
    }

    /// Objects held, (node, key) pairs sent: for benches and logs.
    pub fn size(&self) -> (usize, usize) {
        (self.bytes.len(), self.sent.values().map(HashMap::len).sum())
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

#[cfg(test)]
mod tests;
