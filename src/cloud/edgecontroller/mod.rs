//! EdgeController: pods, configmaps, secrets and nodes between the store
//! and the edges.
//! - down: each node's set (its Node, the pods bound to it, the configmaps
//!   and secrets they reference; place.rs) kept equal in CloudHub's
//!   ObjectSync, specs only (nodeset.rs);
//! - up: pod and node status an edge reports (upstream.rs), its own only;
//! - node lifecycle: Ready / NotReady from CloudHub, pods Unknown after a
//!   grace (lifecycle.rs).
//!
//! Owns: those three loops in one module. Must not talk to edges itself
//! (CloudHub does) nor write specs.

mod eviction;
mod lifecycle;
pub mod place;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use smol::future::FutureExt as _;

use crate::cloud::nodeset::{merge_watches, NodeSets};
use crate::cloud::store::Store;
use crate::config::EdgeControllerConfig;
use crate::core::{Context, Message, Module, ModuleError, ModuleFuture};

pub const NAME: &str = "edgecontroller";

pub struct EdgeController {
    store: Arc<dyn Store + Send + Sync>,
    cfg: EdgeControllerConfig,
    /// Read once at start: what CloudHub holds of our kinds.
    held: crate::cloud::sync::ObjectSync,
}

impl EdgeController {
    pub fn new(store: Arc<dyn Store + Send + Sync>, cfg: EdgeControllerConfig, held: crate::cloud::sync::ObjectSync) -> EdgeController {
        EdgeController { store, cfg, held }
    }
}

enum Ev {
    Store(Option<Option<crate::cloud::store::Event>>),
    Msg(Option<Message>),
    Tick,
}

impl Module for EdgeController {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn also_groups(&self) -> &'static [&'static str] {
        &["nodestatus"]
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = &*self.store;
            let mut sets = NodeSets::new(NAME, place::KINDS, place::place);
            sets.adopt(self.held.held(&sets.kind_names()).map_err(ModuleError::new)?);
            let mut life = lifecycle::Lifecycle::start(store, self.cfg.clone()).map_err(ModuleError::new)?;
            let ex = smol::LocalExecutor::new();
            let mut events = merge_watches(&ex, sets.load(store).map_err(ModuleError::new)?);
            ctx.ready();
            let main = async {
                let mut tick = smol::Timer::interval(Duration::from_secs(1));
                loop {
                    sets.sync(&ctx).await?;
                    let ev = async { Ev::Store(events.recv().await.ok()) }
                        .or(async { Ev::Msg(ctx.recv().await) })
                        .or(async {
                            use smol::stream::StreamExt as _;
                            tick.next().await;
                            Ev::Tick
                        })
                        .await;
                    match ev {
                        Ev::Msg(None) => return Ok(()),
                        Ev::Msg(Some(m)) => handle(&ctx, store, &mut life, m),
                        Ev::Tick => life.tick(store),
                        Ev::Store(item) => {
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

/// A message for EdgeController: a node status change from CloudHub, or a
/// status report from an edge (`node/<name>/<resource>`, op `report`).
fn handle(ctx: &Context, store: &dyn Store, life: &mut lifecycle::Lifecycle, m: Message) {
    if m.group == "nodestatus" {
        life.on_node_status(store, &m.content);
        return;
    }
    crate::cloud::nodeset::answer_report(ctx, NAME, &m, |node, rest, content| upstream::apply(store, node, rest, content));
}
