//! EventBus's MQTT 3.1.1 listener for device clients (internal mode). It
//! speaks MQTT itself (rumqttc's packet codec) and attaches each client to
//! rumqttd's router through a local link of its own, so routing, fan-out
//! and the bounded per-filter logs are rumqttd's, while `$hw/...` topics —
//! which rumqttd's own listener refuses — work (escape.rs).
//!
//! QoS: publishes are accepted at QoS 0, 1 (PUBACK) and 2 (PUBREC/PUBCOMP);
//! deliveries to clients are QoS 0, as KubeEdge's internal broker does by
//! default. Sessions are clean (no persistent sessions, no retained
//! messages). Optional username/password.
//!
//! Owns: client connections. Must not interpret payloads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{self as mqtt, ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck, SubscribeReasonCode, UnsubAck};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, Notification};
use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};

use super::escape::{escape, unescape};
use super::NAME;
use crate::config::EventBusConfig;

/// Accept device clients until the module stops.
/// Called with each filter a client subscribed (DeviceTwin then pushes
/// the desired state to devices that just started listening).
pub type OnSubscribe = Rc<dyn Fn(&str)>;

pub async fn serve(listener: TcpListener, broker: Rc<Broker>, cfg: Rc<EventBusConfig>, on_sub: OnSubscribe, ex: &smol::LocalExecutor<'_>) {
    let clients = Rc::new(Cell::new(0usize));
    let next_anon = Rc::new(Cell::new(0u64));
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let (b, c, n, a, o) = (broker.clone(), cfg.clone(), clients.clone(), next_anon.clone(), on_sub.clone());
                ex.spawn(async move {
                    if let Err(e) = session(tcp, &b, &c, &n, &a, &o).await {
                        log::info!(target: NAME, "MQTT client {peer}: {e}");
                    }
                })
                .detach();
            }
            Err(e) => {
                log::warn!(target: NAME, "MQTT accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

struct Conn {
    tcp: TcpStream,
    buf: BytesMut,
    max: usize,
}

impl Conn {
    async fn read(&mut self) -> Result<Packet, String> {
        loop {
            match mqtt::read(&mut self.buf, self.max) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(_)) => {}
                Err(e) => return Err(format!("bad MQTT packet: {e}")),
            }
            let mut chunk = [0u8; 4096];
            let n = self.tcp.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

async fn send(tcp: &mut TcpStream, write: impl FnOnce(&mut BytesMut) -> Result<usize, CodecError>) -> Result<(), String> {
    let mut out = BytesMut::new();
    write(&mut out).map_err(|e| format!("encode: {e}"))?;
    tcp.write_all(&out).await.map_err(|e| format!("write: {e}"))
}

async fn session(tcp: TcpStream, broker: &Broker, cfg: &EventBusConfig, clients: &Cell<usize>, anon: &Cell<u64>, on_sub: &OnSubscribe) -> Result<(), String> {
    let mut conn = Conn { tcp: tcp.clone(), buf: BytesMut::new(), max: cfg.max_payload_bytes + 1024 };
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
            return Err(format!("client `{}`: bad username or password", connect.client_id));
        }
    }
    if clients.get() >= cfg.max_clients {
        refuse(&out, ConnectReturnCode::ServiceUnavailable).await;
        return Err(format!("client `{}` refused: {} clients connected (max_clients)", connect.client_id, clients.get()));
    }
    let client_id = if connect.client_id.is_empty() {
        anon.set(anon.get() + 1);
        format!("hive-anonymous-{}", anon.get())
    } else {
        connect.client_id.clone()
    };
    let (mut tx, mut rx) = broker.link(&client_id).map_err(|e| format!("client `{client_id}`: router refused: {e}"))?;
    clients.set(clients.get() + 1);
    send(&mut out, |b| ConnAck::new(ConnectReturnCode::Success, false).write(b)).await?;
    log::debug!(target: NAME, "MQTT client `{client_id}` connected");
    let keep_alive = Duration::from_millis(u64::from(connect.keep_alive) * 1500);
    let r = run(&mut conn, &mut out, &mut tx, &mut rx, keep_alive, on_sub).await;
    clients.set(clients.get().saturating_sub(1));
    let bye = rumqttd::protocol::Packet::Disconnect(
        rumqttd::protocol::Disconnect { reason_code: rumqttd::protocol::DisconnectReasonCode::NormalDisconnection },
        None,
    );
    let _ = tx.send(bye).await;
    r.map_err(|e| format!("client `{client_id}`: {e}"))
}

async fn refuse(out: &TcpStream, code: ConnectReturnCode) {
    let mut o = out.clone();
    let _ = send(&mut o, |b| ConnAck::new(code, false).write(b)).await;
}

enum Ev {
    In(Result<Packet, String>),
    Routed(Result<Option<Notification>, String>),
    Idle,
}

async fn run(conn: &mut Conn, out: &mut TcpStream, tx: &mut LinkTx, rx: &mut LinkRx, keep_alive: Duration, on_sub: &OnSubscribe) -> Result<(), String> {
    loop {
        let ev = async { Ev::In(conn.read().await) }
            .or(async { Ev::Routed(rx.next().await.map_err(|e| e.to_string())) })
            .or(async {
                if keep_alive.is_zero() {
                    std::future::pending::<()>().await;
                }
                smol::Timer::after(keep_alive).await;
                Ev::Idle
            })
            .await;
        match ev {
            Ev::Idle => return Err("keepalive expired".into()),
            Ev::In(Err(e)) => return if e == "connection closed" { Ok(()) } else { Err(e) },
            Ev::In(Ok(p)) => {
                if !from_client(p, out, tx, on_sub).await? {
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
                while let Some(n) = next.take() {
                    match n {
                        Notification::Forward(f) => {
                            let topic = unescape(std::str::from_utf8(&f.publish.topic).unwrap_or(""));
                            Publish::new(topic, QoS::AtMostOnce, f.publish.payload.to_vec()).write(&mut buf).map_err(|e| format!("encode: {e}"))?;
                        }
                        Notification::Unschedule => wake = true,
                        _ => {}
                    }
                    if buf.len() < 256 << 10 {
                        next = rx.recv_deadline(std::time::Instant::now()).ok().flatten();
                    }
                }
                out.write_all(&buf).await.map_err(|e| format!("write: {e}"))?;
                if wake {
                    rx.wake().await.map_err(|e| e.to_string())?;
                }
            }
            Ev::Routed(Ok(None)) => {}
        }
    }
}

/// Handle one packet from a client; false = it said DISCONNECT.
async fn from_client(p: Packet, out: &mut TcpStream, tx: &mut LinkTx, on_sub: &OnSubscribe) -> Result<bool, String> {
    match p {
        Packet::Publish(p) => {
            if !rumqttd::protocol::valid_topic(&p.topic) {
                return Err(format!("invalid topic `{}`", p.topic));
            }
            tx.publish(escape(&p.topic), p.payload).map_err(|e| format!("router: {e}"))?;
            match p.qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => send(out, |b| PubAck::new(p.pkid).write(b)).await?,
                QoS::ExactlyOnce => send(out, |b| PubRec::new(p.pkid).write(b)).await?,
            }
        }
        Packet::PubRel(r) => send(out, |b| PubComp::new(r.pkid).write(b)).await?,
        Packet::Subscribe(s) => {
            let mut codes = Vec::with_capacity(s.filters.len());
            for f in &s.filters {
                if rumqttd::protocol::valid_filter(&f.path) && tx.subscribe(escape(&f.path)).is_ok() {
                    codes.push(SubscribeReasonCode::Success(QoS::AtMostOnce));
                } else {
                    codes.push(SubscribeReasonCode::Failure);
                }
            }
            send(out, |b| SubAck::new(s.pkid, codes).write(b)).await?;
            for f in &s.filters {
                on_sub(&f.path);
            }
        }
        Packet::Unsubscribe(u) => {
            for t in &u.topics {
                let _ = tx.unsubscribe(escape(t));
            }
            send(out, |b| UnsubAck::new(u.pkid).write(b)).await?;
        }
        Packet::PingReq => send(out, |b| mqtt::PingResp.write(b)).await?,
        Packet::Disconnect => return Ok(false),
        Packet::Connect(_) => return Err("second CONNECT".into()),
        _ => {}
    }
    Ok(true)
}
