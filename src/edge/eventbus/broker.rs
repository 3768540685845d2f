//! The internal broker: rumqttd 0.20's router in this process (on its own
//! thread), with small limits set on purpose (an edge board has little
//! memory). Device clients reach it through EventBus's own listener
//! (listener.rs), hive's modules through a local link of their own — never
//! a TCP connection. rumqttd's network listener is not used: it refuses
//! the `$hw/...` topics KubeEdge devices use.
//!
//! Owns: the router's configuration and hive's link. Must not interpret
//! messages. Known trap: a link stalls after ~200 messages unless `wake()`
//! is called on every `Unschedule` notice (done in `next`).

use std::rc::Rc;

use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, Config, Notification, RouterConfig};

use super::escape::{escape, unescape};
use crate::config::EventBusConfig;

pub struct Internal {
    tx: LinkTx,
    rx: LinkRx,
    pub broker: Rc<Broker>,
}

/// One log segment: room for the largest payload twice, at least 64 KiB.
fn segment(cfg: &EventBusConfig) -> usize {
    (cfg.max_payload_bytes * 2).max(64 << 10)
}

fn config(cfg: &EventBusConfig) -> Config {
    Config {
        id: 0,
        router: RouterConfig {
            // Device clients, plus hive's own link.
            max_connections: cfg.max_clients + 1,
            max_outgoing_packet_count: 200,
            // Per subscription filter, at most max_segment_size x max_segment_count retained.
            max_segment_size: segment(cfg),
            max_segment_count: (cfg.max_backlog_bytes / segment(cfg)).max(2),
            ..Default::default()
        },
        ..Default::default()
    }
}

impl Internal {
    /// Start the router and create and subscribe hive's link.
    pub fn start(cfg: &EventBusConfig, filters: &[&str]) -> Result<Internal, String> {
        let broker = Broker::new(config(cfg));
        let (mut tx, rx) = broker.link("hive-eventbus").map_err(|e| format!("broker link: {e}"))?;
        for f in filters {
            tx.subscribe(escape(f)).map_err(|e| format!("subscribe {f}: {e}"))?;
        }
        Ok(Internal { tx, rx, broker: Rc::new(broker) })
    }

    /// The next message published by a client: (topic, payload).
    pub async fn next(&mut self) -> Result<(String, Vec<u8>), String> {
        loop {
            match self.rx.next().await.map_err(|e| format!("broker link: {e}"))? {
                Some(Notification::Forward(f)) => {
                    let topic = unescape(&String::from_utf8_lossy(&f.publish.topic)).to_string();
                    return Ok((topic, f.publish.payload.to_vec()));
                }
                Some(Notification::Unschedule) => self.rx.wake().await.map_err(|e| format!("broker link: {e}"))?,
                _ => {}
            }
        }
    }

    pub fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.tx.publish(escape(topic), payload).map(|_| ()).map_err(|e| format!("publish {topic}: {e}"))
    }
}
