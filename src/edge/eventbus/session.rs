//! One device client's session once it is logged in (listener.rs accepts
//! and logs it in): its packets in, what the router forwards to it out.
//!
//! A publish goes to hive (the EventBus module, for DeviceTwin and
//! uploads) straight through a bounded queue when the topic is one hive
//! subscribes to, and to the router when any device client subscribes to
//! anything. Both push back: while hive's queue is full, or while a
//! subscriber is too far behind (flow.rs), the session takes no more
//! packets from its client, and a QoS 1 PUBACK (QoS 2 PUBREC) is sent
//! once hive has the message. Meanwhile the session goes on delivering
//! what its own subscriptions are sent, so two clients that publish and
//! subscribe never wait for each other for ever.
//!
//! Owns: the packet loop of one session. Must not interpret payloads.

use std::cell::Cell;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{self as mqtt, Packet, PubAck, PubComp, PubRec, Publish, SubAck, SubscribeReasonCode, UnsubAck};
use rumqttc::mqttbytes::QoS;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::Notification;
use smol::future::FutureExt as _;
use smol::net::TcpStream;

use super::broker::BrokerEvent;
use super::conn::{send, write_within, Conn};
use super::escape::{escape, unescape, unwrap, wrap};
use super::flow;
use super::inflight::Inflight;
use super::listener::{Hive, Limits, Shared, ALL};
use crate::edge::topic_filter::{matches, Subscriptions};

/// One session's parts, borrowed for its life.
pub struct Session<'a> {
    pub conn: &'a mut Conn,
    pub out: &'a mut TcpStream,
    pub tx: &'a mut LinkTx,
    pub rx: &'a mut LinkRx,
    pub keep_alive: Duration,
    pub hive: &'a Hive,
    pub reg: &'a Shared,
    pub limits: &'a Limits,
    /// This session's number (the flow's reader id) and client name.
    pub me: u64,
    pub name: &'a str,
}

enum Ev {
    In(Result<Packet, String>),
    /// hive's queue took the held publish (false: the module is gone).
    Handed(bool),
    Routed(Result<Option<Notification>, String>),
    Resend,
    Idle,
}

/// What one packet from the client asks of the loop.
enum Step {
    Go,
    Bye,
    /// Hand this to hive, then send the acknowledgement (QoS 1 or 2).
    ToHive(BrokerEvent, Option<(QoS, u16)>),
}

type Handing<'a> = Pin<Box<smol::channel::Send<'a, BrokerEvent>>>;

pub async fn run(s: Session<'_>, subs: &mut Subscriptions) -> Result<(), String> {
    let Session { conn, out, tx, rx, keep_alive, hive, reg, limits, me, name } = s;
    let mut inflight = Inflight::default();
    // Keep-alive counts only what the client sends (§3.1.2.10), not what it is sent,
    // and not the time its packets wait for room.
    let last_in = Cell::new(Instant::now());
    let held = Cell::new(false);
    // A publish hive's queue has not taken yet: kept across turns of the
    // loop (dropping the send would lose it), with the ack owed after it.
    let mut handing: Option<(Handing<'_>, Option<(QoS, u16)>)> = None;
    loop {
        let (full, resend_at) = (inflight.is_full(), inflight.next_due());
        let ev = async {
            held.set(true);
            if let Some((send, _)) = handing.as_mut() {
                return Ev::Handed(send.as_mut().await.is_ok());
            }
            if flow::room(&hive.flow).await {
                last_in.set(Instant::now());
            }
            held.set(false);
            Ev::In(conn.read().await)
        }
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
            smol::Timer::at(last_in.get() + keep_alive).await;
            Ev::Idle
        })
        .await;
        match ev {
            Ev::Idle if held.get() => last_in.set(Instant::now()),
            Ev::Idle => return Err("keepalive expired".into()),
            Ev::In(Err(e)) => return if e == "connection closed" { Ok(()) } else { Err(e) },
            Ev::In(Ok(p)) => {
                last_in.set(Instant::now());
                if let Packet::PubAck(a) = p {
                    inflight.ack(a.pkid);
                    continue;
                }
                match from_client(p, out, tx, hive, reg, limits, subs, me, name).await? {
                    Step::Go => {}
                    Step::Bye => return Ok(()),
                    Step::ToHive(ev, ack) => handing = Some((Box::pin(hive.events.send(ev)), ack)),
                }
            }
            Ev::Handed(false) => return Err("the MQTT broker stopped".into()),
            Ev::Handed(true) => {
                if let Some((_, Some(ack))) = handing.take() {
                    acknowledge(out, limits, ack).await?;
                }
            }
            Ev::Resend => {
                let mut buf = BytesMut::new();
                for (pkid, p) in inflight.overdue(Instant::now()) {
                    let mut m = Publish::new(p.topic.clone(), QoS::AtLeastOnce, p.payload.to_vec());
                    (m.pkid, m.dup) = (pkid, true);
                    m.write(&mut buf).map_err(|e| format!("encode: {e}"))?;
                }
                write_within(out, &buf, limits.write_timeout).await?;
            }
            Ev::Routed(Err(e)) => return Err(format!("router link: {e}")),
            Ev::Routed(Ok(Some(first))) => {
                // Take everything the router has handed over already and
                // write it in one go (one syscall, not one per message).
                let mut buf = BytesMut::new();
                let (mut wake, mut taken) = (false, 0);
                let mut next = Some(first);
                let now = Instant::now();
                while let Some(n) = next.take() {
                    match n {
                        Notification::Forward(f) => {
                            taken += flow::size(f.publish.topic.len(), f.publish.payload.len());
                            forward(&f.publish, subs, &mut inflight, &mut buf, now)?;
                        }
                        Notification::Unschedule => wake = true,
                        _ => {}
                    }
                    if buf.len() < 256 << 10 && !inflight.is_full() {
                        next = rx.recv_deadline(Instant::now()).ok().flatten();
                    }
                }
                if taken > 0 {
                    hive.flow.borrow_mut().consumed(me, taken);
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

/// Encode one routed publish for this client if its filters want it.
fn forward(p: &rumqttd::protocol::Publish, subs: &Subscriptions, inflight: &mut Inflight, buf: &mut BytesMut, now: Instant) -> Result<(), String> {
    let topic = unescape(std::str::from_utf8(&p.topic).unwrap_or(""));
    let (published, payload) = unwrap(&p.payload);
    match subs.wants(topic).map(|granted| granted.min(published)) {
        None => {}
        Some(0) => Publish::new(topic, QoS::AtMostOnce, payload.to_vec()).write(buf).map(drop).map_err(|e| format!("encode: {e}"))?,
        Some(_) => {
            let payload = bytes::Bytes::copy_from_slice(payload);
            let mut m = Publish::new(topic, QoS::AtLeastOnce, payload.to_vec());
            m.pkid = inflight.push(topic, payload, now);
            m.write(buf).map_err(|e| format!("encode: {e}"))?;
        }
    }
    Ok(())
}

async fn acknowledge(out: &mut TcpStream, limits: &Limits, (qos, pkid): (QoS, u16)) -> Result<(), String> {
    match qos {
        QoS::AtMostOnce => Ok(()),
        QoS::AtLeastOnce => send(out, limits.write_timeout, |b| PubAck::new(pkid).write(b)).await,
        QoS::ExactlyOnce => send(out, limits.write_timeout, |b| PubRec::new(pkid).write(b)).await,
    }
}

/// Handle one packet from a client.
#[allow(clippy::too_many_arguments)] // the session's parts it needs
async fn from_client(
    p: Packet,
    out: &mut TcpStream,
    tx: &mut LinkTx,
    hive: &Hive,
    reg: &Shared,
    limits: &Limits,
    subs: &mut Subscriptions,
    me: u64,
    name: &str,
) -> Result<Step, String> {
    match p {
        Packet::Publish(p) => {
            if p.topic.len() > limits.max_topic {
                return Err(format!("publish to a topic of {} bytes (at most {})", p.topic.len(), limits.max_topic));
            }
            if p.payload.len() > limits.max_payload {
                return Err(format!("publish of {} bytes to {} (at most {})", p.payload.len(), crate::logging::clip(&p.topic, 100), limits.max_payload));
            }
            if !rumqttd::protocol::valid_topic(&p.topic) {
                return Err(format!("invalid topic `{}`", crate::logging::clip(&p.topic, 100)));
            }
            if hive.flow.borrow().has_readers() {
                // Copies: the codec's payload shares the whole read buffer,
                // which the router's log would otherwise keep alive.
                let (topic, payload) = (escape(&p.topic), wrap(p.qos as u8, &p.payload));
                hive.flow.borrow_mut().appended(flow::size(topic.len(), payload.len()));
                tx.publish(topic, payload).map_err(|e| format!("router: {e}"))?;
            }
            let ack = (p.qos != QoS::AtMostOnce).then_some((p.qos, p.pkid));
            if hive.filters.iter().any(|f| matches(f, &p.topic)) {
                return Ok(Step::ToHive(BrokerEvent::Published(p.topic, p.payload.to_vec()), ack));
            }
            if let Some(ack) = ack {
                acknowledge(out, limits, ack).await?;
            }
        }
        Packet::PubRel(r) => send(out, limits.write_timeout, |b| PubComp::new(r.pkid).write(b)).await?,
        Packet::Subscribe(s) => {
            let mut codes = Vec::with_capacity(s.filters.len());
            for f in &s.filters {
                // QoS 0 or 1 granted (a QoS 2 request gets 1, as MQTT allows).
                let qos = if f.qos == QoS::AtMostOnce { QoS::AtMostOnce } else { QoS::AtLeastOnce };
                let ok = subscribe(tx, hive, reg, limits, subs, &f.path, qos as u8, (me, name));
                codes.push(if ok { SubscribeReasonCode::Success(qos) } else { SubscribeReasonCode::Failure });
            }
            send(out, limits.write_timeout, |b| SubAck::new(s.pkid, codes.clone()).write(b)).await?;
            for (f, c) in s.filters.iter().zip(&codes) {
                if matches!(c, SubscribeReasonCode::Success(_)) {
                    (hive.on_sub)(&f.path);
                }
            }
        }
        Packet::Unsubscribe(u) => {
            for t in &u.topics {
                subs.remove(t);
            }
            if subs.is_empty() {
                hive.flow.borrow_mut().leave(me);
                let _ = tx.unsubscribe(ALL);
            }
            send(out, limits.write_timeout, |b| UnsubAck::new(u.pkid).write(b)).await?;
        }
        Packet::PingReq => send(out, limits.write_timeout, |b| mqtt::PingResp.write(b)).await?,
        Packet::Disconnect => return Ok(Step::Bye),
        Packet::Connect(_) => return Err("second CONNECT".into()),
        _ => {}
    }
    Ok(Step::Go)
}

/// Subscribe to `filter` within the limits; false = refused (logged).
#[allow(clippy::too_many_arguments)] // the session's parts it needs
fn subscribe(tx: &mut LinkTx, hive: &Hive, reg: &Shared, limits: &Limits, subs: &mut Subscriptions, filter: &str, qos: u8, (me, name): (u64, &str)) -> bool {
    if subs.contains(filter) {
        subs.insert(filter, qos);
        return true;
    }
    let short = crate::logging::clip(filter, 100);
    if filter.len() > limits.max_topic || !rumqttd::protocol::valid_filter(filter) {
        reg.borrow_mut().refused(format_args!("MQTT subscription to `{short}` refused: not a valid filter of at most {} bytes", limits.max_topic));
        return false;
    }
    if subs.len() >= limits.max_subs {
        reg.borrow_mut().refused(format_args!("MQTT subscription to `{short}` refused: the client holds {} (max_subscriptions_per_client)", subs.len()));
        return false;
    }
    if subs.is_empty() {
        if tx.subscribe(ALL).is_err() {
            return false;
        }
        hive.flow.borrow_mut().join(me, name);
    }
    subs.insert(filter, qos);
    true
}
