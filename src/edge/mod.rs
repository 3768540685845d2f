//! The edge role: which modules exist and how they are built from config.
//! Each module lives in its own file or folder here, named as KubeEdge names
//! it (hub.rs is EdgeHub, meta/ is MetaManager, twin/ is DeviceTwin, ...);
//! their router names are in names.rs.

pub mod edged;
pub mod eventbus;
pub mod hub;
pub mod meta;
pub mod names;
pub mod outbox;
pub mod servicebus;
pub mod twin;

use crate::config::{EdgeConfig, EdgeModule};
use crate::core::{Module, Router};

/// Check the edge database at start: MetaManager's cache and the outbox.
pub fn verify_db(db: &sled::Db) -> Result<(), crate::store::DbError> {
    meta::MetaStore::open(db)?.verify()?;
    outbox::Outbox::verify(db)
}

/// This node's name: the configured one, else the one in the node certificate.
fn node_name(cfg: &EdgeConfig) -> String {
    if !cfg.node_name.is_empty() {
        return cfg.node_name.clone();
    }
    let cert = hub::Credentials::in_dir(&cfg.data_dir).cert;
    crate::tls::node_name_of_pem(&cert).unwrap_or_default()
}

/// Build the modules the config lists, in order.
pub fn modules(cfg: &EdgeConfig, _router: &Router, db: &sled::Db) -> Result<Vec<Box<dyn Module>>, String> {
    let mut out: Vec<Box<dyn Module>> = Vec::new();
    for m in &cfg.modules {
        match m {
            EdgeModule::EdgeHub => out.push(Box::new(hub::EdgeHub::new(cfg.edgehub.clone(), cfg.data_dir.clone(), cfg.node_name.clone(), db.clone()))),
            EdgeModule::MetaManager => out.push(Box::new(meta::MetaManager::new(db.clone(), cfg.metaserver.listen))),
            EdgeModule::Edged => out.push(Box::new(edged::Edged::new(cfg.edged.clone(), cfg.data_dir.clone(), node_name(cfg)))),
            EdgeModule::ServiceBus => {
                out.push(Box::new(servicebus::ServiceBus::new(std::time::Duration::from_millis(cfg.servicebus.timeout_ms), cfg.servicebus.max_body_bytes)))
            }
            EdgeModule::DeviceTwin => out.push(Box::new(twin::DeviceTwin::new(db.clone(), node_name(cfg)))),
            EdgeModule::EventBus => out.push(Box::new(eventbus::EventBus::new(cfg.eventbus.clone(), node_name(cfg)))),
        }
    }
    Ok(out)
}
