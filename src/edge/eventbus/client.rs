//! External mode: hive as a client of a broker such as mosquitto (rumqttc,
//! on a thread with a small tokio runtime of its own). Clean session,
//! keepalive 30 s, QoS 1 subscribe and publish like KubeEdge's clients;
//! reconnects forever (1 s → 5 s) and subscribes again after each connect.
//!
//! Owns: the client connection. Must not interpret messages.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use smol::channel::{Receiver, Sender};

use crate::config::EventBusConfig;

pub struct External {
    client: AsyncClient,
    incoming: Receiver<(String, Vec<u8>)>,
}

impl External {
    pub fn start(cfg: &EventBusConfig, node: &str, filters: &'static [&'static str]) -> Result<External, String> {
        let id = format!("hive-{node}-{}", std::process::id());
        let mut opts = MqttOptions::new(id, cfg.external.host.clone(), cfg.external.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        opts.set_max_packet_size(cfg.max_payload_bytes + 1024, cfg.max_payload_bytes + 1024);
        if !cfg.username.is_empty() {
            opts.set_credentials(cfg.username.clone(), cfg.password.clone());
        }
        let (client, eventloop) = AsyncClient::new(opts, 256);
        let (tx, incoming) = smol::channel::bounded(1024);
        let sub = client.clone();
        let server = cfg.external.to_string();
        std::thread::Builder::new()
            .name("mqtt-client".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return log::error!(target: super::NAME, "MQTT client runtime: {e}"),
                };
                rt.block_on(run(eventloop, sub, tx, server, filters));
            })
            .map_err(|e| format!("cannot start the MQTT client thread: {e}"))?;
        Ok(External { client, incoming })
    }

    pub async fn next(&mut self) -> Result<(String, Vec<u8>), String> {
        self.incoming.recv().await.map_err(|_| "the MQTT client stopped".to_string())
    }

    pub fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client.try_publish(topic, QoS::AtLeastOnce, false, payload).map_err(|e| format!("publish {topic}: {e}"))
    }
}

async fn run(mut eventloop: rumqttc::EventLoop, client: AsyncClient, tx: Sender<(String, Vec<u8>)>, server: String, filters: &[&str]) {
    let mut delay = Duration::from_secs(1);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                log::info!(target: super::NAME, "connected to MQTT broker {server}");
                delay = Duration::from_secs(1);
                for f in filters {
                    if let Err(e) = client.try_subscribe(*f, QoS::AtLeastOnce) {
                        log::warn!(target: super::NAME, "subscribe {f}: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if tx.send((p.topic.clone(), p.payload.to_vec())).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if tx.is_closed() {
                    return;
                }
                log::warn!(target: super::NAME, "MQTT broker {server}: {e}; reconnecting in {} s", delay.as_secs());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
