//! DeviceController: KubeEdge's Device and DeviceModel between the store
//! and the edges.
//! - down: each Device to the node it is placed on, with its DeviceModel
//!   (place.rs), spec only — a desired-value change in the spec is a new
//!   version of the object, which DeviceTwin on the edge turns into a twin
//!   update for the device;
//! - up: twin reports and device state from DeviceTwin into the Device's
//!   status (upstream.rs), for the edge's own devices only.
//!
//! Owns: those two flows. Must not talk to edges itself nor write specs.

pub mod place;
mod upstream;

use std::sync::Arc;

use smol::future::FutureExt as _;

use crate::cloud::nodeset::{merge_watches, NodeSets};
use crate::cloud::store::Store;
use crate::core::Reply;
use crate::core::{Context, Message, Module, ModuleError, ModuleFuture};

pub const NAME: &str = "devicecontroller";

pub struct DeviceController {
    store: Arc<dyn Store + Send + Sync>,
    /// Read once at start: what CloudHub holds of our kinds.
    held: crate::cloud::sync::ObjectSync,
}

impl DeviceController {
    pub fn new(store: Arc<dyn Store + Send + Sync>, held: crate::cloud::sync::ObjectSync) -> DeviceController {
        DeviceController { store, held }
    }
}

impl Module for DeviceController {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn also_groups(&self) -> &'static [&'static str] {
        &["upload"]
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = &*self.store;
            let mut sets = NodeSets::new(NAME, place::KINDS, place::place);
            sets.adopt(self.held.held(&sets.kind_names()).map_err(ModuleError::new)?);
            let ex = smol::LocalExecutor::new();
            let mut events = merge_watches(&ex, sets.load(store).map_err(ModuleError::new)?);
            ctx.ready();
            let main = async {
                loop {
                    sets.sync(&ctx).await?;
                    let ev = async { Err(events.recv().await.ok()) }.or(async { Ok(ctx.recv().await) }).await;
                    match ev {
                        Ok(None) => return Ok(()),
                        Ok(Some(m)) => handle(&ctx, store, m),
                        Err(item) => {
                            if !sets.absorb(item, &events) {
                                log::warn!(target: NAME, "a store watch ended (fell behind); listing again");
                                events = merge_watches(&ex, sets.load(store).map_err(ModuleError::new)?);
                            }
                        }
                    }
                }
            };
            ex.run(main).await
        })
    }
}

/// A report from DeviceTwin on an edge (`node/<name>/<resource>`, op
/// `report`), or an MQTT upload an edge forwarded (group `upload`): those
/// are logged; routing them on by rules (KubeEdge's router) is not built.
fn handle(ctx: &Context, store: &dyn Store, m: Message) {
    if m.group == "upload" {
        log::info!(target: NAME, "upload from {}: {} bytes", m.resource, m.content.len());
        if ctx.router.is_waiting(m.id) {
            let _ = ctx.respond(&m, Reply::Ok.encode());
        }
        return;
    }
    crate::cloud::nodeset::answer_report(ctx, NAME, &m, |node, rest, content| upstream::apply(store, node, rest, content));
}
