//! The edge role: which modules exist and how they are built from config.
//! Each module lives in its own file here (hub.rs is EdgeHub, ...).

pub mod hub;
pub mod meta;
pub mod outbox;

use crate::config::{EdgeConfig, EdgeModule};
use crate::core::{Module, Router};

/// Check the edge database at start: MetaManager's cache and the outbox.
pub fn verify_db(db: &sled::Db) -> Result<(), crate::store::DbError> {
    meta::MetaStore::open(db)?.verify()?;
    outbox::Outbox::verify(db)
}

/// Build the modules the config lists, in order.
pub fn modules(cfg: &EdgeConfig, _router: &Router, db: &sled::Db) -> Result<Vec<Box<dyn Module>>, String> {
    let mut out: Vec<Box<dyn Module>> = Vec::new();
    for m in &cfg.modules {
        match m {
            EdgeModule::EdgeHub => {
                out.push(Box::new(hub::EdgeHub::new(cfg.edgehub.clone(), cfg.data_dir.clone(), cfg.node_name.clone(), db.clone())))
            }
            EdgeModule::MetaManager => out.push(Box::new(meta::MetaManager::new(db.clone(), cfg.metaserver.listen))),
            other => return Err(format!("module {} is not part of this build yet", format!("{other:?}").to_lowercase())),
        }
    }
    Ok(out)
}
