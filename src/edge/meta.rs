//! MetaManager: the edge's metadata cache (sled tree `meta`): every object
//! the cloud gave this node, keyed `<namespace>/<kind>/<name>`, with its
//! version. It answers local modules from the cache, above all offline.
//!
//! Owns: the `meta` tree. Must not talk to the cloud itself: EdgeHub hands it
//! downstream changes (`apply`) and asks for the inventory. Requests it
//! answers (operation → reply content):
//! - `apply` (content: bincode `ObjectChange`) → `ok` once stored and flushed;
//! - `inventory` → bincode `Vec<(key, version)>`;
//! - `get` (resource = key) → the object, or `error: not found locally: KEY`.

use crate::core::{Context, Module, ModuleError, ModuleFuture};
use crate::proto::ObjectChange;
use crate::store::{from_bytes, to_bytes, DbError};

pub const NAME: &str = "metamanager";

pub struct MetaManager {
    db: sled::Db,
}

impl MetaManager {
    pub fn new(db: sled::Db) -> MetaManager {
        MetaManager { db }
    }
}

/// The cache itself, usable without the module (tests, benches).
pub struct MetaStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl MetaStore {
    pub fn open(db: &sled::Db) -> Result<MetaStore, DbError> {
        Ok(MetaStore { db: db.clone(), tree: db.open_tree("meta")? })
    }

    /// Apply a downstream change: an older version never overwrites a newer one.
    /// Returns whether anything changed. Durable when it returns.
    pub async fn apply(&self, c: &ObjectChange) -> Result<bool, DbError> {
        let changed = match &c.content {
            Some(content) => {
                let newer = match self.tree.get(c.key.as_bytes())? {
                    Some(old) => from_bytes::<(u64, Vec<u8>)>(&old)?.0 < c.version,
                    None => true,
                };
                if newer {
                    self.tree.insert(c.key.as_bytes(), to_bytes(&(c.version, content.clone())))?;
                }
                newer
            }
            None => self.tree.remove(c.key.as_bytes())?.is_some(),
        };
        if changed {
            crate::store::flush(&self.db).await?;
        }
        Ok(changed)
    }

    pub fn get(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>, DbError> {
        match self.tree.get(key.as_bytes())? {
            Some(v) => Ok(Some(from_bytes(&v)?)),
            None => Ok(None),
        }
    }

    pub fn inventory(&self) -> Result<Vec<(String, u64)>, DbError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (k, v) = item?;
            let (version, _): (u64, Vec<u8>) = from_bytes(&v)?;
            out.push((String::from_utf8_lossy(&k).into_owned(), version));
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Every entry decodes (run at start; a failure means a corrupt cache).
    pub fn verify(&self) -> Result<(), DbError> {
        for item in self.tree.iter() {
            let (k, v) = item?;
            from_bytes::<(u64, Vec<u8>)>(&v)
                .map_err(|e| DbError::Io(format!("meta entry `{}`: {e}", String::from_utf8_lossy(&k))))?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

impl Module for MetaManager {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        "meta"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = MetaStore::open(&self.db).map_err(ModuleError::new)?;
            log::info!(target: NAME, "{} objects cached", store.len());
            ctx.ready();
            while let Some(msg) = ctx.recv().await {
                let reply: Vec<u8> = match msg.operation.as_str() {
                    "apply" => match crate::store::from_bytes::<ObjectChange>(&msg.content) {
                        Ok(change) => match store.apply(&change).await {
                            Ok(_) => b"ok".to_vec(),
                            Err(e) => format!("error: {e}").into_bytes(),
                        },
                        Err(e) => format!("error: bad apply request: {e}").into_bytes(),
                    },
                    "inventory" => match store.inventory() {
                        Ok(inv) => to_bytes(&inv),
                        Err(e) => format!("error: {e}").into_bytes(),
                    },
                    "get" => match store.get(&msg.resource) {
                        Ok(Some((_, content))) => content,
                        Ok(None) => format!("error: not found locally: {}", msg.resource).into_bytes(),
                        Err(e) => format!("error: {e}").into_bytes(),
                    },
                    other => format!("error: metamanager does not know operation `{other}`").into_bytes(),
                };
                if let Err(e) = ctx.respond(&msg, reply) {
                    log::warn!(target: NAME, "reply to {} not delivered: {e}", msg.source);
                }
            }
            Ok(())
        })
    }
}
