//! ObjectSync: the set of objects each node should hold, with versions, and
//! the last upstream sequence applied per node (KubeEdge's ObjectSync CRD,
//! as sled trees `hub.objects` and `hub.upstream` of the cloud database).
//!
//! Owns: those two trees. Must not know sessions or sockets; CloudHub asks
//! it what to send. Versions come from one cloud-wide counter, so "newer"
//! is well defined across restarts.

use crate::store::{from_bytes, to_bytes, DbError};

pub struct ObjectSync {
    db: sled::Db,
    objects: sled::Tree,
    upstream: sled::Tree,
}

fn obj_key(node: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(node.len() + key.len() + 1);
    k.extend_from_slice(node.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

impl ObjectSync {
    pub fn open(db: &sled::Db) -> Result<ObjectSync, DbError> {
        Ok(ObjectSync { db: db.clone(), objects: db.open_tree("hub.objects")?, upstream: db.open_tree("hub.upstream")? })
    }

    /// Set `key` of `node` to `content`. Returns the new version, or None if
    /// the content is unchanged (nothing to send).
    pub fn upsert(&self, node: &str, key: &str, content: &[u8]) -> Result<Option<u64>, DbError> {
        let k = obj_key(node, key);
        if let Some(old) = self.objects.get(&k)? {
            let (_, c): (u64, Vec<u8>) = from_bytes(&old)?;
            if c == content {
                return Ok(None);
            }
        }
        let version = self.db.generate_id()? + 1;
        self.objects.insert(k, to_bytes(&(version, content.to_vec())))?;
        Ok(Some(version))
    }

    /// Remove `key` from `node`'s set. Returns whether it was there.
    pub fn delete(&self, node: &str, key: &str) -> Result<bool, DbError> {
        Ok(self.objects.remove(obj_key(node, key))?.is_some())
    }

    /// Current version and content of `key` for `node`.
    pub fn get(&self, node: &str, key: &str) -> Result<Option<(u64, Vec<u8>)>, DbError> {
        match self.objects.get(obj_key(node, key))? {
            Some(v) => Ok(Some(from_bytes(&v)?)),
            None => Ok(None),
        }
    }

    /// Every key in `node`'s set.
    pub fn keys(&self, node: &str) -> Result<Vec<String>, DbError> {
        let mut prefix = node.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.objects.scan_prefix(&prefix) {
            let (k, _) = item?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    /// Every `(node, key, content)` whose key (`<ns>/<kind>/<name>`) is of
    /// one of `kinds`: what a controller placed, as CloudHub holds it.
    pub fn held(&self, kinds: &[&str]) -> Result<Vec<(String, String, Vec<u8>)>, DbError> {
        let mut out = Vec::new();
        for item in self.objects.iter() {
            let (k, v) = item?;
            let Some(cut) = k.iter().position(|b| *b == 0) else { continue };
            let key = String::from_utf8_lossy(&k[cut + 1..]).into_owned();
            if kinds.contains(&crate::kube::split_key(&key).1) {
                let (_, content): (u64, Vec<u8>) = from_bytes(&v)?;
                out.push((String::from_utf8_lossy(&k[..cut]).into_owned(), key, content));
            }
        }
        Ok(out)
    }

    /// Last upstream sequence applied for `node` (0 if none).
    pub fn up_applied(&self, node: &str) -> Result<u64, DbError> {
        Ok(match self.upstream.get(node.as_bytes())? {
            Some(v) => from_bytes(&v)?,
            None => 0,
        })
    }

    /// Record that upstream `seq` of `node` is applied (durable after `flush`).
    pub fn set_up_applied(&self, node: &str, seq: u64) -> Result<(), DbError> {
        self.upstream.insert(node.as_bytes(), to_bytes(&seq))?;
        Ok(())
    }

    /// Make every record so far durable.
    pub async fn flush(&self) -> Result<(), DbError> {
        crate::store::flush(&self.db).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_unchanged_content_is_not_a_change_and_all_survives_reopen() {
        let d = tempfile::tempdir().unwrap();
        let (v1, v2);
        {
            let db = crate::store::open(d.path(), 1 << 20).unwrap();
            let s = ObjectSync::open(&db).unwrap();
            v1 = s.upsert("n1", "default/configmap/a", b"1").unwrap().unwrap();
            assert_eq!(s.upsert("n1", "default/configmap/a", b"1").unwrap(), None);
            v2 = s.upsert("n1", "default/configmap/a", b"2").unwrap().unwrap();
            assert!(v2 > v1);
            s.upsert("n2", "default/configmap/a", b"x").unwrap();
            s.set_up_applied("n1", 42).unwrap();
            smol::block_on(s.flush()).unwrap();
        }
        let db = crate::store::open(d.path(), 1 << 20).unwrap();
        let s = ObjectSync::open(&db).unwrap();
        assert_eq!(s.get("n1", "default/configmap/a").unwrap(), Some((v2, b"2".to_vec())));
        assert_eq!(s.keys("n1").unwrap(), vec!["default/configmap/a".to_string()]);
        assert_eq!(s.up_applied("n1").unwrap(), 42);
        assert_eq!(s.up_applied("n2").unwrap(), 0);
        let v3 = s.upsert("n1", "default/configmap/b", b"3").unwrap().unwrap();
        assert!(v3 > v2, "counter survives restart");
        assert!(s.delete("n1", "default/configmap/a").unwrap());
        assert!(!s.delete("n1", "default/configmap/a").unwrap());
    }
}
