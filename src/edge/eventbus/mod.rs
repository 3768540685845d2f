//! EventBus: MQTT in and out of the edge. Devices and mappers publish on
//! KubeEdge's topics (topics.rs); EventBus hands twin, state and membership
//! messages to DeviceTwin (group `twin`, operation `mqtt`, resource = the
//! topic, content = the payload) and sends uploads (`$hw/events/upload/#`,
//! `SYS/dis/upload_records`, `+/user/#`) up to the cloud as durable events
//! (group `upload`). Modules publish by sending it operation `publish`
//! (resource = topic, content = payload). When a device client subscribes,
//! DeviceTwin hears of it (operation `subscribed`, resource = the filter).
//!
//! Two modes (config `[eventbus] mode`): `internal`, an in-process broker
//! (broker.rs), or `external`, a client of a broker such as mosquitto
//! (client.rs).
//!
//! Owns: the broker or the client connection. Must not interpret payloads.

mod broker;
mod client;
mod conn;
mod escape;
#[cfg(test)]
mod fuzz_tests;
mod inbound;
mod inflight;
mod listener;
mod lost;
pub mod topics;

use smol::future::FutureExt as _;

use crate::config::{EventBusConfig, MqttMode};
use crate::core::Reply;
use crate::core::{Context, Message, Module, ModuleError, ModuleFuture};

pub const NAME: &str = crate::edge::names::EVENTBUS;

pub struct EventBus {
    cfg: EventBusConfig,
    node: String,
}

impl EventBus {
    pub fn new(cfg: EventBusConfig, node: String) -> EventBus {
        EventBus { cfg, node }
    }
}

enum Bus {
    Internal(broker::Internal),
    External(client::External),
}

impl Bus {
    async fn next(&mut self) -> Result<broker::BrokerEvent, String> {
        match self {
            Bus::Internal(b) => b.next().await,
            Bus::External(c) => c.next().await.map(|(t, p)| broker::BrokerEvent::Published(t, p)),
        }
    }
    fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        match self {
            Bus::Internal(b) => b.publish(topic, payload),
            Bus::External(c) => c.publish(topic, payload),
        }
    }
}

impl Module for EventBus {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        "bus"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let mut bus = match self.cfg.mode {
                MqttMode::Internal => {
                    let listener = std::net::TcpListener::bind(self.cfg.listen)
                        .map_err(|e| ModuleError::new(format!("MQTT broker cannot listen on {}: {e}", self.cfg.listen)))?;
                    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    let b = broker::Internal::start(&self.cfg, topics::FILTERS, listener).map_err(ModuleError::new)?;
                    let auth = if self.cfg.username.is_empty() { "no login" } else { "username/password" };
                    log::info!(target: NAME, "MQTT broker listening on {addr} ({auth})");
                    Bus::Internal(b)
                }
                MqttMode::External => {
                    let c = client::External::start(&self.cfg, &self.node, topics::FILTERS).map_err(ModuleError::new)?;
                    log::info!(target: NAME, "using the MQTT broker at {}", self.cfg.external);
                    Bus::External(c)
                }
            };
            ctx.ready();
            async {
                loop {
                    let ev = async { Err(bus.next().await) }.or(async { Ok(ctx.recv().await) }).await;
                    match ev {
                        Ok(None) => return Ok(()),
                        Ok(Some(m)) => from_module(&ctx, &mut bus, m),
                        Err(Ok(broker::BrokerEvent::Published(topic, payload))) => to_modules(&ctx, topic, payload),
                        Err(Ok(broker::BrokerEvent::Subscribed(filter))) => {
                            let m = Message::new(NAME, "twin", &filter, "subscribed", Vec::new());
                            match ctx.router.send_to_group("twin", m) {
                                Ok(_) | Err(crate::core::RouterError::EmptyGroup(_)) => {}
                                Err(e) => log::warn!(target: NAME, "subscription to {} not announced to DeviceTwin: {e}", crate::logging::clip(&filter, 100)),
                            }
                        }
                        Err(Err(e)) => return Err(ModuleError::new(e)),
                    }
                }
            }
            .await
        })
    }
}

fn from_module(ctx: &Context, bus: &mut Bus, m: Message) {
    let reply = match m.operation.as_str() {
        "publish" => match bus.publish(&m.resource, m.content.clone()) {
            Ok(()) => Reply::Ok.encode(),
            Err(e) => {
                log::warn!(target: NAME, "{e}");
                Reply::error(e)
            }
        },
        other => Reply::Error(format!("eventbus does not know operation `{other}`")).encode(),
    };
    if ctx.router.is_waiting(m.id) {
        let _ = ctx.respond(&m, reply);
    }
}

fn to_modules(ctx: &Context, topic: String, payload: Vec<u8>) {
    match topics::route(&topic) {
        topics::Route::Twin => {
            let m = ctx.message("twin", &topic, "mqtt", payload);
            if let Err(e) = ctx.router.send_to_group("twin", m) {
                log::warn!(target: NAME, "{topic}: not handed to DeviceTwin: {e}");
            }
        }
        topics::Route::Upload => {
            // Durable: stored in EdgeHub's outbox before it counts as sent.
            let m = ctx.message("upload", &topic, "event", payload);
            if let Err(e) = ctx.router.send(crate::edge::names::EDGEHUB, m) {
                log::warn!(target: NAME, "{topic}: upload not queued for the cloud: {e}");
            }
        }
        topics::Route::Ignore => log::debug!(target: NAME, "{topic}: not a topic hive handles"),
    }
}
