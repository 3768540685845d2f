//! The internal broker: rumqttd 0.20's router in this process, with small
//! limits set on purpose (an edge board has little memory). Device clients
//! reach it through EventBus's own listener (listener.rs), hive's modules
//! through a local link of their own — never a TCP connection. rumqttd's
//! network listener is not used: it refuses the `$hw/...` topics KubeEdge
//! devices use.
//!
//! Everything that talks to the router runs on one thread of its own
//! (`hive-mqtt`): rumqttd's link calls block while its router is busy, and
//! that must never stall the edge's executor (the local API, EdgeHub's
//! pings and acks). The module reaches that thread through bounded
//! channels only.
//!
//! Owns: the router's configuration, hive's link and the broker thread.
//! Must not interpret messages. Known trap: a link stalls after ~200
//! messages unless `wake()` is called on every `Unschedule` notice.

use std::thread::JoinHandle;

use rumqttd::{Broker, Config, Notification, RouterConfig};
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt as _;

use super::escape::{escape, unescape, unwrap, wrap};
use super::listener;
use crate::config::EventBusConfig;

/// The router id of hive's own link. Device links get `c<slot>` ids
/// (listener.rs), so no client id can ever take this one over.
pub const HIVE_LINK: &str = "hive:eventbus";

/// Messages waiting between the module and the broker thread, each way.
const QUEUE: usize = 1024;

/// What the broker thread tells the module.
pub enum BrokerEvent {
    /// A client published (topic, payload) on a topic hive subscribes to.
    Published(String, Vec<u8>),
    /// A device client subscribed to this filter.
    Subscribed(String),
}

pub struct Internal {
    events: Receiver<BrokerEvent>,
    publish: Sender<(String, Vec<u8>)>,
    stop: Sender<()>,
    _thread: JoinHandle<()>,
}

/// One log segment: a quarter of the backlog, between 4 and 256 KiB.
/// rumqttd counts topic + payload + 4 per message, but each one costs
/// ~330 B more (its slot, the properties it keeps inline, two allocation
/// headers), and a filter's segments are never freed once filled: small
/// segments keep what a flood leaves behind small. A message larger than a
/// segment still fits (rumqttd rotates before appending, so it sits alone).
fn segment(cfg: &EventBusConfig) -> usize {
    (cfg.max_backlog_bytes / 4).clamp(4 << 10, 256 << 10)
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
    /// Start the router and the broker thread: hive's link subscribed to
    /// `filters`, device clients served on `tcp`.
    pub fn start(cfg: &EventBusConfig, filters: &[&str], tcp: std::net::TcpListener) -> Result<Internal, String> {
        let (events_tx, events) = channel::bounded(QUEUE);
        let (publish, publish_rx) = channel::bounded::<(String, Vec<u8>)>(QUEUE);
        let (stop, stop_rx) = channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), String>>(1);
        let cfg = cfg.clone();
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let thread = std::thread::Builder::new()
            .name("hive-mqtt".into())
            .spawn(move || {
                let broker = Broker::new(config(&cfg));
                let link = broker.link(HIVE_LINK).map_err(|e| format!("broker link: {e}"));
                let (mut tx, mut rx) = match link {
                    Ok(l) => l,
                    Err(e) => return drop(ready_tx.send(Err(e))),
                };
                for f in &filters {
                    if let Err(e) = tx.subscribe(escape(f)) {
                        return drop(ready_tx.send(Err(format!("subscribe {f}: {e}"))));
                    }
                }
                let tcp = match smol::Async::new(tcp) {
                    Ok(t) => smol::net::TcpListener::from(t),
                    Err(e) => return drop(ready_tx.send(Err(format!("MQTT listener: {e}")))),
                };
                let _ = ready_tx.send(Ok(()));
                let ex = smol::LocalExecutor::new();
                let subs = events_tx.clone();
                let dropped = std::cell::RefCell::new(crate::logging::Throttle::new(std::time::Duration::from_secs(60)));
                let on_sub: listener::OnSubscribe = std::rc::Rc::new(move |f: &str| {
                    // For DeviceTwin's desired-state push; a full queue drops it (counted).
                    if subs.try_send(BrokerEvent::Subscribed(f.to_string())).is_err() {
                        if let Some(n) = dropped.borrow_mut().allow() {
                            log::warn!(target: super::NAME, "subscription to {} not announced to DeviceTwin: the module is {QUEUE} events behind ({n} more dropped)", crate::logging::clip(f, 100));
                        }
                    }
                });
                let broker = std::rc::Rc::new(broker);
                ex.spawn(async move {
                    let sessions = smol::LocalExecutor::new();
                    sessions.run(listener::serve(tcp, broker, std::rc::Rc::new(cfg), on_sub, &sessions)).await
                })
                .detach();
                // hive's publishes: blocking calls, on this thread only.
                ex.spawn(async move {
                    while let Ok((topic, payload)) = publish_rx.recv().await {
                        // QoS 1: a device that subscribed at QoS 1 gets hive's messages (deltas, results) acknowledged.
                        if let Err(e) = tx.publish(escape(&topic), wrap(1, &payload)) {
                            log::warn!(target: super::NAME, "publish {topic}: {e}");
                        }
                    }
                })
                .detach();
                let forward = async move {
                    loop {
                        match rx.next().await {
                            Ok(Some(Notification::Forward(f))) => {
                                let topic = unescape(&String::from_utf8_lossy(&f.publish.topic)).to_string();
                                let (_, payload) = unwrap(&f.publish.payload);
                                if events_tx.send(BrokerEvent::Published(topic, payload.to_vec())).await.is_err() {
                                    return;
                                }
                            }
                            Ok(Some(Notification::Unschedule)) => {
                                if let Err(e) = rx.wake().await {
                                    return log::error!(target: super::NAME, "broker link: {e}");
                                }
                            }
                            Ok(_) => {}
                            Err(e) => return log::error!(target: super::NAME, "broker link: {e}"),
                        }
                    }
                };
                let stopped = async {
                    let _ = stop_rx.recv().await;
                };
                smol::block_on(ex.run(forward.or(stopped)));
            })
            .map_err(|e| format!("cannot start the broker thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Internal { events, publish, stop, _thread: thread }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the broker thread ended while starting".into()),
        }
    }

    /// The next thing the broker has for the module; an error when the
    /// broker thread is gone (the module fails, the role stops).
    pub async fn next(&mut self) -> Result<BrokerEvent, String> {
        self.events.recv().await.map_err(|_| "the MQTT broker stopped".to_string())
    }

    /// Hand a publish to the broker thread; refused when it is that far behind.
    pub fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.publish.try_send((topic.to_string(), payload)).map_err(|e| match e {
            channel::TrySendError::Full(_) => format!("publish {topic}: the MQTT broker is {QUEUE} messages behind"),
            channel::TrySendError::Closed(_) => format!("publish {topic}: the MQTT broker stopped"),
        })
    }
}

impl Drop for Internal {
    /// Stops the broker thread (not waited for: a router busy with a flood
    /// must not hold up the edge's shutdown).
    fn drop(&mut self) {
        self.stop.close();
    }
}
