//! MetaStore: MetaManager's sled tree `meta`. Keys are
//! `<namespace>/<kind>/<name>` (kind singular and lowercase: `pod`,
//! `configmap`, `secret`, `device`, …; cluster-scoped objects such as the
//! node have an empty namespace: `/node/<name>`); values are the version
//! and the object as the cloud sent it (JSON).
//!
//! Owns: that tree. Must not do I/O beyond sled.

use crate::proto::ObjectChange;
use crate::store::{from_bytes, to_bytes, DbError};

/// What an applied change did, for watchers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added(String, Vec<u8>),
    Modified(String, Vec<u8>),
    /// The last content of the deleted object.
    Deleted(String, Vec<u8>),
}

pub struct MetaStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl MetaStore {
    pub fn open(db: &sled::Db) -> Result<MetaStore, DbError> {
        Ok(MetaStore { db: db.clone(), tree: db.open_tree("meta")? })
    }

    /// Apply a downstream change: an older version never overwrites a newer
    /// one. Returns what changed, if anything. Durable when it returns.
    pub async fn apply(&self, c: &ObjectChange) -> Result<Option<Change>, DbError> {
        let old = self.get(&c.key)?;
        let change = match (&c.content, old) {
            (Some(content), None) => Some(Change::Added(c.key.clone(), content.clone())),
            (Some(content), Some((v, _))) if v < c.version => Some(Change::Modified(c.key.clone(), content.clone())),
            (Some(_), Some(_)) => None,
            (None, Some((_, last))) => Some(Change::Deleted(c.key.clone(), last)),
            (None, None) => None,
        };
        match &change {
            Some(Change::Added(_, content)) | Some(Change::Modified(_, content)) => {
                self.tree.insert(c.key.as_bytes(), to_bytes(&(c.version, content.clone())))?;
            }
            Some(Change::Deleted(..)) => {
                self.tree.remove(c.key.as_bytes())?;
            }
            None => {}
        }
        if change.is_some() {
            crate::store::flush(&self.db).await?;
        }
        Ok(change)
    }

    /// Store many objects at once with one flush (bulk loads; no version checks).
    pub async fn load(&self, changes: &[ObjectChange]) -> Result<(), DbError> {
        for c in changes {
            if let Some(content) = &c.content {
                self.tree.insert(c.key.as_bytes(), to_bytes(&(c.version, content.clone())))?;
            }
        }
        crate::store::flush(&self.db).await
    }

    pub fn get(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>, DbError> {
        match self.tree.get(key.as_bytes())? {
            Some(v) => Ok(Some(from_bytes(&v)?)),
            None => Ok(None),
        }
    }

    /// Every (key, version, content) whose key starts with `prefix`.
    pub fn scan(&self, prefix: &str) -> Result<Vec<(String, u64, Vec<u8>)>, DbError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let (version, content): (u64, Vec<u8>) = from_bytes(&v)?;
            out.push((String::from_utf8_lossy(&k).into_owned(), version, content));
        }
        Ok(out)
    }

    pub fn inventory(&self) -> Result<Vec<(String, u64)>, DbError> {
        Ok(self.scan("")?.into_iter().map(|(k, v, _)| (k, v)).collect())
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Every entry decodes (run at start; a failure means a corrupt cache).
    pub fn verify(&self) -> Result<(), DbError> {
        for item in self.tree.iter() {
            let (k, v) = item?;
            from_bytes::<(u64, Vec<u8>)>(&v).map_err(|e| DbError::Io(format!("meta entry `{}`: {e}", String::from_utf8_lossy(&k))))?;
        }
        Ok(())
    }
}
