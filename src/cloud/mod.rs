//! The cloud role: which modules exist and how they are built from config.
//! Each module lives in its own folder here, named as KubeEdge names it
//! (hub/ is CloudHub, edgecontroller/ is EdgeController, scheduler/ the
//! scheduler, api/ the API server, gc/ the garbage collector; controller.rs
//! is the loop the workload controllers share, stream.rs is CloudStream).

pub mod api;
pub mod bootstrap;
pub mod claim;
pub mod controller;
pub mod daemonset;
pub mod deployment;
pub mod devicecontroller;
pub mod edgecontroller;
pub mod events;
pub mod gc;
pub mod hub;
pub mod metrics;
pub mod nodeset;
pub mod replicaset;
pub mod scheduler;
pub mod status;
pub mod store;
pub mod stream;
pub mod sync;

use crate::config::{CloudConfig, CloudModule};

/// The edge group that answers `logs` requests (Edged's router group on the edge).
pub const EDGED_GROUP: &str = "edged";
use crate::core::{Module, Router};

/// Build the modules the config lists, in order.
pub fn modules(cfg: &CloudConfig, _router: &Router, db: &sled::Db) -> Result<Vec<Box<dyn Module>>, String> {
    let mut out: Vec<Box<dyn Module>> = Vec::new();
    crate::metrics::summary::set(metrics::summary);
    let streams = stream::Streams::new(cfg.cloudhub.max_streams_per_node, cfg.cloudhub.max_streams);
    let store: std::sync::Arc<dyn store::Store + Send + Sync> =
        std::sync::Arc::new(store::sled_store::SledStore::open(db, cfg.api.watch_history).map_err(|e| e.to_string())?);
    let held = || sync::ObjectSync::open(db).map_err(|e| format!("cannot open CloudHub's object sets: {e}"));
    for m in &cfg.modules {
        match m {
            CloudModule::ApiServer => {
                out.push(Box::new(api::ApiServer::new(&cfg.api, cfg.data_dir.clone(), cfg.cloudhub.server_names.clone(), store.clone(), streams.clone())))
            }
            CloudModule::EdgeController => out.push(Box::new(edgecontroller::EdgeController::new(store.clone(), cfg.edgecontroller.clone(), held()?))),
            CloudModule::DeviceController => out.push(Box::new(devicecontroller::DeviceController::new(store.clone(), held()?))),
            CloudModule::Scheduler => out.push(Box::new(scheduler::Scheduler::new(store.clone()))),
            CloudModule::DaemonSet => out.push(Box::new(daemonset::controller(store.clone()))),
            CloudModule::ReplicaSet => out.push(Box::new(replicaset::controller(store.clone()))),
            CloudModule::Deployment => out.push(Box::new(deployment::controller(store.clone()))),
            CloudModule::GarbageCollector => out.push(Box::new(gc::controller(store.clone()))),
            CloudModule::CloudHub => {
                out.push(Box::new(hub::CloudHub::new(cfg.cloudhub.clone(), cfg.data_dir.clone(), db.clone(), streams.clone(), store.clone())))
            }
        }
    }
    Ok(out)
}
