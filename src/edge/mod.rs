//! The edge role: which modules exist and how they are built from config.
//! Each module lives in its own file or folder here, named as KubeEdge names
//! it (hub.rs is EdgeHub, meta/ is MetaManager, twin/ is DeviceTwin, ...);
//! their router names are in names.rs.

#[cfg(feature = "dmi")]
pub mod dmi;
#[cfg(feature = "edged")]
pub mod edged;
#[cfg(feature = "eventbus")]
pub mod eventbus;
pub mod hub;
pub mod join;
pub mod meta;
pub mod metrics;
pub mod names;
pub mod outbox;
pub mod servicebus;
pub mod topic_filter;
pub mod twin;

use crate::config::{EdgeConfig, EdgeModule};
use crate::core::{Module, Router};

/// The edge's two databases. The cache (MetaManager's objects, DeviceTwin's
/// twins) can be rebuilt from the cloud; the outbox holds what only this
/// edge knows (reports not yet applied by the cloud), so it lives in a file
/// of its own and a corrupt cache never takes it along.
pub struct Databases {
    pub cache: sled::Db,
    pub outbox: sled::Db,
}

/// Open (verifying, rebuilding if corrupt) both databases under `data_dir`:
/// `db` (the cache) and `outbox`. An outbox left in the cache by an older
/// hive is moved into its own file first.
pub fn open_databases(data_dir: &std::path::Path, cache_bytes: u64) -> Result<Databases, crate::store::DbError> {
    let cache = crate::store::open_or_rebuild(data_dir, "db", cache_bytes, |db| meta::MetaStore::open_sealed(db, data_dir)?.verify())?;
    let outbox = crate::store::open_or_rebuild(data_dir, "outbox", (cache_bytes / 4).max(256 << 10), outbox::Outbox::verify)?;
    outbox::Outbox::adopt_legacy(&cache, &outbox)?;
    Ok(Databases { cache, outbox })
}

/// This node's name: the configured one, else the one in the node certificate.
fn node_name(cfg: &EdgeConfig) -> String {
    if !cfg.node_name.is_empty() {
        return cfg.node_name.clone();
    }
    let cert = hub::Credentials::in_dir(&cfg.data_dir).cert;
    crate::tls::node_name_of_pem(&cert).unwrap_or_default()
}

fn limits(max_connections: usize, idle_timeout_s: u64) -> crate::http::Limits {
    crate::http::Limits { max_connections, header_timeout: std::time::Duration::from_secs(idle_timeout_s) }
}

/// Build the modules the config lists, in order.
pub fn modules(cfg: &EdgeConfig, _router: &Router, dbs: &Databases) -> Result<Vec<Box<dyn Module>>, String> {
    let db = &dbs.cache;
    crate::metrics::summary::set(metrics::summary);
    let mut out: Vec<Box<dyn Module>> = Vec::new();
    // Streams the cloud opens (logs -f, exec, attach): EdgeHub accepts, Edged serves.
    let (streams_tx, streams_rx) = smol::channel::bounded(16);
    let _ = &streams_rx;
    for m in &cfg.modules {
        match m {
            EdgeModule::EdgeHub => out.push(Box::new(hub::EdgeHub::new(
                cfg.edgehub.clone(),
                cfg.data_dir.clone(),
                cfg.node_name.clone(),
                dbs.outbox.clone(),
                streams_tx.clone(),
                cfg.join.clone(),
            ))),
            EdgeModule::MetaManager => out.push(Box::new(meta::MetaManager::new(
                db.clone(),
                cfg.data_dir.clone(),
                cfg.metaserver.listen,
                limits(cfg.metaserver.max_connections, cfg.metaserver.idle_timeout_s),
            ))),
            #[cfg(feature = "edged")]
            EdgeModule::Edged => out.push(Box::new(edged::Edged::new(cfg.edged.clone(), cfg.data_dir.clone(), node_name(cfg), streams_rx.clone()))),
            EdgeModule::ServiceBus => {
                out.push(Box::new(servicebus::ServiceBus::new(std::time::Duration::from_millis(cfg.servicebus.timeout_ms), cfg.servicebus.max_body_bytes)))
            }
            EdgeModule::DeviceTwin => out.push(Box::new(twin::DeviceTwin::new(db.clone(), node_name(cfg)))),
            #[cfg(feature = "dmi")]
            EdgeModule::Dmi => out.push(Box::new(dmi::Dmi::new(cfg.dmi.socket.clone(), db.clone()))),
            #[cfg(feature = "eventbus")]
            EdgeModule::EventBus => out.push(Box::new(eventbus::EventBus::new(cfg.eventbus.clone(), node_name(cfg)))),
            // Refused by config checks already (crate::features); kept as an
            // error should a caller build modules from an unchecked config.
            #[allow(unreachable_patterns)]
            other => return Err(crate::features::missing_edge_module(*other).unwrap_or_default()),
        }
    }
    Ok(out)
}
