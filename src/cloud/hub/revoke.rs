//! Revocation as CloudHub carries it out: a Node deleted from the store
//! (`kubectl delete node`) or annotated `hive.io/certificates-revoked-at`
//! (`hive cert revoke`) has its certificates revoked in the registry
//! (certs.rs), its live session closed at once and, when deleted, its
//! object set emptied. The TLS handshake refuses revoked certificates
//! (tls::server_config_revocable) from then on.
//!
//! Owns: that watch and those three steps. Must not issue certificates.

use std::collections::HashSet;
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

/// Relist `nodes/`: record every Node present as seen, act on revocation
/// annotations, and revoke the nodes seen before whose object is gone (a
/// deletion no watch delivered). Returns the revision listed at.
fn relist(hub: &Hub, store: &(dyn Store + Send + Sync)) -> Result<u64, String> {
    let (nodes, rev) = store.list("nodes/").map_err(|e| format!("cannot list nodes: {e}"))?;
    let mut present = HashSet::new();
    for n in nodes {
        let node = n.key.trim_start_matches("nodes/").to_string();
        if let Err(e) = hub.registry.mark_seen(&node) {
            log::error!(target: NAME, "node {node}: not recorded as seen: {e}");
        }
        if let Some(value) = annotated(&n.value) {
            hub.revoke_annotated(&node, &value);
        }
        present.insert(node);
    }
    let gone = hub.registry.seen_but_gone(&present).map_err(|e| format!("cannot read the seen nodes: {e}"))?;
    for node in gone {
        log::warn!(target: NAME, "node {node}: its Node object is gone and its deletion was not seen (the cloud stopped or fell behind); revoking now");
        hub.deleted(&node);
    }
    Ok(rev)
}

/// Follow `nodes/` for as long as the hub runs. A watch that ends (it fell
/// behind) resumes from the last revision seen; one that cannot (that
/// revision is compacted) relists first, so no deletion is missed.
pub async fn watch_nodes(hub: Rc<Hub>, store: Arc<dyn Store + Send + Sync>) {
    let mut from = None;
    loop {
        let rev = match from {
            Some(rev) => rev,
            None => match relist(&hub, store.as_ref()) {
                Ok(rev) => rev,
                Err(e) => {
                    log::error!(target: NAME, "revocations: {e}; retrying in 1 s");
                    smol::Timer::after(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let w = match store.watch("nodes/", rev) {
            Ok(w) => w,
            Err(e) => {
                log::warn!(target: NAME, "cannot watch nodes for revocations from revision {rev}: {e}; relisting");
                from = None;
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        from = Some(rev);
        while let Ok(ev) = w.events.recv().await {
            from = Some(ev.rev);
            let node = ev.key.trim_start_matches("nodes/");
            match ev.kind {
                EventKind::Deleted => hub.deleted(node),
                EventKind::Added | EventKind::Modified => {
                    if let Err(e) = hub.registry.mark_seen(node) {
                        log::error!(target: NAME, "node {node}: not recorded as seen: {e}");
                    }
                    if let Some(value) = annotated(&ev.value) {
                        hub.revoke_annotated(node, &value);
                    }
                }
            }
        }
        log::warn!(target: NAME, "the nodes watch for revocations ended; resuming from revision {}", from.unwrap_or(0));
    }
}

impl Hub {
    /// The Node object of `node` was deleted: revoke, then forget it was seen.
    fn deleted(&self, node: &str) {
        self.revoke(node, unix_now(), true);
        if let Err(e) = self.registry.forget_seen(node) {
            log::warn!(target: NAME, "node {node}: still marked as seen: {e}");
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::hub::certs::CertRegistry;
    use crate::cloud::store::sled_store::SledStore;
    use crate::cloud::sync::ObjectSync;

    #[test]
    fn a_relist_revokes_a_node_deleted_while_no_watch_saw_it() {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(d.path().join("db")).open().unwrap();
        let store = SledStore::open(&db, 100).unwrap();
        let registry = CertRegistry::open(&db).unwrap();
        let hub = Hub {
            cfg: Default::default(),
            router: crate::core::Router::new(),
            request_timeout: Duration::from_secs(1),
            sync: ObjectSync::open(&db).unwrap(),
            nodes: Default::default(),
            streams: crate::cloud::stream::Streams::new(1, 1),
            ca: Rc::new(crate::tls::CertAuthority::load_or_create(d.path()).unwrap()),
            registry: registry.clone(),
            rotated: Default::default(),
            apply_locks: Default::default(),
        };
        store.create("nodes/e1", br#"{"metadata":{"name":"e1"}}"#).unwrap();
        store.create("nodes/e2", br#"{"metadata":{"name":"e2"}}"#).unwrap();
        let now = unix_now();
        registry.record("e2", &[2], now + 100).unwrap();
        registry.record("e3", &[3], now + 100).unwrap(); // joined, never connected
        hub.sync.upsert("e2", "pods/default/p", b"{}").unwrap();
        let rev = relist(&hub, &store).unwrap();
        assert_eq!(rev, store.revision().unwrap());
        assert!(registry.revoked_at("e2").is_none(), "present nodes are left alone");

        // Deleted while the cloud was down, or while its watch had a gap.
        store.delete("nodes/e2", None).unwrap();
        relist(&hub, &store).unwrap();
        assert!(registry.is_revoked("e2", &[2], now), "the deleted node's certificate is revoked");
        assert!(hub.sync.keys("e2").unwrap().is_empty(), "its object set is emptied");
        assert!(!registry.is_revoked("e3", &[3], now), "a joined node without a Node object keeps its certificate");
        assert!(registry.revoked_at("e1").is_none());
        // Acted on once: a second relist does not revoke a later join again.
        registry.record("e2", &[4], now + 100).unwrap();
        relist(&hub, &store).unwrap();
        assert!(!registry.is_revoked("e2", &[4], now + 1));
    }
}
