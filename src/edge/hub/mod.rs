//! EdgeHub: the edge's client of CloudHub.
//!
//! Owns: the connection to the cloud (dialed by transport.rs: websocket
//! or QUIC), keepalive pings, reconnection with exponential backoff and
//! full jitter, the durable outbox, and the messages waiting for the cloud
//! while offline. What a local module sends to `edgehub` goes to the cloud:
//! operation `report` (a state, coalesced by resource) and `event` are
//! durable (stored in the outbox first; a requester is answered
//! `stored <seq>` once they are on disk); anything else is passed through.
//! Downstream objects are handed to MetaManager (`apply`) and acknowledged
//! once stored. Anything else from the cloud goes to the local group it
//! names (replies to their waiters). Streams the cloud opens (logs -f,
//! exec) are multiplexed here (proto/stream.rs) and handed to Edged.
//! Must not interpret message contents.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;

use super::outbox::{Kind, Outbox};
use crate::config::{EdgeHubConfig, JoinConfig};
use crate::core::Reply;
use crate::core::{timeout, Context, Message, Module, ModuleError, ModuleFuture};
use crate::edge::{metrics, names};
use crate::proto::stream::{Accepted, Table};
use crate::proto::ws::{self, Incoming};
use crate::proto::{Frame, Hello, ObjectChange};

/// Durable upstream messages in flight before waiting for the cloud's acks.
pub const UP_WINDOW: usize = 256;

pub const NAME: &str = super::names::EDGEHUB;

mod dial;
mod pending;
mod rotate;
mod transport;
pub use dial::{backoff, load_tls, Credentials};
use pending::Pending;
pub use rotate::validity as cert_validity;
use rotate::Rotation;
use transport::Dialer;

pub struct EdgeHub {
    cfg: EdgeHubConfig,
    data_dir: PathBuf,
    node_name: String,
    db: sled::Db,
    /// Where streams the cloud opens go (Edged serves them).
    streams: Sender<Accepted>,
    /// To join again when the certificate expired while offline.
    join: JoinConfig,
}

impl EdgeHub {
    pub fn new(cfg: EdgeHubConfig, data_dir: PathBuf, node_name: String, db: sled::Db, streams: Sender<Accepted>, join: JoinConfig) -> EdgeHub {
        EdgeHub { cfg, data_dir, node_name, db, streams, join }
    }
}

/// Streams served at once; the cloud's per-node limit is lower by default.
const MAX_STREAMS: usize = 64;

/// The upstream side: the outbox and what of it is on the wire.
struct Up {
    outbox: Outbox,
    /// Highest sequence sent in this session.
    sent_upto: u64,
    /// Sent and not yet acknowledged, oldest first.
    in_flight: VecDeque<u64>,
}

enum End {
    Shutdown,
    Lost(String),
    /// A new certificate is installed: reconnect with it at once.
    Rotated,
}

impl Module for EdgeHub {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        names::GROUP_HUB
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let (node, tls_cfg) = load_tls(&self.data_dir, &self.node_name).map_err(ModuleError::new)?;
            let mut dialer = Dialer::new(&self.cfg, tls_cfg).map_err(ModuleError::new)?;
            let outbox = Outbox::open(&self.db, self.cfg.outbox_max_events).map_err(ModuleError::new)?;
            log::info!(target: NAME, "node {node}: cloud at {}, {} messages in the outbox", dialer.target(&self.cfg), outbox.len());
            ctx.ready();
            let mut up = Up { outbox, sent_upto: 0, in_flight: VecDeque::new() };
            let mut pending = Pending { q: VecDeque::new(), cap: self.cfg.offline_queue, dropped: 0 };
            let mut attempt: u32 = 0;
            let mut bounds = (self.cfg.backoff_min_ms, self.cfg.backoff_max_ms);
            let mut last_rotated = None;
            loop {
                match self.connect(&ctx, &dialer).await {
                    Ok((mut wsock, up_applied)) => {
                        attempt = 0;
                        metrics::CONNECTS.inc();
                        log::info!(target: NAME, "node {node}: connected to cloud {} (cloud applied up to {up_applied})", dialer.target(&self.cfg));
                        let hello = ctx.message(names::GROUP_CONNECTION, "cloud", "connected", Vec::new());
                        match ctx.router.send_to_group(names::GROUP_CONNECTION, hello) {
                            Ok(_) | Err(crate::core::RouterError::EmptyGroup(_)) => {}
                            Err(e) => log::warn!(target: NAME, "connection news not delivered: {e}"),
                        }
                        up.in_flight.clear();
                        up.sent_upto = up_applied;
                        if let Err(e) = up.outbox.welcome(up_applied).await {
                            // Never trim by the cloud's mark what could not be renumbered above it.
                            log::error!(target: NAME, "outbox: {e}; not sending it this time");
                            ws::close(&mut wsock, false, "edge storage error").await;
                            let delay = backoff(attempt, self.cfg.backoff_min_ms, self.cfg.backoff_max_ms);
                            attempt = attempt.saturating_add(1);
                            smol::Timer::after(delay).await;
                            continue;
                        }
                        if let Err(e) = up.outbox.ack(up_applied) {
                            log::error!(target: NAME, "outbox: {e}");
                        }
                        let (stream_tx, stream_rx) = smol::channel::unbounded();
                        let table = Table::new(stream_tx, MAX_STREAMS, self.max_frame());
                        let mut rotation = Rotation::of(&self.data_dir, last_rotated);
                        metrics::CONNECTED.set(1);
                        let end = self.session(&ctx, &mut wsock, &mut pending, &mut up, (stream_rx, &table), (&node, &mut rotation)).await;
                        metrics::CONNECTED.set(0);
                        table.close_all("the tunnel to the cloud closed");
                        match end {
                            End::Shutdown => {
                                ws::close(&mut wsock, false, "edge shutting down").await;
                                return Ok(());
                            }
                            End::Lost(why) => log::warn!(target: NAME, "node {node}: connection to cloud lost: {why}"),
                            End::Rotated => {
                                last_rotated = Some(Instant::now());
                                ws::close(&mut wsock, false, "certificate rotated").await;
                                match load_tls(&self.data_dir, &node) {
                                    Ok((_, cfg)) => match Dialer::new(&self.cfg, cfg) {
                                        Ok(d) => dialer = d,
                                        Err(e) => log::error!(target: NAME, "node {node}: the rotated certificate does not load: {e}"),
                                    },
                                    Err(e) => log::error!(target: NAME, "node {node}: the rotated certificate does not load: {e}"),
                                }
                                continue;
                            }
                        }
                    }
                    Err(e) => {
                        metrics::CONNECT_FAILURES.inc();
                        if let Some((why, min, max)) = rotate::diagnose(&e, &self.data_dir) {
                            log::error!(target: NAME, "node {node}: cannot connect to cloud {}: {why}", dialer.target(&self.cfg));
                            if let Some(cfg) = rotate::rejoin(&self.data_dir, &self.join, &node, &e).await {
                                match Dialer::new(&self.cfg, cfg) {
                                    Ok(d) => dialer = d,
                                    Err(e) => log::error!(target: NAME, "node {node}: the new certificate does not load: {e}"),
                                }
                                attempt = 0;
                                continue;
                            }
                            bounds = (min, max);
                        } else {
                            log::warn!(target: NAME, "node {node}: cannot connect to cloud {}: {e}", dialer.target(&self.cfg));
                        }
                    }
                }
                let delay = backoff(attempt, bounds.0, bounds.1);
                bounds = (self.cfg.backoff_min_ms, self.cfg.backoff_max_ms);
                attempt = attempt.saturating_add(1);
                log::debug!(target: NAME, "reconnecting in {} ms (attempt {attempt})", delay.as_millis());
                // Keep taking messages for the cloud while waiting.
                let until = Instant::now() + delay;
                loop {
                    let wait = async {
                        smol::Timer::at(until).await;
                        None
                    };
                    let msg = async { Some(ctx.recv().await) };
                    match msg.or(wait).await {
                        None => break,
                        Some(Some(m)) => {
                            if let Some(m) = store_durable(&ctx, &mut up, m).await {
                                if m.operation == "query" && ctx.router.is_waiting(m.id) {
                                    // Nobody to ask while offline: say so at once.
                                    let _ = ctx.respond(&m, Reply::error("the cloud is unreachable"));
                                } else {
                                    pending.push(m);
                                }
                            }
                        }
                        Some(None) => return Ok(()),
                    }
                }
            }
        })
    }
}

type Wss = crate::proto::link::Link;

impl EdgeHub {
    fn max_frame(&self) -> usize {
        self.cfg.max_frame_bytes
    }

    async fn connect(&self, ctx: &Context, dialer: &Dialer) -> Result<(Wss, u64), String> {
        let inventory = inventory(ctx).await?;
        let go = async {
            let mut wsock = dialer.dial(&self.cfg).await?;
            let hello = Frame::Hello(Hello { hive_version: env!("CARGO_PKG_VERSION").into(), arch: std::env::consts::ARCH.into(), inventory });
            ws::send(&mut wsock, &hello, self.max_frame()).await?;
            match ws::recv(&mut wsock, self.max_frame()).await {
                Incoming::Frame(Frame::Welcome(w)) => Ok((wsock, w.up_applied)),
                Incoming::Frame(_) => Err("cloud answered Hello with something else".into()),
                Incoming::Closed(why) | Incoming::Bad(why) => Err(why),
                Incoming::Alive => Err("no Welcome".into()),
            }
        };
        timeout(Duration::from_millis(self.cfg.connect_timeout_ms), go)
            .await
            .unwrap_or_else(|| Err(format!("not connected within {} ms", self.cfg.connect_timeout_ms)))
    }

    async fn session(
        &self,
        ctx: &Context,
        wsock: &mut Wss,
        pending: &mut Pending,
        up: &mut Up,
        streams: (Receiver<Frame>, &Arc<Table>),
        rotation: (&str, &mut Rotation),
    ) -> End {
        let (stream_out, table) = streams;
        let (node, rotation) = rotation;
        while let Some(m) = pending.q.pop_front() {
            if let Err(e) = ws::send(wsock, &Frame::Message(m.clone()), self.max_frame()).await {
                pending.q.push_front(m);
                return End::Lost(e);
            }
        }
        let ping_every = Duration::from_secs(self.cfg.ping_interval_s);
        let mut last_heard = Instant::now();
        let mut next_ping = Instant::now() + ping_every;
        enum Ev {
            In(Incoming),
            Local(Option<Message>),
            Stream(Frame),
            Tick,
            Rotate,
        }
        loop {
            if let Err(e) = self.pump_up(wsock, up).await {
                return End::Lost(e);
            }
            let ev = {
                let incoming = async { Ev::In(ws::recv(wsock, self.max_frame()).await) };
                let local = async { Ev::Local(ctx.recv().await) };
                let tick = async {
                    smol::Timer::at(next_ping).await;
                    Ev::Tick
                };
                let stream = async {
                    match stream_out.recv().await {
                        Ok(f) => Ev::Stream(f),
                        Err(_) => std::future::pending().await,
                    }
                };
                let rotate = async {
                    smol::Timer::at(rotation.due).await;
                    Ev::Rotate
                };
                local.or(incoming).or(stream).or(tick).or(rotate).await
            };
            match ev {
                Ev::In(Incoming::Frame(f)) => {
                    last_heard = Instant::now();
                    match f {
                        Frame::Message(m) => match rotation.on_reply(&self.data_dir, node, &m) {
                            Some(true) => return End::Rotated,
                            Some(false) => {}
                            None => self.on_cloud_message(ctx, m).await,
                        },
                        Frame::Object(change) => {
                            metrics::OBJECTS_RECEIVED.inc();
                            if let Some(ack) = apply_object(ctx, change).await {
                                if let Err(e) = ws::send(wsock, &ack, self.max_frame()).await {
                                    return End::Lost(e);
                                }
                            }
                        }
                        Frame::UpAck { seq } => {
                            while up.in_flight.front().is_some_and(|s| *s <= seq) {
                                up.in_flight.pop_front();
                            }
                            if let Err(e) = up.outbox.ack(seq) {
                                log::error!(target: NAME, "outbox: {e}");
                            }
                        }
                        f @ (Frame::StreamOpen { .. } | Frame::StreamData { .. } | Frame::StreamCredit { .. } | Frame::StreamClose { .. }) => {
                            match table.on_frame(f) {
                                Ok(Some(opened)) => {
                                    if let Err(e) = self.streams.try_send(opened) {
                                        e.into_inner().0.close(Some("this node runs no Edged to serve logs or exec, or it is busy"));
                                    }
                                }
                                Ok(None) => {}
                                Err(why) => {
                                    ws::close(wsock, true, &why).await;
                                    return End::Lost(why);
                                }
                            }
                        }
                        Frame::Hello(_) | Frame::Welcome(_) | Frame::ObjectAck { .. } | Frame::Up { .. } => {
                            return End::Lost("unexpected frame from the cloud".into())
                        }
                    }
                }
                Ev::In(Incoming::Alive) => last_heard = Instant::now(),
                Ev::In(Incoming::Closed(why)) => return End::Lost(why),
                Ev::In(Incoming::Bad(why)) => {
                    ws::close(wsock, true, &why).await;
                    return End::Lost(why);
                }
                Ev::Local(None) => return End::Shutdown,
                Ev::Stream(f) => {
                    if let Err(e) = ws::send(wsock, &f, self.max_frame()).await {
                        return End::Lost(e);
                    }
                }
                Ev::Local(Some(m)) => {
                    let Some(m) = store_durable(ctx, up, m).await else { continue };
                    if let Err(e) = ws::send(wsock, &Frame::Message(m.clone()), self.max_frame()).await {
                        pending.push(m);
                        return End::Lost(e);
                    }
                }
                Ev::Rotate => {
                    if let Some(m) = rotation.request(node) {
                        if let Err(e) = ws::send(wsock, &Frame::Message(m), self.max_frame()).await {
                            return End::Lost(e);
                        }
                    }
                }
                Ev::Tick => {
                    rotation.refresh();
                    if last_heard.elapsed() > ping_every * 3 {
                        return End::Lost(format!("cloud silent for {} s", last_heard.elapsed().as_secs()));
                    }
                    if let Err(e) = ws::ping(wsock).await {
                        return End::Lost(e);
                    }
                    next_ping = Instant::now() + ping_every;
                }
            }
        }
    }

    /// Send outbox entries not yet on the wire, up to UP_WINDOW in flight.
    async fn pump_up(&self, wsock: &mut Wss, up: &mut Up) -> Result<(), String> {
        let room = UP_WINDOW.saturating_sub(up.in_flight.len());
        if room == 0 {
            return Ok(());
        }
        let batch = up.outbox.after(up.sent_upto, room).map_err(|e| format!("outbox: {e}"))?;
        for (seq, msg) in batch {
            ws::send(wsock, &Frame::Up { seq, msg }, self.max_frame()).await?;
            up.sent_upto = seq;
            up.in_flight.push_back(seq);
        }
        Ok(())
    }

    /// Route a message from the cloud to its waiter or its local group.
    async fn on_cloud_message(&self, ctx: &Context, mut m: Message) {
        m.source = NAME.to_string();
        if let Err(e) = ctx.router.route_remote(m) {
            log::warn!(target: NAME, "message from cloud not delivered: {e}");
        }
    }
}

/// Durable messages go into the outbox (the requester, if waiting, hears
/// `stored <seq>`); others are handed back to be sent as they are.
async fn store_durable(ctx: &Context, up: &mut Up, m: Message) -> Option<Message> {
    let kind = match m.operation.as_str() {
        "report" => Kind::State,
        "event" => Kind::Event,
        _ => return Some(m),
    };
    let reply = match up.outbox.put(kind, &m).await {
        Ok(seq) => Reply::Stored(seq),
        Err(e) => {
            log::error!(target: NAME, "outbox: cannot store {} from {}: {e}", m.resource, m.source);
            Reply::Error(e.to_string())
        }
    };
    if ctx.router.is_waiting(m.id) {
        let _ = ctx.respond(&m, reply.encode());
    }
    None
}

/// What MetaManager holds, for the Hello.
async fn inventory(ctx: &Context) -> Result<Vec<(String, u64)>, String> {
    let q = ctx.message(names::GROUP_META, "", "inventory", Vec::new());
    let reply = ctx.request(super::names::METAMANAGER, q).await.map_err(|e| format!("inventory from metamanager: {e}"))?;
    if Reply::error_of(&reply.content).is_some() {
        return Err(format!("inventory from metamanager: {}", reply.content_text()));
    }
    crate::store::from_bytes(&reply.content).map_err(|e| format!("inventory from metamanager: {e}"))
}

/// Hand a downstream object to MetaManager; the ack to send once it is stored.
async fn apply_object(ctx: &Context, change: ObjectChange) -> Option<Frame> {
    let (key, version) = (change.key.clone(), change.version);
    let q = ctx.message(names::GROUP_META, &key, "apply", crate::store::to_bytes(&change));
    match ctx.request(super::names::METAMANAGER, q).await {
        Ok(r) if Reply::parse(&r.content) == Some(Reply::Ok) => Some(Frame::ObjectAck { key, version }),
        Ok(r) => {
            log::error!(target: NAME, "object {key} v{version} not stored: {}", r.content_text());
            None
        }
        Err(e) => {
            log::error!(target: NAME, "object {key} v{version} not stored: {e}");
            None
        }
    }
}
