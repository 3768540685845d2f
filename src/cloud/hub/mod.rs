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
mod join;
mod nodes;
mod revoke;
mod session;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use smol::future::FutureExt as _;
use smol::net::{TcpListener, TcpStream};
use smol::LocalExecutor;

pub use nodes::NodeReady;
use nodes::Nodes;

use std::sync::Arc;

use certs::CertRegistry;

use super::metrics;
use super::store::Store;
use super::stream::Streams;
use super::sync::ObjectSync;
use crate::config::CloudHubConfig;
use crate::core::Reply;
use crate::core::{timeout, Context, Message, Module, ModuleError, ModuleFuture, Router};
use crate::proto::ws::{self, Incoming};
use crate::proto::{Frame, Hello, Welcome, TUNNEL_PATH};
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
            let check = registry.clone();
            let revoked: tls::RevocationCheck = Arc::new(move |der| {
                let (Ok(node), Ok(f)) = (tls::node_name_of(der), tls::cert_fields(der.as_ref())) else { return false };
                check.is_revoked(&node, f.serial, f.not_before)
            });
            let tls = tls::server_config_revocable(&ca.cert_pem, &cert, &key, revoked).map_err(ModuleError::new)?;
            let sync = ObjectSync::open(&self.db).map_err(ModuleError::new)?;
            let listener = TcpListener::bind(self.cfg.listen).await.map_err(|e| ModuleError::new(format!("cannot listen on {}: {e}", self.cfg.listen)))?;
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            log::info!(target: NAME, "listening on {addr} (mutual TLS, CA {})", CertAuthority::cert_path(&self.data_dir).display());
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
            ex.run(from_modules.or(accept_loop).or(liveness).or(join_server).or(revocations)).await;
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
            let _ = crate::store::flush(&self.db).await;
            Ok(())
        })
    }
}

impl Hub {
    fn max_frame(&self) -> usize {
        self.cfg.max_frame_bytes
    }

    /// One connection from TLS handshake to close.
    async fn serve(self: Rc<Self>, acceptor: TlsAcceptor, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let handshake = async {
            let tls = acceptor.accept(tcp).await.map_err(|e| format!("TLS handshake: {e}"))?;
            let der = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).cloned().ok_or_else(|| "no client certificate".to_string())?;
            let node = tls::node_name_of(&der).map_err(|e| e.to_string())?;
            // Checked again here too (the handshake did): never a session for a revoked certificate.
            let fields = tls::cert_fields(der.as_ref()).map_err(|e| format!("node {node}: certificate: {e}"))?;
            if self.registry.is_revoked(&node, fields.serial, fields.not_before) {
                return Err(format!("node {node}: certificate revoked"));
            }
            let serial = crate::tls::hex(fields.serial);
            // Only the tunnel's own path is upgraded; anything else is a 404.
            #[allow(clippy::result_large_err)] // tungstenite's callback type
            let only_tunnel = |req: &async_tungstenite::tungstenite::handshake::server::Request, resp| {
                if req.uri().path() == TUNNEL_PATH {
                    Ok(resp)
                } else {
                    let mut r = async_tungstenite::tungstenite::handshake::server::ErrorResponse::new(Some(format!(
                        "no tunnel at {}; edges connect to {TUNNEL_PATH}",
                        req.uri().path()
                    )));
                    *r.status_mut() = async_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
                    Err(r)
                }
            };
            let mut wsock = async_tungstenite::accept_hdr_async_with_config(tls, only_tunnel, Some(ws::ws_config(self.max_frame())))
                .await
                .map_err(|e| format!("node {node}: websocket upgrade: {e}"))?;
            let hello = match ws::recv(&mut wsock, self.max_frame()).await {
                Incoming::Frame(Frame::Hello(h)) => h,
                Incoming::Frame(_) => return Err(format!("node {node}: first frame was not Hello")),
                Incoming::Bad(why) => {
                    ws::close(&mut wsock, true, &why).await;
                    return Err(format!("node {node}: {why}"));
                }
                Incoming::Alive | Incoming::Closed(_) => return Err(format!("node {node}: closed before Hello")),
            };
            Ok::<_, String>((node, hello, wsock, serial))
        };
        let (node, hello, mut wsock, serial) = match timeout(Duration::from_millis(self.cfg.handshake_timeout_ms), handshake).await {
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                metrics::CONNECTIONS_REFUSED.inc();
                log::warn!(target: NAME, "refused connection from {peer}: {e}");
                return;
            }
            None => {
                metrics::CONNECTIONS_REFUSED.inc();
                log::warn!(target: NAME, "refused connection from {peer}: handshake not done within {} ms", self.cfg.handshake_timeout_ms);
                return;
            }
        };
        let up_applied = match self.sync.up_applied(&node) {
            Ok(n) => n,
            Err(e) => {
                log::error!(target: NAME, "node {node}: {e}");
                ws::close(&mut wsock, false, "cloud storage error").await;
                return;
            }
        };
        let Hello { hive_version, arch, inventory } = hello;
        let twin = self.nodes.borrow_mut().refuse_twin(&node);
        if let Some(log) = twin {
            metrics::CONNECTIONS_REFUSED.inc();
            if log {
                log::error!(target: NAME, "node {node}: refusing a connection from {peer}: its live session was taken over {} times within {} s, so two edges seem to use the certificate of node {node}; give each edge its own (hive cert node NAME)", nodes::MAX_TAKEOVERS, nodes::TAKEOVER_WINDOW.as_secs());
            }
            ws::close(&mut wsock, true, &format!("node {node} is connected from elsewhere with the same certificate")).await;
            return;
        }
        let (ends, was_not_ready, replaced) = self.nodes.borrow_mut().connect(&node, &hive_version, &arch, self.cfg.node_queue);
        metrics::SESSIONS_OPENED.inc();
        if replaced {
            metrics::SESSIONS_REPLACED.inc();
            log::warn!(target: NAME, "node {node}: new connection from {peer} replaces the existing session");
        }
        log::info!(target: NAME, "node {node} connected from {peer} (hive {hive_version}, {arch}, holds {} objects, certificate serial {serial})", inventory.len());
        if was_not_ready {
            self.status_changed(&node, NodeReady::Ready, &hive_version, &arch);
        }
        let generation = ends.generation;
        let (stream_tx, stream_rx) = smol::channel::unbounded();
        let table = self.streams.attach(&node, generation, stream_tx, self.max_frame());
        let welcome = Frame::Welcome(Welcome { hive_version: env!("CARGO_PKG_VERSION").into(), node: node.clone(), up_applied });
        let why = match ws::send(&mut wsock, &welcome, self.max_frame()).await {
            Ok(()) => self.session(&node, &mut wsock, ends, (stream_rx, table), inventory).await,
            Err(e) => Err(e),
        };
        let reason = match &why {
            Ok(r) | Err(r) => r.clone(),
        };
        metrics::SESSIONS_CLOSED.inc(&[metrics::close_reason(why.is_ok(), &reason)]);
        self.streams.detach(&node, generation, &format!("the tunnel to node {node} closed ({reason})"));
        match why {
            Ok(reason) => log::info!(target: NAME, "node {node} disconnected ({peer}): {reason}"),
            Err(reason) => {
                log::warn!(target: NAME, "node {node} ({peer}): closing: {reason}");
                ws::close(&mut wsock, true, &reason).await;
            }
        }
        self.nodes.borrow_mut().disconnect(&node, generation);
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
