//! A raw MQTT 3.1.1 client over a blocking socket (rumqttc's packet codec),
//! for tests that must send exactly what a hostile or broken client would:
//! any client id, thousands of filters, oversize payloads, never reading.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{self as mqtt, Connect, Packet, Publish, Subscribe, SubscribeFilter, SubscribeReasonCode};
use rumqttc::mqttbytes::QoS;

pub struct Raw {
    pub tcp: TcpStream,
    buf: BytesMut,
    pkid: u16,
}

impl Raw {
    /// Connect and send CONNECT; returns the client and the CONNACK code (0 = accepted).
    pub fn connect(port: u16, client_id: &str, keep_alive_s: u16) -> (Raw, u8) {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("MQTT connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Raw { tcp, buf: BytesMut::new(), pkid: 0 };
        let mut c = Connect::new(client_id);
        c.keep_alive = keep_alive_s;
        r.write(|b| c.write(b));
        let code = match r.read() {
            Some(Packet::ConnAck(a)) => a.code as u8,
            other => panic!("no CONNACK: {other:?}"),
        };
        (r, code)
    }

    pub fn write(&mut self, enc: impl FnOnce(&mut BytesMut) -> Result<usize, rumqttc::mqttbytes::Error>) -> bool {
        let mut b = BytesMut::new();
        enc(&mut b).unwrap();
        self.tcp.write_all(&b).is_ok()
    }

    /// The next packet, or None when the connection is closed (or nothing came within the read timeout).
    pub fn read(&mut self) -> Option<Packet> {
        loop {
            match mqtt::read(&mut self.buf, 1 << 24) {
                Ok(p) => return Some(p),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("bad packet from the broker: {e}"),
            }
            let mut chunk = [0u8; 65536];
            match self.tcp.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Subscribe to `filters` in one SUBSCRIBE; the SUBACK's codes (true = granted).
    pub fn subscribe(&mut self, filters: &[String]) -> Vec<bool> {
        self.subscribe_at(filters, QoS::AtMostOnce).iter().map(|g| g.is_some()).collect()
    }

    /// Subscribe at `qos`; the QoS granted per filter (None = refused).
    pub fn subscribe_at(&mut self, filters: &[String], qos: QoS) -> Vec<Option<QoS>> {
        self.pkid = self.pkid % 60000 + 1;
        let mut s = Subscribe::new_many(filters.iter().map(|f| SubscribeFilter::new(f.clone(), qos)));
        s.pkid = self.pkid;
        assert!(self.write(|b| s.write(b)), "subscribe: connection closed");
        loop {
            match self.read() {
                Some(Packet::SubAck(a)) => {
                    return a.return_codes.iter().map(|c| if let SubscribeReasonCode::Success(q) = c { Some(*q) } else { None }).collect()
                }
                Some(_) => continue,
                None => panic!("no SUBACK"),
            }
        }
    }

    /// Publish at QoS 0; false if the connection is gone.
    pub fn publish(&mut self, topic: &str, payload: &[u8]) -> bool {
        let p = Publish::new(topic, QoS::AtMostOnce, payload.to_vec());
        self.write(|b| p.write(b))
    }

    /// Publish at QoS 1 and wait for the PUBACK; false if none came (closed).
    pub fn publish_acked(&mut self, topic: &str, payload: &[u8]) -> bool {
        self.pkid = self.pkid % 60000 + 1;
        let mut p = Publish::new(topic, QoS::AtLeastOnce, payload.to_vec());
        p.pkid = self.pkid;
        if !self.write(|b| p.write(b)) {
            return false;
        }
        loop {
            match self.read() {
                Some(Packet::PubAck(a)) if a.pkid == p.pkid => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    }

    /// True once the broker has closed this connection (within `secs`).
    pub fn closed_within(&mut self, secs: u64) -> bool {
        super::closed_within(&mut self.tcp, secs)
    }
}

/// RSS of process `pid` in KiB (from /proc).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}
