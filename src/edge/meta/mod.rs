//! MetaManager: the edge's metadata cache (sled tree `meta`): every object
//! the cloud gave this node, keyed `<namespace>/<kind>/<name>`, with its
//! version. It answers local modules from the cache, above all offline.
//!
//! Owns: the `meta` tree. Must not talk to the cloud itself: EdgeHub hands it
//! downstream changes (`apply`) and asks for the inventory. Requests it
//! answers (operation → reply content):
//! - `apply` (content: bincode `ObjectChange`) → `ok` once stored and flushed;
//! - `inventory` → bincode `Vec<(key, version)>`;
//! - `get` (resource = key) → the object, or `error: not found locally: KEY`;
//! - `list` (resource = a kind, e.g. `device`) → bincode `Vec<ObjectChange>`.
//!
//! Every applied change is also announced to group `metachange` (content:
//! bincode `ObjectChange`; DeviceTwin listens for devices).
//! It also serves the edge-local read API (KubeEdge's MetaServer,
//! server.rs) from the same cache, online or not.

mod health;
mod lookup;
mod server;
mod store;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use smol::future::FutureExt as _;

pub use lookup::{Lookup, LookupError};
pub use server::Watchers;
pub use store::{Change, MetaStore};

use crate::core::Reply;
use crate::core::{Context, Module, ModuleError, ModuleFuture};
use crate::edge::names;
use crate::proto::ObjectChange;
use crate::store::to_bytes;

pub const NAME: &str = crate::edge::names::METAMANAGER;

pub struct MetaManager {
    db: sled::Db,
    data_dir: std::path::PathBuf,
    listen: SocketAddr,
    limits: crate::http::Limits,
}

impl MetaManager {
    pub fn new(db: sled::Db, data_dir: std::path::PathBuf, listen: SocketAddr, limits: crate::http::Limits) -> MetaManager {
        MetaManager { db, data_dir, listen, limits }
    }
}

impl Module for MetaManager {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        names::GROUP_META
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = Rc::new(MetaStore::open_sealed(&self.db, &self.data_dir).map_err(ModuleError::new)?);
            let listener =
                smol::net::TcpListener::bind(self.listen).await.map_err(|e| ModuleError::new(format!("local API cannot listen on {}: {e}", self.listen)))?;
            let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| self.listen.to_string());
            log::info!(target: NAME, "{} objects cached; local API on {bound}", store.len());
            ctx.ready();
            let watchers = Rc::new(RefCell::new(Watchers::default()));
            let lookup = Rc::new(Lookup { store: store.clone(), watchers: watchers.clone(), router: ctx.router.clone() });
            let ex = smol::LocalExecutor::new();
            let api = server::serve(listener, &ex, lookup.clone(), self.limits);
            let messages = handle_messages(&ctx, &ex, &store, &lookup);
            // The seal follows the cache at most a second behind; exactly at a clean stop.
            let reseal = async {
                loop {
                    smol::Timer::after(std::time::Duration::from_secs(1)).await;
                    if let Err(e) = store.reseal(false) {
                        log::warn!(target: NAME, "cache seal: {e}");
                    }
                }
            };
            ex.run(messages.or(api).or(reseal)).await;
            watchers.borrow_mut().close_all();
            if let Err(e) = store.flush_and_reseal().await {
                log::warn!(target: NAME, "cache seal: {e}");
            }
            Ok(())
        })
    }
}

async fn handle_messages(ctx: &Context, ex: &smol::LocalExecutor<'_>, store: &MetaStore, lookup: &Rc<Lookup>) {
    while let Some(msg) = ctx.recv().await {
        let reply: Vec<u8> = match msg.operation.as_str() {
            "apply" => match crate::store::from_bytes::<ObjectChange>(&msg.content) {
                Ok(change) => match store.apply(&change).await {
                    Ok(c) => {
                        if let Some(c) = c {
                            lookup.watchers.borrow_mut().notify(&c);
                            announce(ctx, &change);
                        }
                        Reply::Ok.encode()
                    }
                    Err(e) => Reply::error(e),
                },
                Err(e) => Reply::Error(format!("bad apply request: {e}")).encode(),
            },
            "list" => match list(store, &msg.resource) {
                Ok(v) => to_bytes(&v),
                Err(e) => Reply::error(e),
            },
            "inventory" => match store.inventory() {
                Ok(inv) => to_bytes(&inv),
                Err(e) => Reply::error(e),
            },
            "get" => {
                // A miss may wait for the cloud: never hold up the loop (EdgeHub
                // itself waits on `apply` here).
                let (l, router) = (lookup.clone(), ctx.router.clone());
                ex.spawn(async move {
                    let reply = match l.get(&msg.resource).await {
                        Ok(content) => content,
                        Err(LookupError::NotFound(m)) | Err(LookupError::Failed(m)) => Reply::error(m),
                    };
                    if let Err(e) = router.respond(NAME, &msg, reply) {
                        log::warn!(target: NAME, "reply to {} not delivered: {e}", msg.source);
                    }
                })
                .detach();
                continue;
            }
            other => Reply::Error(format!("metamanager does not know operation `{other}`")).encode(),
        };
        if let Err(e) = ctx.respond(&msg, reply) {
            log::warn!(target: NAME, "reply to {} not delivered: {e}", msg.source);
        }
    }
}

/// Every cached object of `kind` (keys `<ns>/<kind>/<name>`).
fn list(store: &MetaStore, kind: &str) -> Result<Vec<ObjectChange>, crate::store::DbError> {
    Ok(store
        .scan("")?
        .into_iter()
        .filter(|(k, _, _)| k.split('/').nth(1) == Some(kind))
        .map(|(key, version, content)| ObjectChange { key, version, content: Some(content) })
        .collect())
}

/// Tell group `metachange` (if anyone listens) what changed.
fn announce(ctx: &Context, change: &ObjectChange) {
    let op = if change.content.is_some() { "upsert" } else { "delete" };
    let m = ctx.message(names::GROUP_METACHANGE, &change.key, op, to_bytes(change));
    match ctx.router.send_to_group(names::GROUP_METACHANGE, m) {
        Ok(_) | Err(crate::core::RouterError::EmptyGroup(_)) => {}
        Err(e) => log::warn!(target: NAME, "change of {} not announced: {e}", change.key),
    }
}
