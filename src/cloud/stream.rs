//! CloudStream: which node's tunnel carries streams now, so the API can
//! open one (`kubectl logs -f`, `exec`, `attach`) to the node a pod runs on.
//!
//! CloudHub attaches a connected node's stream table (proto/stream.rs) and
//! detaches it when the session ends, which ends every stream of that node
//! with a reason the client sees. Limits per node and in total are checked
//! here, with errors that say which.
//!
//! Owns: the node → stream table map. Must not do I/O or know what streams carry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use smol::channel::Sender;

use crate::proto::stream::{Stream, Table};
use crate::proto::Frame;

/// Why a stream could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The node has no live session.
    NotConnected(String),
    /// A limit is reached (the message names it).
    Limit(String),
}

/// Node → (session generation, its stream table).
type Tables = HashMap<String, (u64, Arc<Table>)>;

/// Shared by CloudHub (attach/detach) and the API (open).
#[derive(Clone)]
pub struct Streams {
    inner: Arc<Mutex<Tables>>,
    per_node: usize,
    total: usize,
}

impl Streams {
    pub fn new(per_node: usize, total: usize) -> Streams {
        Streams { inner: Arc::default(), per_node, total }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Session `generation` of `node` is up: its stream frames go to `out`.
    pub fn attach(&self, node: &str, generation: u64, out: Sender<Frame>, max_frame: usize) -> Arc<Table> {
        let table = Table::new(out, self.per_node, max_frame);
        if let Some((_, old)) = self.lock().insert(node.to_string(), (generation, table.clone())) {
            old.close_all(&format!("the tunnel to node {node} was replaced by a new connection"));
        }
        table
    }

    /// Session `generation` of `node` ended: its streams end with `why`.
    pub fn detach(&self, node: &str, generation: u64, why: &str) {
        let mut map = self.lock();
        if map.get(node).is_some_and(|(g, _)| *g == generation) {
            if let Some((_, t)) = map.remove(node) {
                t.close_all(why);
            }
        }
    }

    /// Whether a stream to `node` could be opened now (the same errors as `open`).
    pub fn check(&self, node: &str) -> Result<(), OpenError> {
        let map = self.lock();
        Self::room(&map, node, self.total, self.per_node).map(|_| ())
    }

    fn room<'a>(map: &'a Tables, node: &str, total: usize, per_node: usize) -> Result<&'a Arc<Table>, OpenError> {
        let Some((_, table)) = map.get(node) else {
            return Err(OpenError::NotConnected(format!("node {node} is not connected to the cloud")));
        };
        let open: usize = map.values().map(|(_, t)| t.len()).sum();
        if open >= total {
            return Err(OpenError::Limit(format!("{open} streams are open to edges, the most this cloud carries (cloudhub.max_streams)")));
        }
        if table.len() >= per_node {
            return Err(OpenError::Limit(format!(
                "node {node}: {per_node} streams are open on this tunnel, the most it carries; close one (an exec or logs -f) and retry (cloudhub.max_streams_per_node)"
            )));
        }
        Ok(table)
    }

    /// Open a stream to `node` carrying `request`.
    pub fn open(&self, node: &str, request: &serde_json::Value) -> Result<Stream, OpenError> {
        let map = self.lock();
        let table = Self::room(&map, node, self.total, self.per_node)?;
        table.open(request.to_string().into_bytes()).map_err(|e| {
            if e.contains("the most") {
                OpenError::Limit(format!("node {node}: {e} (cloudhub.max_streams_per_node)"))
            } else {
                OpenError::NotConnected(format!("node {node}: {e}"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_needs_a_session_and_respects_both_limits() {
        let s = Streams::new(2, 3);
        let req = serde_json::json!({"kind": "logs"});
        assert!(matches!(s.open("edge-1", &req), Err(OpenError::NotConnected(m)) if m.contains("not connected")));
        let (tx, _rx) = smol::channel::unbounded();
        s.attach("edge-1", 1, tx.clone(), 1 << 20);
        s.attach("edge-2", 1, tx, 1 << 20);
        let a = s.open("edge-1", &req).unwrap();
        let _b = s.open("edge-1", &req).unwrap();
        assert!(matches!(s.open("edge-1", &req), Err(OpenError::Limit(m)) if m.contains("max_streams_per_node")));
        assert!(matches!(s.check("edge-1"), Err(OpenError::Limit(_))) && s.check("edge-2").is_ok() && s.check("edge-3").is_err());
        let _c = s.open("edge-2", &req).unwrap();
        assert!(matches!(s.open("edge-2", &req), Err(OpenError::Limit(m)) if m.contains("cloudhub.max_streams)")));
        drop(a);
        let mut d = s.open("edge-2", &req).unwrap();
        // An old session's end does not touch the new one; the current one's does.
        s.detach("edge-2", 0, "stale");
        s.detach("edge-2", 1, "tunnel to node edge-2 closed");
        let end = smol::block_on(d.recv());
        assert_eq!(end, crate::proto::stream::Event::End(Some("tunnel to node edge-2 closed".into())));
    }
}
