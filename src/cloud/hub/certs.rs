//! The node certificates the cloud has issued by join or rotation, and the
//! ones it has revoked, in the sled tree `node_certs` of the cloud's
//! database (the CA's own record, next to ObjectSync's):
//! - `i/<node>/<serial hex>` → issued at, not after (Unix s, big-endian);
//! - `r/<serial hex>` → node: revoked, refused at every handshake;
//! - `c/<node>` → revoked at: certificates of that node the registry never
//!   issued (made offline with `hive cert node`) and dated before it are
//!   refused too, since their serials are unknown here; and a join under
//!   that name needs a token created after it;
//! - `a/<node>` → the `hive.io/certificates-revoked-at` value last acted on;
//! - `s/<node>` → a Node object of that name has existed: when it is gone
//!   and no deletion was seen (the watch fell behind, or the cloud died
//!   between the delete and the revocation), a relist still revokes it.
//!
//! Owns: that tree and the rules on it. Must not close sessions or touch
//! objects (CloudHub does, when it revokes).

use crate::store::DbError;

#[derive(Clone)]
pub struct CertRegistry {
    tree: sled::Tree,
}

fn pair(v: &[u8]) -> (i64, i64) {
    let n = |s: &[u8]| s.try_into().map(i64::from_be_bytes).unwrap_or(0);
    if v.len() == 16 {
        (n(&v[..8]), n(&v[8..]))
    } else {
        (0, 0)
    }
}

impl CertRegistry {
    pub fn open(db: &sled::Db) -> Result<CertRegistry, DbError> {
        Ok(CertRegistry { tree: db.open_tree("node_certs")? })
    }

    /// Remember a certificate issued to `node` (and forget its expired ones).
    pub fn record(&self, node: &str, serial: &[u8], not_after: i64) -> Result<(), DbError> {
        let now = crate::kube::unix_now();
        for kv in self.tree.scan_prefix(format!("i/{node}/")) {
            let (k, v) = kv?;
            if pair(&v).1 < now {
                self.tree.remove(k)?;
            }
        }
        let v = [now.to_be_bytes(), not_after.to_be_bytes()].concat();
        self.tree.insert(format!("i/{node}/{}", crate::tls::hex(serial)), v)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Revoke the serials issued to `node` so far without a revocation
    /// time (a join that replaces one whose answer was lost).
    pub fn supersede(&self, node: &str) -> Result<(), DbError> {
        let prefix = format!("i/{node}/");
        for kv in self.tree.scan_prefix(&prefix) {
            let (k, _) = kv?;
            let serial = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
            self.tree.insert(format!("r/{serial}"), node.as_bytes())?;
            self.tree.remove(k)?;
        }
        self.tree.flush()?;
        Ok(())
    }

    /// When `node` was last revoked, if ever.
    pub fn revoked_at(&self, node: &str) -> Option<i64> {
        let v = self.tree.get(format!("c/{node}")).ok()??;
        Some(pair(&[&v[..], &[0; 8]].concat()).0)
    }

    /// The revocation annotation value last acted on for `node`, and record a new one.
    pub fn annotation(&self, node: &str) -> Option<String> {
        let v = self.tree.get(format!("a/{node}")).ok()??;
        Some(String::from_utf8_lossy(&v).into_owned())
    }
    pub fn set_annotation(&self, node: &str, value: &str) -> Result<(), DbError> {
        self.tree.insert(format!("a/{node}"), value.as_bytes())?;
        self.tree.flush()?;
        Ok(())
    }

    /// Revoke every certificate of `node` issued up to `at` (Unix s).
    /// Returns how many known serials were revoked and whether anything
    /// changed (a serial, or the cut-off moved). Idempotent.
    pub fn revoke(&self, node: &str, at: i64) -> Result<(usize, bool), DbError> {
        let prefix = format!("i/{node}/");
        let mut n = 0;
        for kv in self.tree.scan_prefix(&prefix) {
            let (k, v) = kv?;
            if pair(&v).0 > at {
                continue;
            }
            let serial = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
            self.tree.insert(format!("r/{serial}"), node.as_bytes())?;
            self.tree.remove(k)?;
            n += 1;
        }
        let cutoff = format!("c/{node}");
        let old = self.tree.get(&cutoff)?.map(|v| pair(&[&v[..], &[0; 8]].concat()).0).unwrap_or(i64::MIN);
        let moved = at > old;
        if moved {
            self.tree.insert(cutoff, &at.to_be_bytes())?;
        }
        if n > 0 || moved {
            self.tree.flush()?;
        }
        Ok((n, n > 0 || moved))
    }

    /// Is this certificate of `node` revoked? Unknown serials dated before
    /// the node's last revocation are.
    pub fn is_revoked(&self, node: &str, serial: &[u8], not_before: i64) -> bool {
        let s = crate::tls::hex(serial);
        if self.tree.contains_key(format!("r/{s}")).unwrap_or(true) {
            return true;
        }
        match self.tree.get(format!("c/{node}")) {
            Ok(Some(v)) => {
                let cutoff = pair(&[&v[..], &[0; 8]].concat()).0;
                not_before < cutoff && !self.tree.contains_key(format!("i/{node}/{s}")).unwrap_or(false)
            }
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Does `node` hold a certificate from the registry that has not
    /// expired and is not revoked? (Then the name is taken.)
    pub fn has_live(&self, node: &str) -> Result<bool, DbError> {
        let now = crate::kube::unix_now();
        for kv in self.tree.scan_prefix(format!("i/{node}/")) {
            if pair(&kv?.1).1 > now {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Remember that a Node object named `node` exists (durably: the
    /// revocation that its deletion owes must survive a crash).
    pub fn mark_seen(&self, node: &str) -> Result<(), DbError> {
        let key = format!("s/{node}");
        if !self.tree.contains_key(&key)? {
            self.tree.insert(key, &[])?;
            self.tree.flush()?;
        }
        Ok(())
    }

    /// Nodes once seen whose Node object is not in `present`: deleted
    /// without the deletion having been acted on.
    pub fn seen_but_gone(&self, present: &std::collections::HashSet<String>) -> Result<Vec<String>, DbError> {
        let mut gone = Vec::new();
        for kv in self.tree.scan_prefix("s/") {
            let (k, _) = kv?;
            let node = String::from_utf8_lossy(&k[2..]).into_owned();
            if !present.contains(&node) {
                gone.push(node);
            }
        }
        Ok(gone)
    }

    /// The deletion of `node`'s Node object has been acted on.
    pub fn forget_seen(&self, node: &str) -> Result<(), DbError> {
        self.tree.remove(format!("s/{node}"))?;
        Ok(())
    }

    /// Has the registry ever issued to or revoked `node`?
    pub fn knows(&self, node: &str) -> Result<bool, DbError> {
        Ok(self.tree.scan_prefix(format!("i/{node}/")).next().is_some() || self.tree.contains_key(format!("c/{node}"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_covers_issued_serials_and_older_unknown_ones_only() {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(d.path()).open().unwrap();
        let r = CertRegistry::open(&db).unwrap();
        let now = crate::kube::unix_now();
        r.record("e1", &[1, 2], now + 100).unwrap();
        assert!(r.has_live("e1").unwrap() && r.knows("e1").unwrap() && !r.knows("e2").unwrap());
        assert!(!r.is_revoked("e1", &[1, 2], now - 10));
        assert_eq!(r.revoke("e1", now).unwrap(), (1, true));
        assert_eq!(r.revoke("e1", now).unwrap(), (0, false), "idempotent");
        assert!(r.is_revoked("e1", &[1, 2], now - 10));
        assert!(!r.has_live("e1").unwrap() && r.knows("e1").unwrap());
        // Made offline before the revocation: refused; after it: accepted.
        assert!(r.is_revoked("e1", &[9], now - 5));
        assert!(!r.is_revoked("e1", &[9], now + 5));
        // A new join after the revocation is recorded and accepted, even back-dated.
        r.record("e1", &[3], now + 100).unwrap();
        assert!(!r.is_revoked("e1", &[3], now - 60));
        assert!(!r.is_revoked("e2", &[1, 3], 0), "other nodes are untouched");
        drop(r);
        let r = CertRegistry::open(&db).unwrap();
        assert!(r.is_revoked("e1", &[1, 2], 0), "kept across a restart");
    }

    #[test]
    fn a_node_seen_and_then_missing_is_reported_gone_until_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(d.path()).open().unwrap();
        let r = CertRegistry::open(&db).unwrap();
        r.mark_seen("e1").unwrap();
        r.mark_seen("e2").unwrap();
        r.mark_seen("e2").unwrap();
        let present: std::collections::HashSet<String> = ["e1".to_string()].into();
        assert_eq!(r.seen_but_gone(&present).unwrap(), vec!["e2".to_string()]);
        r.forget_seen("e2").unwrap();
        assert!(r.seen_but_gone(&present).unwrap().is_empty());
        // A node that joined but never had a Node object is never "gone".
        r.record("e3", &[7], crate::kube::unix_now() + 100).unwrap();
        assert!(r.seen_but_gone(&present).unwrap().is_empty());
    }
}
