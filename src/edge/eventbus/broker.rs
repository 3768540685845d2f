//! The internal broker: rumqttd 0.20's router in this process, with small
//! limits set on purpose (an edge board has little memory). Device clients
//! reach it through EventBus's own listener (listener.rs); hive publishes
//! through a local link of its own — never a TCP connection — and what
//! devices publish on hive's topics reaches the module straight from their
//! sessions, through a bounded queue that pushes back on them. rumqttd's
//! network listener is not used: it refuses the `$hw/...` topics KubeEdge
//! devices use. The router's log per filter is a few segments sized so
//! that, with flow.rs holding publishers back, it never overwrites what a
//! subscriber that keeps reading has not read (and a burst leaves little
//! behind: the router never frees a log).
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

use std::cell::RefCell;
use std::rc::Rc;
use std::thread::JoinHandle;

use rumqttd::{Broker, Config, Notification, RouterConfig};
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt as _;

use super::escape::{escape, wrap};
use super::flow;
use super::listener::{self, Hive};
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

/// Segments in the router's log of a filter: all but the newest are full.
const SEGMENTS: usize = 8;

/// The router's log of a filter: (segment size, at most how much it keeps),
/// bytes as the router counts them. Publishers wait while a subscriber is
/// more than `max_backlog_bytes` behind (flow.rs), so it may be that plus
/// one packet behind: the full segments hold at least that, and nothing a
/// subscriber has not read is overwritten while it keeps reading.
pub fn log_shape(cfg: &EventBusConfig) -> (usize, u64) {
    // A packet's topic may gain an escape byte, its payload gains a QoS byte.
    let packet = flow::size(cfg.max_topic_bytes + 1, cfg.max_payload_bytes + 1);
    let segment = ((cfg.max_backlog_bytes as u64 + packet).div_ceil(SEGMENTS as u64 - 1)).max(16 << 10);
    (segment as usize, segment * SEGMENTS as u64 + packet)
}

fn config(cfg: &EventBusConfig) -> Config {
    Config {
        id: 0,
        router: RouterConfig {
            // Device clients, plus hive's own link.
            max_connections: cfg.max_clients + 1,
            max_outgoing_packet_count: 200,
            max_segment_size: log_shape(cfg).0,
            max_segment_count: SEGMENTS,
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
                // hive's link only publishes: what devices publish on hive's
                // topics reaches the module straight from their sessions.
                let (mut tx, mut rx) = match broker.link(HIVE_LINK) {
                    Ok(l) => l,
                    Err(e) => return drop(ready_tx.send(Err(format!("broker link: {e}")))),
                };
                let tcp = match smol::Async::new(tcp) {
                    Ok(t) => smol::net::TcpListener::from(t),
                    Err(e) => return drop(ready_tx.send(Err(format!("MQTT listener: {e}")))),
                };
                let _ = ready_tx.send(Ok(()));
                let ex = smol::LocalExecutor::new();
                let subs = events_tx.clone();
                let dropped = RefCell::new(crate::logging::Throttle::new(std::time::Duration::from_secs(60)));
                let on_sub: listener::OnSubscribe = Rc::new(move |f: &str| {
                    // For DeviceTwin's desired-state push; a full queue drops it (counted).
                    if subs.try_send(BrokerEvent::Subscribed(f.to_string())).is_err() {
                        if let Some(n) = dropped.borrow_mut().allow() {
                            log::warn!(target: super::NAME, "subscription to {} not announced to DeviceTwin: the module is {QUEUE} events behind ({n} more dropped)", crate::logging::clip(f, 100));
                        }
                    }
                });
                let flow = flow::Flow::new(cfg.max_backlog_bytes as u64, log_shape(&cfg).1);
                let hive = Rc::new(Hive { events: events_tx, filters, on_sub, flow: flow.clone() });
                let broker = Rc::new(broker);
                ex.spawn(async move {
                    let sessions = smol::LocalExecutor::new();
                    sessions.run(listener::serve(tcp, broker, Rc::new(cfg), hive, &sessions)).await
                })
                .detach();
                // hive's publishes: blocking calls, on this thread only, and
                // only while some device client subscribes to anything.
                ex.spawn(async move {
                    while let Ok((topic, payload)) = publish_rx.recv().await {
                        flow::room(&flow).await;
                        if !flow.borrow().has_readers() {
                            continue;
                        }
                        // QoS 1: a device that subscribed at QoS 1 gets hive's messages (deltas, results) acknowledged.
                        let (t, p) = (escape(&topic), wrap(1, &payload));
                        flow.borrow_mut().appended(flow::size(t.len(), p.len()));
                        if let Err(e) = tx.publish(t, p) {
                            log::warn!(target: super::NAME, "publish {topic}: {e}");
                        }
                    }
                })
                .detach();
                // The router's notices to hive's link (no subscriptions: wake-ups only).
                let notices = async move {
                    loop {
                        match rx.next().await {
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
                smol::block_on(ex.run(notices.or(stopped)));
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

    /// Hand a publish to the broker thread (waits while it is QUEUE behind:
    /// device subscribers are slower than hive publishes).
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.publish.send((topic.to_string(), payload)).await.map_err(|_| format!("publish {topic}: the MQTT broker stopped"))
    }
}

impl Drop for Internal {
    /// Stops the broker thread (not waited for: a router busy with a flood
    /// must not hold up the edge's shutdown).
    fn drop(&mut self) {
        self.stop.close();
    }
}
