//! EventBus's MQTT 3.1.1 listener for device clients (internal mode). It
//! speaks MQTT itself (rumqttc's packet codec) and attaches each client to
//! rumqttd's router through a local link of its own, so routing, fan-out
//! and the bounded per-filter logs are rumqttd's, while `$hw/...` topics —
//! which rumqttd's own listener refuses — work (escape.rs).
//!
//! Clients never name a router link: each session gets the id `c<slot>`
//! from a pool of `max_clients` slots, so no client id can take over hive's
//! own link (broker.rs) and the router's per-id records stay bounded. A
//! second CONNECT with a client id already connected ends the older session
//! (MQTT 3.1.1 §3.1.4).
//!
//! Subscriptions: rumqttd's router never frees a filter's log, and it
//! matches every new topic against every filter it ever saw; clients that
//! come and go with distinct filters would grow it without end. So a
//! client's filters are kept here, with its session (filter.rs), and its
//! link holds one router subscription, `#`, while it has any: the router
//! keeps a fixed set of filters whatever clients do, and each session
//! forwards only what its own filters match (MQTT's rules, `$` topics
//! included).
//!
//! Limits, each refused as MQTT allows and logged at most once a minute
//! with a count: subscriptions per client (SUBACK failure), topic length (a
//! longer subscription is refused, a longer publish closes the connection),
//! payload size (exact), and a client that stops reading for `keep_alive`
//! (or 30 s) loses its connection. What a client sends after CONNECT is
//! handled in inbound.rs.
//!
//! QoS: publishes are accepted at QoS 0, 1 (PUBACK) and 2 (PUBREC/PUBCOMP);
//! PUBACK means the router has the message (as a broker without persistence
//! answers), not that DeviceTwin has stored it. Subscriptions are granted
//! QoS 0 or 1; a delivery goes at the minimum of the publish's and the
//! subscription's QoS (§3.8.4), QoS 1 with a window of unacknowledged
//! messages and DUP resends of late ones (inflight.rs). Sessions are clean
//! (a disconnect drops what was in flight); no retained messages. Optional
//! username/password. Keep-alive counts what the client sends, not what it
//! is sent.
//!
//! Owns: client connections. Must not interpret payloads.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet, Publish};
use rumqttc::mqttbytes::QoS;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, Notification};
use smol::channel::Sender;
use smol::future::FutureExt as _;
use smol::net::{TcpListener, TcpStream};

use super::conn::{refuse, send, write_within, Conn, WRITE_TIMEOUT};
use super::escape::{unescape, unwrap};
use super::inflight::Inflight;
use super::NAME;
use crate::config::EventBusConfig;
use crate::edge::metrics;
use crate::edge::topic_filter::Subscriptions;
use crate::logging::Throttle;

/// Longest client id accepted, bytes.
const MAX_CLIENT_ID: usize = 256;

/// Called with each filter a client subscribed (DeviceTwin then pushes
/// the desired state to devices that just started listening).
pub type OnSubscribe = Rc<dyn Fn(&str)>;

/// The one router filter every device link subscribes to (see above).
pub(super) const ALL: &str = "#";

/// What all sessions share: link slots, who is connected, the log throttle.
pub(super) struct Registry {
    free_slots: VecDeque<usize>,
    /// MQTT client id → (session number, the way to end that session).
    connected: HashMap<String, (u64, Sender<()>)>,
    next_session: u64,
    refusals: Throttle,
}

impl Registry {
    fn new(max_clients: usize) -> Registry {
        Registry { free_slots: (0..max_clients).collect(), connected: HashMap::new(), next_session: 0, refusals: Throttle::new(Duration::from_secs(60)) }
    }

    /// Log a refusal, at most once a minute (with how many were not logged).
    pub(super) fn refused(&mut self, what: std::fmt::Arguments<'_>) {
        if let Some(n) = self.refusals.allow() {
            log::warn!(target: NAME, "{what} ({n} more refusals not logged in the last minute)");
        }
    }
}

pub(super) type Shared = Rc<RefCell<Registry>>;

/// Accept device clients until the module stops.
pub async fn serve(listener: TcpListener, broker: Rc<Broker>, cfg: Rc<EventBusConfig>, on_sub: OnSubscribe, ex: &smol::LocalExecutor<'_>) {
    let reg: Shared = Rc::new(RefCell::new(Registry::new(cfg.max_clients)));
    let open = Rc::new(Cell::new(0usize));
    let mut failed = Throttle::new(Duration::from_secs(10));
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                // Room for a CONNACK refusal, not for a slow-loris pile-up.
                if open.get() >= cfg.max_clients * 2 + 16 {
                    reg.borrow_mut().refused(format_args!("MQTT connection from {peer} closed: {} connections not yet logged in", open.get()));
                    continue;
                }
                open.set(open.get() + 1);
                let (b, c, r, o, n) = (broker.clone(), cfg.clone(), reg.clone(), on_sub.clone(), open.clone());
                ex.spawn(async move {
                    if let Err(e) = session(tcp, &b, &c, &r, &o).await {
                        log::info!(target: NAME, "MQTT client {peer}: {}", crate::logging::clip(&e, 300));
                    }
                    n.set(n.get() - 1);
                })
                .detach();
            }
            Err(e) => {
                if let Some(n) = failed.allow() {
                    log::warn!(target: NAME, "MQTT accept failed: {e} ({n} more not logged)");
                }
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The limits one session checks.
pub(super) struct Limits {
    pub max_payload: usize,
    pub max_topic: usize,
    pub max_subs: usize,
    pub write_timeout: Duration,
}

async fn session(tcp: TcpStream, broker: &Broker, cfg: &EventBusConfig, reg: &Shared, on_sub: &OnSubscribe) -> Result<(), String> {
    // A packet is its payload plus topic, packet id and header bytes.
    let mut conn = Conn { tcp: tcp.clone(), buf: BytesMut::new(), max: cfg.max_payload_bytes + cfg.max_topic_bytes + 16 };
    let mut out = tcp;
    let first = async { Some(conn.read().await) }.or(async {
        smol::Timer::after(Duration::from_secs(10)).await;
        None
    });
    let connect = match first.await {
        Some(Ok(Packet::Connect(c))) => c,
        Some(Ok(_)) => return Err("first packet was not CONNECT".into()),
        Some(Err(e)) => return Err(e),
        None => return Err("no CONNECT within 10 s".into()),
    };
    if !cfg.username.is_empty() {
        let ok = connect.login.as_ref().is_some_and(|l| l.username == cfg.username && l.password == cfg.password);
        if !ok {
            refuse(&out, ConnectReturnCode::BadUserNamePassword).await;
            return Err(format!("client `{}`: bad username or password", crate::logging::clip(&connect.client_id, 64)));
        }
    }
    if connect.client_id.len() > MAX_CLIENT_ID {
        refuse(&out, ConnectReturnCode::BadClientId).await;
        return Err(format!("client id of {} bytes refused (at most {MAX_CLIENT_ID})", connect.client_id.len()));
    }
    // A slot first: a refused newcomer must not end the session it would replace.
    let slot = reg.borrow_mut().free_slots.pop_front();
    let Some(slot) = slot else {
        refuse(&out, ConnectReturnCode::ServiceUnavailable).await;
        reg.borrow_mut().refused(format_args!(
            "MQTT client `{}` refused: {} clients connected (max_clients)",
            crate::logging::clip(&connect.client_id, 64),
            cfg.max_clients
        ));
        return Err("refused: max_clients reached".into());
    };
    // A client id already connected: that older session ends (takeover).
    // (An anonymous session keeps its own sender: nobody can take it over.)
    let (me, kicked, _anonymous) = {
        let mut r = reg.borrow_mut();
        if let Some((_, kick)) = r.connected.remove(&connect.client_id) {
            kick.close();
        }
        r.next_session += 1;
        let (tx, rx) = smol::channel::bounded::<()>(1);
        let id = r.next_session;
        if connect.client_id.is_empty() {
            (id, rx, Some(tx))
        } else {
            r.connected.insert(connect.client_id.clone(), (id, tx));
            (id, rx, None)
        }
    };
    let name = if connect.client_id.is_empty() { format!("(anonymous, slot {slot})") } else { connect.client_id.clone() };
    let link = broker.link(&format!("c{slot}"));
    let (mut tx, mut rx) = match link {
        Ok(l) => l,
        Err(e) => {
            reg.borrow_mut().free_slots.push_back(slot);
            forget(reg, &connect.client_id, me);
            refuse(&out, ConnectReturnCode::ServiceUnavailable).await;
            return Err(format!("client `{name}`: router refused: {e}"));
        }
    };
    metrics::MQTT_CLIENTS.add(1);
    let r = async {
        send(&mut out, WRITE_TIMEOUT, |b| ConnAck::new(ConnectReturnCode::Success, false).write(b)).await?;
        log::debug!(target: NAME, "MQTT client `{name}` connected (link c{slot})");
        let keep_alive = Duration::from_millis(u64::from(connect.keep_alive) * 1500);
        let limits = Limits {
            max_payload: cfg.max_payload_bytes,
            max_topic: cfg.max_topic_bytes,
            max_subs: cfg.max_subscriptions_per_client,
            write_timeout: if keep_alive.is_zero() { WRITE_TIMEOUT } else { keep_alive.min(WRITE_TIMEOUT) },
        };
        let mut subs = Subscriptions::default();
        let run = run(&mut conn, &mut out, &mut tx, &mut rx, keep_alive, on_sub, reg, &limits, &mut subs);
        run.or(async {
            let _ = kicked.recv().await;
            Err("another connection took over its client id".to_string())
        })
        .await
    }
    .await;
    let bye = rumqttd::protocol::Packet::Disconnect(
        rumqttd::protocol::Disconnect { reason_code: rumqttd::protocol::DisconnectReasonCode::NormalDisconnection },
        None,
    );
    let _ = tx.send(bye).await;
    drop((tx, rx));
    metrics::MQTT_CLIENTS.add(-1);
    reg.borrow_mut().free_slots.push_back(slot);
    forget(reg, &connect.client_id, me);
    r.map_err(|e| format!("client `{name}`: {e}"))
}

/// Forget `client_id`'s entry if it is still session `me`'s.
fn forget(reg: &Shared, client_id: &str, me: u64) {
    let mut r = reg.borrow_mut();
    if r.connected.get(client_id).is_some_and(|(s, _)| *s == me) {
        r.connected.remove(client_id);
    }
}

enum Ev {
    In(Result<Packet, String>),
    Routed(Result<Option<Notification>, String>),
    Resend,
    Idle,
}

#[allow(clippy::too_many_arguments)] // one session's parts, borrowed for its life
async fn run(
    conn: &mut Conn,
    out: &mut TcpStream,
    tx: &mut LinkTx,
    rx: &mut LinkRx,
    keep_alive: Duration,
    on_sub: &OnSubscribe,
    reg: &Shared,
    limits: &Limits,
    subs: &mut Subscriptions,
) -> Result<(), String> {
    let mut inflight = Inflight::default();
    let mut lost = super::lost::Lost::default();
    // Keep-alive counts only what the client sends (§3.1.2.10), not what it is sent.
    let mut last_in = std::time::Instant::now();
    let mut burst = 0u32;
    loop {
        let (full, resend_at) = (inflight.is_full(), inflight.next_due());
        let ev = async { Ev::In(conn.read().await) }
            .or(async {
                // A full QoS 1 window: take nothing more until the client acknowledges.
                if full {
                    std::future::pending::<()>().await;
                }
                Ev::Routed(rx.next().await.map_err(|e| e.to_string()))
            })
            .or(async {
                match resend_at {
                    Some(at) => smol::Timer::at(at).await,
                    None => std::future::pending().await,
                };
                Ev::Resend
            })
            .or(async {
                if keep_alive.is_zero() {
                    std::future::pending::<()>().await;
                }
                smol::Timer::at(last_in + keep_alive).await;
                Ev::Idle
            })
            .await;
        if matches!(ev, Ev::In(_)) {
            last_in = std::time::Instant::now();
            // Fair turns: a publisher with a full socket would otherwise never
            // yield, and subscribers would fall behind the (small) backlog.
            burst = burst.wrapping_add(1);
            if burst % 16 == 0 {
                smol::future::yield_now().await;
            }
        }
        match ev {
            Ev::Idle => return Err("keepalive expired".into()),
            Ev::In(Err(e)) => return if e == "connection closed" { Ok(()) } else { Err(e) },
            Ev::In(Ok(Packet::PubAck(a))) => {
                inflight.ack(a.pkid);
            }
            Ev::Resend => {
                let mut buf = BytesMut::new();
                for (pkid, p) in inflight.overdue(std::time::Instant::now()) {
                    let mut m = Publish::new(p.topic.clone(), QoS::AtLeastOnce, p.payload.to_vec());
                    (m.pkid, m.dup) = (pkid, true);
                    m.write(&mut buf).map_err(|e| format!("encode: {e}"))?;
                }
                write_within(out, &buf, limits.write_timeout).await?;
            }
            Ev::In(Ok(p)) => {
                if !super::inbound::from_client(p, out, tx, on_sub, reg, limits, subs).await? {
                    return Ok(());
                }
            }
            Ev::Routed(Err(e)) => return Err(format!("router link: {e}")),
            Ev::Routed(Ok(Some(first))) => {
                // Take everything the router has handed over already and
                // write it in one go (one syscall, not one per message).
                let mut buf = BytesMut::new();
                let mut wake = false;
                let mut next = Some(first);
                let now = std::time::Instant::now();
                while let Some(n) = next.take() {
                    match n {
                        Notification::Forward(f) => {
                            lost.saw(f.cursor);
                            let topic = unescape(std::str::from_utf8(&f.publish.topic).unwrap_or(""));
                            let (published, payload) = unwrap(&f.publish.payload);
                            let want = subs.wants(topic).map(|granted| granted.min(published));
                            if want.is_some() {
                                metrics::MQTT_SENT.inc();
                            }
                            match want {
                                None => {}
                                Some(0) => {
                                    Publish::new(topic, QoS::AtMostOnce, payload.to_vec()).write(&mut buf).map(drop).map_err(|e| format!("encode: {e}"))?
                                }
                                Some(_) => {
                                    let payload = bytes::Bytes::copy_from_slice(payload);
                                    let mut m = Publish::new(topic, QoS::AtLeastOnce, payload.to_vec());
                                    m.pkid = inflight.push(topic, payload, now);
                                    m.write(&mut buf).map_err(|e| format!("encode: {e}"))?;
                                }
                            }
                        }
                        Notification::Unschedule => wake = true,
                        _ => {}
                    }
                    if buf.len() < 256 << 10 && !inflight.is_full() {
                        next = rx.recv_deadline(std::time::Instant::now()).ok().flatten();
                    }
                }
                write_within(out, &buf, limits.write_timeout).await?;
                if wake {
                    rx.wake().await.map_err(|e| e.to_string())?;
                }
            }
            Ev::Routed(Ok(None)) => {}
        }
    }
}
