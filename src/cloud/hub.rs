//! CloudHub: the websocket-over-mutual-TLS server edges connect to.
//!
//! Owns: the listener, one session per node (a newer connection replaces an
//! older one), the per-node bounded send queue, node liveness (Ready /
//! NotReady) and the translation between tunnel frames and router messages:
//! upstream messages enter the router with resource `node/<name>/<resource>`
//! and source `cloudhub`; cloud modules reach a node by sending to
//! `cloudhub` with that same resource form. The node name always comes from
//! the client certificate, never from a frame. Must not interpret contents.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::TlsAcceptor;
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt as _;
use smol::net::{TcpListener, TcpStream};
use smol::LocalExecutor;

use crate::config::CloudHubConfig;
use crate::core::{timeout, Context, Message, Module, ModuleError, ModuleFuture, Router};
use crate::proto::ws::{self, Incoming};
use crate::proto::{Frame, Hello, Welcome};
use crate::tls::{self, CertAuthority};

pub const NAME: &str = "cloudhub";

/// Split `node/<name>/<rest>` into (name, rest).
pub fn split_node_resource(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix("node/")?;
    let (node, rest) = rest.split_once('/')?;
    (!node.is_empty()).then_some((node, rest))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeReady {
    Ready,
    NotReady,
}

struct Session {
    generation: u64,
    tx: Sender<Frame>,
    kick: Sender<String>,
}

struct NodeState {
    ready: NodeReady,
    last_seen: Instant,
    version: String,
    arch: String,
    session: Option<Session>,
}

#[derive(Default)]
struct Nodes {
    by_name: HashMap<String, NodeState>,
    next_generation: u64,
}

pub struct CloudHub {
    cfg: CloudHubConfig,
    data_dir: PathBuf,
}

impl CloudHub {
    pub fn new(cfg: CloudHubConfig, data_dir: PathBuf) -> CloudHub {
        CloudHub { cfg, data_dir }
    }
}

struct Hub {
    cfg: CloudHubConfig,
    router: Router,
    nodes: RefCell<Nodes>,
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
            let ca = CertAuthority::load_or_create(&self.data_dir).map_err(ModuleError::new)?;
            let (cert, key) = ca.issue_server(&self.cfg.server_names).map_err(ModuleError::new)?;
            let tls = tls::server_config(&ca.cert_pem, &cert, &key).map_err(ModuleError::new)?;
            let listener = TcpListener::bind(self.cfg.listen)
                .await
                .map_err(|e| ModuleError::new(format!("cannot listen on {}: {e}", self.cfg.listen)))?;
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            log::info!(target: NAME, "listening on {addr} (mutual TLS, CA {})", CertAuthority::cert_path(&self.data_dir).display());
            ctx.ready();
            let hub = Rc::new(Hub { cfg: self.cfg.clone(), router: ctx.router.clone(), nodes: RefCell::new(Nodes::default()) });
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
                    hub.check_liveness();
                }
            };
            let downstream = async {
                while let Some(msg) = ctx.recv().await {
                    hub.downstream(msg);
                }
            };
            ex.run(downstream.or(accept_loop).or(liveness)).await;
            hub.close_all("cloud shutting down");
            // Let sessions send their close frames.
            let _ = timeout(Duration::from_millis(500), ex.run(async {
                while !ex.is_empty() {
                    smol::Timer::after(Duration::from_millis(10)).await;
                }
            }))
            .await;
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
            let der = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .cloned()
                .ok_or_else(|| "no client certificate".to_string())?;
            let node = tls::node_name_of(&der).map_err(|e| e.to_string())?;
            let mut wsock = async_tungstenite::accept_async_with_config(tls, Some(ws::ws_config(self.max_frame())))
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
            Ok::<_, String>((node, hello, wsock))
        };
        let (node, hello, mut wsock) = match timeout(Duration::from_millis(self.cfg.handshake_timeout_ms), handshake).await {
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                log::warn!(target: NAME, "refused connection from {peer}: {e}");
                return;
            }
            None => {
                log::warn!(target: NAME, "refused connection from {peer}: handshake not done within {} ms", self.cfg.handshake_timeout_ms);
                return;
            }
        };
        let (generation, rx, kick) = self.register(&node, &hello, peer);
        let welcome = Frame::Welcome(Welcome { hive_version: env!("CARGO_PKG_VERSION").into(), node: node.clone() });
        let why = match ws::send(&mut wsock, &welcome, self.max_frame()).await {
            Ok(()) => self.session(&node, &mut wsock, rx, kick).await,
            Err(e) => Err(e),
        };
        match why {
            Ok(reason) => {
                log::info!(target: NAME, "node {node} disconnected ({peer}): {reason}");
            }
            Err(reason) => {
                log::warn!(target: NAME, "node {node} ({peer}): closing: {reason}");
                ws::close(&mut wsock, true, &reason).await;
            }
        }
        self.unregister(&node, generation);
    }

    /// The steady state of a session. Ok(reason) for an orderly end, Err for a
    /// protocol violation that must be answered with a close frame.
    async fn session<S>(
        &self,
        node: &str,
        wsock: &mut async_tungstenite::WebSocketStream<S>,
        rx: Receiver<Frame>,
        kick: Receiver<String>,
    ) -> Result<String, String>
    where
        S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin,
    {
        enum Ev {
            In(Incoming),
            Out(Option<Frame>),
            Kick(String),
        }
        loop {
            let ev = {
                let incoming = async { Ev::In(ws::recv(wsock, self.max_frame()).await) };
                let out = async { Ev::Out(rx.recv().await.ok()) };
                let kicked = async { Ev::Kick(kick.recv().await.unwrap_or_else(|_| "session replaced".into())) };
                kicked.or(out).or(incoming).await
            };
            match ev {
                Ev::In(Incoming::Frame(f)) => {
                    self.touch(node);
                    self.upstream(node, f)?;
                }
                Ev::In(Incoming::Alive) => self.touch(node),
                Ev::In(Incoming::Closed(why)) => return Ok(why),
                Ev::In(Incoming::Bad(why)) => return Err(why),
                Ev::Out(Some(f)) => ws::send(wsock, &f, self.max_frame()).await.map_err(|e| format!("send: {e}"))?,
                Ev::Out(None) => return Err("session replaced".into()),
                Ev::Kick(why) => {
                    ws::close(wsock, false, &why).await;
                    return Ok(why);
                }
            }
        }
    }

    fn register(&self, node: &str, hello: &Hello, peer: SocketAddr) -> (u64, Receiver<Frame>, Receiver<String>) {
        let (tx, rx) = channel::bounded(self.cfg.node_queue);
        let (kick_tx, kick_rx) = channel::bounded(1);
        let mut nodes = self.nodes.borrow_mut();
        nodes.next_generation += 1;
        let generation = nodes.next_generation;
        let st = nodes.by_name.entry(node.to_string()).or_insert_with(|| NodeState {
            ready: NodeReady::NotReady,
            last_seen: Instant::now(),
            version: String::new(),
            arch: String::new(),
            session: None,
        });
        if let Some(old) = st.session.take() {
            log::warn!(target: NAME, "node {node}: new connection from {peer} replaces the existing session");
            let _ = old.kick.try_send("replaced by a newer connection".into());
        }
        st.session = Some(Session { generation, tx, kick: kick_tx });
        st.last_seen = Instant::now();
        st.version = hello.hive_version.clone();
        st.arch = hello.arch.clone();
        let was = st.ready;
        st.ready = NodeReady::Ready;
        drop(nodes);
        log::info!(target: NAME, "node {node} connected from {peer} (hive {}, {})", hello.hive_version, hello.arch);
        if was != NodeReady::Ready {
            self.status_changed(node, NodeReady::Ready, hello);
        }
        (generation, rx, kick_rx)
    }

    fn unregister(&self, node: &str, generation: u64) {
        let mut nodes = self.nodes.borrow_mut();
        if let Some(st) = nodes.by_name.get_mut(node) {
            if st.session.as_ref().map(|s| s.generation) == Some(generation) {
                st.session = None;
            }
        }
    }

    fn touch(&self, node: &str) {
        if let Some(st) = self.nodes.borrow_mut().by_name.get_mut(node) {
            st.last_seen = Instant::now();
        }
    }

    fn check_liveness(&self) {
        let limit = Duration::from_secs(self.cfg.node_timeout_s);
        let mut gone = Vec::new();
        for (name, st) in self.nodes.borrow_mut().by_name.iter_mut() {
            if st.ready == NodeReady::Ready && st.last_seen.elapsed() > limit {
                st.ready = NodeReady::NotReady;
                if let Some(s) = st.session.take() {
                    let _ = s.kick.try_send(format!("no traffic for {} s", limit.as_secs()));
                }
                gone.push((name.clone(), Hello { hive_version: st.version.clone(), arch: st.arch.clone() }));
            }
        }
        for (name, hello) in gone {
            self.status_changed(&name, NodeReady::NotReady, &hello);
        }
    }

    /// Tell the rest of the cloud (group `nodestatus`) and the log.
    fn status_changed(&self, node: &str, ready: NodeReady, hello: &Hello) {
        let word = if ready == NodeReady::Ready { "Ready" } else { "NotReady" };
        log::info!(target: NAME, "node {node} is {word}");
        let body = format!(
            "{{\"node\":{:?},\"ready\":{},\"hiveVersion\":{:?},\"arch\":{:?},\"at\":{}}}",
            node,
            ready == NodeReady::Ready,
            hello.hive_version,
            hello.arch,
            crate::core::message::now_ms()
        );
        let msg = Message::new(NAME, "nodestatus", format!("node/{node}/status"), "update", body.into_bytes());
        match self.router.send_to_group("nodestatus", msg) {
            Ok(_) | Err(crate::core::RouterError::EmptyGroup(_)) => {}
            Err(e) => log::warn!(target: NAME, "node {node} status not delivered: {e}"),
        }
    }

    /// A frame from `node`.
    fn upstream(&self, node: &str, f: Frame) -> Result<(), String> {
        match f {
            Frame::Message(mut m) => {
                m.resource = format!("node/{node}/{}", m.resource);
                m.source = NAME.to_string();
                let res = if m.parent_id.is_some() {
                    self.router.deliver_reply(m, "")
                } else {
                    let group = m.group.clone();
                    self.router.send_to_group(&group, m).map(|_| ())
                };
                if let Err(e) = res {
                    log::warn!(target: NAME, "node {node}: message not delivered: {e}");
                }
                Ok(())
            }
            Frame::Hello(_) | Frame::Welcome(_) => Err("unexpected handshake frame mid-session".into()),
        }
    }

    /// A message from a cloud module for a node.
    fn downstream(&self, mut msg: Message) {
        let Some((node, rest)) = split_node_resource(&msg.resource).map(|(n, r)| (n.to_string(), r.to_string())) else {
            log::warn!(target: NAME, "message {} has resource `{}`, not node/<name>/...: dropped", msg.id, msg.resource);
            return;
        };
        msg.resource = rest;
        let nodes = self.nodes.borrow();
        let Some(session) = nodes.by_name.get(&node).and_then(|s| s.session.as_ref()) else {
            log::debug!(target: NAME, "node {node} is not connected: message {} ({}) not sent", msg.id, msg.resource);
            return;
        };
        if let Err(e) = session.tx.try_send(Frame::Message(msg)) {
            if e.is_full() {
                log::warn!(target: NAME, "node {node}: send queue full ({}); disconnecting it to resync", self.cfg.node_queue);
                let _ = session.kick.try_send("send queue full".into());
            }
        }
    }

    fn close_all(&self, why: &str) {
        for st in self.nodes.borrow_mut().by_name.values_mut() {
            if let Some(s) = st.session.take() {
                let _ = s.kick.try_send(why.to_string());
            }
        }
    }
}
