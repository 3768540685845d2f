//! CloudHub: the websocket-over-mutual-TLS server edges connect to.
//!
//! Owns: the listener, the handshake (node name from the client
//! certificate, never from a frame), one session per node, node liveness,
//! and the router side of the tunnel. Cloud modules talk to a node by
//! sending to `cloudhub` with resource `node/<name>/<resource>`:
//! - operation `upsert` / `delete`: the object `<resource>` joins / leaves
//!   the node's set (ObjectSync); delivery is reliable by inventory sync;
//! - anything else: a message passed through as-is (not durable).
//!
//! A node's streams (logs -f, exec, attach) ride its session; the API opens
//! them through CloudStream (../stream.rs), which the hub keeps current.
//!
//! Upstream, durable edge messages are applied by the first module of the
//! group they name, by request, before the cloud acknowledges them.
//! Must not interpret contents.

pub mod certs;
mod connection;
mod join;
mod nodes;
#[cfg(feature = "quic")]
mod quic;
mod revoke;
mod session;
mod websocket;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use smol::future::FutureExt as _;
use smol::net::TcpListener;
use smol::LocalExecutor;

pub use nodes::NodeReady;
use nodes::Nodes;

use std::sync::Arc;

use certs::CertRegistry;

use super::store::Store;
use super::stream::Streams;
use super::sync::ObjectSync;
use crate::config::CloudHubConfig;
use crate::core::Reply;
use crate::core::{timeout, Context, Message, Module, ModuleError, ModuleFuture, Router};
use crate::proto::Frame;
use crate::tls::{self, CertAuthority};

pub const NAME: &str = "cloudhub";

/// Split `node/<name>/<rest>` into (name, rest).
pub fn split_node_resource(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix("node/")?;
    let (node, rest) = rest.split_once('/')?;
    (!node.is_empty() && !rest.is_empty()).then_some((node, rest))
}

pub struct CloudHub {
    cfg: CloudHubConfig,
    data_dir: PathBuf,
    db: sled::Db,
    streams: Streams,
    store: Arc<dyn Store + Send + Sync>,
}

impl CloudHub {
    pub fn new(cfg: CloudHubConfig, data_dir: PathBuf, db: sled::Db, streams: Streams, store: Arc<dyn Store + Send + Sync>) -> CloudHub {
        CloudHub { cfg, data_dir, db, streams, store }
    }
}

pub(crate) struct Hub {
    cfg: CloudHubConfig,
    router: Router,
    request_timeout: Duration,
    sync: ObjectSync,
    nodes: RefCell<Nodes>,
    streams: Streams,
    /// Signs rotated node certificates; the registry records and revokes them.
    ca: Rc<CertAuthority>,
    registry: CertRegistry,
    /// Per node: when it last rotated (rotations are rate-limited).
    rotated: RefCell<std::collections::HashMap<String, std::time::Instant>>,
    /// Per node: held while an upstream message is applied and recorded.
    apply_locks: RefCell<std::collections::HashMap<String, Rc<smol::lock::Mutex<()>>>>,
}

impl Module for CloudHub {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        "hub"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let ca = Rc::new(CertAuthority::load_or_create(&self.data_dir).map_err(ModuleError::new)?);
            let (cert, key) = ca.issue_server(&self.cfg.server_names).map_err(ModuleError::new)?;
            let registry = CertRegistry::open(&self.db).map_err(ModuleError::new)?;
            // The TLS configs may outlive this module (QUIC's endpoint driver
            // runs on smol's global thread): emptied at shutdown, so they never
            // hold the database open, and refuse everything after.
            let check = Arc::new(std::sync::RwLock::new(Some(registry.clone())));
            let checker = check.clone();
            let revoked: tls::RevocationCheck = Arc::new(move |der| {
                let (Ok(node), Ok(f)) = (tls::node_name_of(der), tls::cert_fields(der.as_ref())) else { return false };
                match checker.read().as_deref() {
                    Ok(Some(r)) => r.is_revoked(&node, f.serial, f.not_before),
                    _ => true,
                }
            });
            let tls = tls::server_config_revocable(&ca.cert_pem, &cert, &key, revoked).map_err(ModuleError::new)?;
            let sync = ObjectSync::open(&self.db).map_err(ModuleError::new)?;
            let listener = TcpListener::bind(self.cfg.listen).await.map_err(|e| ModuleError::new(format!("cannot listen on {}: {e}", self.cfg.listen)))?;
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            log::info!(target: NAME, "listening on {addr} (mutual TLS, CA {})", CertAuthority::cert_path(&self.data_dir).display());
            #[cfg(feature = "quic")]
            let quic = match self.cfg.quic_addr() {
                Some(a) => {
                    let e = quic::bind(&tls, a, Duration::from_secs(self.cfg.node_timeout_s), self.cfg.max_frame_bytes).map_err(ModuleError::new)?;
                    log::info!(target: NAME, "QUIC on UDP {} (mutual TLS 1.3, ALPN hive-tunnel/1)", e.local_addr().map(|a| a.to_string()).unwrap_or_default());
                    Some(e)
                }
                None => None,
            };
            let join_listener =
                match self.cfg.join_addr() {
                    Some(a) => Some(TcpListener::bind(a).await.map_err(|e| {
                        ModuleError::new(format!("cannot listen on {a} for the join endpoint (set cloudhub.join_listen, or join = false): {e}"))
                    })?),
                    None => None,
                };
            if let Some(l) = &join_listener {
                let a = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                log::info!(target: NAME, "join endpoint on {a} (HTTPS; bootstrap tokens; CA pin {})", tls::csr::ca_pin_of_pem(&ca.cert_pem).unwrap_or_default());
            }
            let join_tls = tls::plain_server_config(&cert, &key).map_err(ModuleError::new)?;
            ctx.ready();
            let hub = Rc::new(Hub {
                cfg: self.cfg.clone(),
                router: ctx.router.clone(),
                request_timeout: ctx.request_timeout,
                sync,
                nodes: RefCell::new(Nodes::default()),
                streams: self.streams.clone(),
                ca: ca.clone(),
                registry: registry.clone(),
                rotated: RefCell::default(),
                apply_locks: RefCell::new(Default::default()),
            });
            let join = Rc::new(join::Join::new(self.store.clone(), ca.clone(), registry, self.cfg.node_cert_lifetime_s));
            let ex = LocalExecutor::new();
            let acceptor = TlsAcceptor::from(tls);
            let accept_loop = async {
                loop {
                    match listener.accept().await {
                        Ok((tcp, peer)) => {
                            let hub = hub.clone();
                            let acceptor = acceptor.clone();
                            ex.spawn(async move { hub.serve(acceptor, tcp, peer).await }).detach();
                        }
                        Err(e) => {
                            log::warn!(target: NAME, "accept failed: {e}");
                            smol::Timer::after(Duration::from_millis(100)).await;
                        }
                    }
                }
            };
            let liveness = async {
                loop {
                    smol::Timer::after(Duration::from_secs(1)).await;
                    let gone = hub.nodes.borrow_mut().expire(Duration::from_secs(hub.cfg.node_timeout_s));
                    for (name, version, arch) in gone {
                        hub.status_changed(&name, NodeReady::NotReady, &version, &arch);
                    }
                    hub.nodes.borrow().publish_metrics();
                }
            };
            let from_modules = async {
                while let Some(msg) = ctx.recv().await {
                    hub.on_module_message(&ctx, msg);
                }
            };
            let join_server = async {
                match join_listener {
                    Some(l) => {
                        let handler = Rc::new(move |req, peer| join.clone().serve(req, peer));
                        let limits = crate::http::Limits { max_connections: 256, header_timeout: Duration::from_secs(10) };
                        crate::http::serve_tls(l, join_tls, &ex, handler, NAME, limits).await
                    }
                    None => std::future::pending().await,
                }
            };
            let revocations = revoke::watch_nodes(hub.clone(), self.store.clone());
            let quic_loop = async {
                #[cfg(feature = "quic")]
                if let Some(e) = quic.clone() {
                    quic::accept_loop(hub.clone(), e, &ex).await;
                }
                std::future::pending::<()>().await
            };
            ex.run(from_modules.or(accept_loop).or(liveness).or(join_server).or(revocations).or(quic_loop)).await;
            hub.nodes.borrow_mut().kick_all("cloud shutting down");
            // Let sessions send their close frames.
            let _ = timeout(
                Duration::from_millis(500),
                ex.run(async {
                    while !ex.is_empty() {
                        smol::Timer::after(Duration::from_millis(10)).await;
                    }
                }),
            )
            .await;
            // Sessions still open end here (and with them their QUIC connections).
            drop(ex);
            if let Ok(mut r) = check.write() {
                r.take();
            }
            #[cfg(feature = "quic")]
            if let Some(e) = quic {
                // Edges hear the close at once (not at their idle timeout),
                // and the UDP port is free again when we return.
                e.close(quinn::VarInt::from_u32(crate::proto::quic::CLOSE_NORMAL), b"cloud shutting down");
                if timeout(Duration::from_secs(1), e.wait_idle()).await.is_none() {
                    log::warn!(target: NAME, "QUIC connections still closing after 1 s");
                }
            }
            let _ = crate::store::flush(&self.db).await;
            Ok(())
        })
    }
}

impl Hub {
    fn max_frame(&self) -> usize {
        self.cfg.max_frame_bytes
    }

    /// Tell the rest of the cloud (group `nodestatus`) and the log.
    fn status_changed(&self, node: &str, ready: NodeReady, version: &str, arch: &str) {
        let word = if ready == NodeReady::Ready { "Ready" } else { "NotReady" };
        log::info!(target: NAME, "node {node} is {word}");
        let body = format!(
            "{{\"node\":{node:?},\"ready\":{},\"hiveVersion\":{version:?},\"arch\":{arch:?},\"at\":{}}}",
            ready == NodeReady::Ready,
            crate::core::message::now_ms()
        );
        let msg = Message::new(NAME, "nodestatus", format!("node/{node}/status"), "update", body.into_bytes());
        match self.router.send_to_group("nodestatus", msg) {
            Ok(_) | Err(crate::core::RouterError::EmptyGroup(_)) => {}
            Err(e) => log::warn!(target: NAME, "node {node} status not delivered: {e}"),
        }
    }

    /// A message from a cloud module for a node.
    fn on_module_message(&self, ctx: &Context, mut msg: Message) {
        let Some((node, rest)) = split_node_resource(&msg.resource).map(|(n, r)| (n.to_string(), r.to_string())) else {
            log::warn!(target: NAME, "message {} has resource `{}`, not node/<name>/...: dropped", msg.id, msg.resource);
            return;
        };
        let too_big = msg.content.len() + rest.len() + 64 > self.max_frame();
        let changed = match msg.operation.as_str() {
            "upsert" if too_big => Err(crate::store::DbError::Io(format!(
                "object of {} bytes does not fit a tunnel frame (max_frame_bytes {})",
                msg.content.len(),
                self.max_frame()
            ))),
            "upsert" => self.sync.upsert(&node, &rest, &msg.content).map(|v| v.is_some()),
            "delete" => self.sync.delete(&node, &rest),
            // An edge asks for an object of its own set it does not hold (yet);
            // a cloud module's `query` for a node passes through below.
            "query" if msg.source == NAME && msg.group == "hub" => {
                let reply = match self.sync.get(&node, &rest) {
                    Ok(Some((version, content))) => crate::store::to_bytes(&crate::proto::ObjectChange { key: rest.clone(), version, content: Some(content) }),
                    Ok(None) => Reply::Error(format!("{rest} is not in node {node}'s set")).encode(),
                    Err(e) => Reply::error(e),
                };
                if let Err(e) = ctx.respond(&msg, reply) {
                    log::warn!(target: NAME, "node {node}: query reply not delivered: {e}");
                }
                return;
            }
            _ => {
                msg.resource = rest;
                let nodes = self.nodes.borrow();
                let Some(session) = nodes.session(&node) else {
                    log::debug!(target: NAME, "node {node} is not connected: message {} ({}) not sent", msg.id, msg.resource);
                    if ctx.router.is_waiting(msg.id) {
                        let _ = ctx.respond(&msg, Reply::Error(format!("502 node {node} is not connected")).encode());
                    }
                    return;
                };
                if !session.try_send(Frame::Message(msg)) {
                    log::warn!(target: NAME, "node {node}: send queue full ({}); disconnecting it to resync", self.cfg.node_queue);
                    let _ = session.kick.try_send("send queue full".into());
                }
                return;
            }
        };
        let reply = match changed {
            Ok(changed) => {
                if changed {
                    if let Some(s) = self.nodes.borrow().session(&node) {
                        s.down.borrow_mut().mark(&rest);
                        let _ = s.poke.try_send(());
                    }
                }
                Reply::Ok.encode()
            }
            Err(e) => {
                log::error!(target: NAME, "node {node}: {} {rest}: {e}", msg.operation);
                Reply::error(e)
            }
        };
        if ctx.router.is_waiting(msg.id) {
            let _ = ctx.respond(&msg, reply);
        }
    }
}
