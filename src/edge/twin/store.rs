//! DeviceTwin's sled tree `twin`: device id (`{namespace}/{name}`) → the
//! device and its twins (JSON). Written before anything is published or
//! reported; EdgeHub's outbox flush (same database) or an explicit flush
//! makes it durable.
//!
//! Owns: that tree. Must not do anything but store and load.

use std::collections::BTreeMap;

use super::model::Device;
use crate::store::DbError;

pub struct TwinStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl TwinStore {
    pub fn open(db: &sled::Db) -> Result<TwinStore, DbError> {
        Ok(TwinStore { db: db.clone(), tree: db.open_tree("twin")? })
    }

    /// Every stored device; an unreadable record is logged and skipped
    /// (the cloud's Device object and the devices rebuild it).
    pub fn load(&self) -> Result<BTreeMap<String, Device>, DbError> {
        let mut out = BTreeMap::new();
        for item in self.tree.iter() {
            let (k, v) = item?;
            match serde_json::from_slice::<Device>(&v) {
                Ok(d) => {
                    out.insert(d.id.clone(), d);
                }
                Err(e) => log::warn!(target: super::NAME, "twin record {} unreadable ({e}); dropped", String::from_utf8_lossy(&k)),
            }
        }
        Ok(out)
    }

    pub fn put(&self, d: &Device) -> Result<(), DbError> {
        let bytes = serde_json::to_vec(d).map_err(|e| DbError::Io(format!("twin {}: {e}", d.id)))?;
        self.tree.insert(d.id.as_bytes(), bytes)?;
        Ok(())
    }

    pub fn remove(&self, id: &str) -> Result<(), DbError> {
        self.tree.remove(id.as_bytes())?;
        Ok(())
    }

    pub async fn flush(&self) -> Result<(), DbError> {
        crate::store::flush(&self.db).await
    }
}
