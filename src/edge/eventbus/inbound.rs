//! What a device client sends during its session, after CONNECT: publishes
//! (checked against the limits, then handed to rumqttd's router with their
//! QoS answered), subscriptions within the per-client limit, unsubscribes,
//! pings and DISCONNECT. Owns nothing: the session's state is passed in by
//! listener.rs, which owns the connection. Must not interpret payloads.

use rumqttc::mqttbytes::v4::{self as mqtt, Packet, PubAck, PubComp, PubRec, SubAck, SubscribeReasonCode, UnsubAck};
use rumqttc::mqttbytes::QoS;
use rumqttd::local::LinkTx;
use smol::net::TcpStream;

use super::conn::send;
use super::escape::{escape, wrap};
use super::listener::{Limits, OnSubscribe, Shared, ALL};
use crate::edge::metrics;
use crate::edge::topic_filter::Subscriptions;

/// Handle one packet from a client; false = it said DISCONNECT.
pub(super) async fn from_client(
    p: Packet,
    out: &mut TcpStream,
    tx: &mut LinkTx,
    on_sub: &OnSubscribe,
    reg: &Shared,
    limits: &Limits,
    subs: &mut Subscriptions,
) -> Result<bool, String> {
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
            // A copy: the codec's payload shares the whole read buffer,
            // which the router's log would otherwise keep alive.
            tx.publish(escape(&p.topic), wrap(p.qos as u8, &p.payload)).map_err(|e| format!("router: {e}"))?;
            metrics::MQTT_RECEIVED.inc();
            match p.qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => send(out, limits.write_timeout, |b| PubAck::new(p.pkid).write(b)).await?,
                QoS::ExactlyOnce => send(out, limits.write_timeout, |b| PubRec::new(p.pkid).write(b)).await?,
            }
        }
        Packet::PubRel(r) => send(out, limits.write_timeout, |b| PubComp::new(r.pkid).write(b)).await?,
        Packet::Subscribe(s) => {
            let mut codes = Vec::with_capacity(s.filters.len());
            for f in &s.filters {
                // QoS 0 or 1 granted (a QoS 2 request gets 1, as MQTT allows).
                let qos = if f.qos == QoS::AtMostOnce { QoS::AtMostOnce } else { QoS::AtLeastOnce };
                let ok = subscribe(tx, reg, limits, subs, &f.path, qos as u8);
                codes.push(if ok { SubscribeReasonCode::Success(qos) } else { SubscribeReasonCode::Failure });
            }
            send(out, limits.write_timeout, |b| SubAck::new(s.pkid, codes.clone()).write(b)).await?;
            for (f, c) in s.filters.iter().zip(&codes) {
                if matches!(c, SubscribeReasonCode::Success(_)) {
                    on_sub(&f.path);
                }
            }
        }
        Packet::Unsubscribe(u) => {
            for t in &u.topics {
                subs.remove(t);
            }
            if subs.is_empty() {
                let _ = tx.unsubscribe(ALL);
            }
            send(out, limits.write_timeout, |b| UnsubAck::new(u.pkid).write(b)).await?;
        }
        Packet::PingReq => send(out, limits.write_timeout, |b| mqtt::PingResp.write(b)).await?,
        Packet::Disconnect => return Ok(false),
        Packet::Connect(_) => return Err("second CONNECT".into()),
        _ => {}
    }
    Ok(true)
}

/// Subscribe to `filter` within the limits; false = refused (logged).
fn subscribe(tx: &mut LinkTx, reg: &Shared, limits: &Limits, subs: &mut Subscriptions, filter: &str, qos: u8) -> bool {
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
    if subs.is_empty() && tx.subscribe(ALL).is_err() {
        return false;
    }
    subs.insert(filter, qos);
    true
}
