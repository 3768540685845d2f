//! Revocation as CloudHub carries it out: a Node deleted from the store
//! (`kubectl delete node`) or annotated `hive.io/certificates-revoked-at`
//! (`hive cert revoke`) has its certificates revoked in the registry
//! (certs.rs), its live session closed at once and, when deleted, its
//! object set emptied. The TLS handshake refuses revoked certificates
//! (tls::server_config_revocable) from then on.
//!
//! Owns: that watch and those three steps. Must not issue certificates.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::{Hub, NAME};
use crate::cloud::bootstrap::cli::REVOKED_AT;
use crate::cloud::store::{EventKind, Store};
use crate::kube::unix_now;

/// The revocation annotation of a Node object, if any.
fn annotated(value: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(value).ok()?;
    v["metadata"]["annotations"][REVOKED_AT].as_str().map(str::to_string)
}

/// Follow `nodes/` for as long as the hub runs; a watch that ends (it fell
/// behind) resumes from the last revision seen, so no deletion is missed.
pub async fn watch_nodes(hub: Rc<Hub>, store: Arc<dyn Store + Send + Sync>) {
    let mut from = store.revision().unwrap_or(0);
    // What was annotated while the cloud was down (acted on once per value).
    if let Ok((nodes, _)) = store.list("nodes/") {
        for n in nodes {
            if let Some(value) = annotated(&n.value) {
                hub.revoke_annotated(n.key.trim_start_matches("nodes/"), &value);
            }
        }
    }
    loop {
        let w = match store.watch("nodes/", from) {
            Ok(w) => w,
            Err(e) => {
                log::error!(target: NAME, "cannot watch nodes for revocations from revision {from}: {e}; watching from now");
                from = store.revision().unwrap_or(0);
                smol::Timer::after(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Ok(ev) = w.events.recv().await {
            from = ev.rev;
            let node = ev.key.trim_start_matches("nodes/");
            match ev.kind {
                EventKind::Deleted => hub.revoke(node, unix_now(), true),
                EventKind::Added | EventKind::Modified => {
                    if let Some(value) = annotated(&ev.value) {
                        hub.revoke_annotated(node, &value);
                    }
                }
            }
        }
        log::warn!(target: NAME, "the nodes watch for revocations ended; resuming from revision {from}");
    }
}

impl Hub {
    /// `hive cert revoke` set (or changed) the annotation: revoke as of the
    /// cloud's own clock, once per value (every status update of the Node
    /// carries the annotation again).
    fn revoke_annotated(&self, node: &str, value: &str) {
        if self.registry.annotation(node).as_deref() == Some(value) {
            return;
        }
        self.revoke(node, unix_now(), false);
        if let Err(e) = self.registry.set_annotation(node, value) {
            log::error!(target: NAME, "node {node}: revocation not recorded: {e}");
        }
    }

    /// Revoke `node`'s certificates up to `at`, close its session, and
    /// (when its Node was deleted) empty its object set.
    pub(super) fn revoke(&self, node: &str, at: i64, deleted: bool) {
        match self.registry.revoke(node, at) {
            Ok((n, _)) => {
                log::info!(target: NAME, "node {node}: certificates revoked ({n} issued by join or rotation; others dated before the revocation too)")
            }
            Err(e) => log::error!(target: NAME, "node {node}: revocation not recorded: {e}"),
        }
        let why = if deleted { format!("node {node} was deleted: its certificates are revoked") } else { format!("node {node}: its certificates are revoked") };
        if deleted {
            self.nodes.borrow_mut().forget(node, &why);
        } else if let Some(s) = self.nodes.borrow().session(node) {
            let _ = s.kick.try_send(why);
        }
        if deleted {
            match self.sync.keys(node) {
                Ok(keys) => {
                    for k in keys {
                        if let Err(e) = self.sync.delete(node, &k) {
                            log::warn!(target: NAME, "node {node}: {k} not removed from its set: {e}");
                        }
                    }
                }
                Err(e) => log::warn!(target: NAME, "node {node}: set not emptied: {e}"),
            }
        }
    }
}
