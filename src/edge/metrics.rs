//! The edge's Prometheus metrics (`hive_edge…`, KubeEdge module names after
//! the prefix) and its one-line summary. The modules update them where
//! things happen; MetaServer serves them at `/metrics` on the edge-local
//! API (loopback by default).
//!
//! Owns: the list of edge metrics and their text. Must not touch a
//! module's state: what is not updated by a module is read at scrape time
//! from what the caller passes in.

use crate::metrics::{Counter, Family, Gauge, Histogram, SECONDS};

pub static CONNECTED: Gauge = Gauge::new("hive_edgehub_connected", "1 while the tunnel to the cloud is up, else 0.");
pub static CONNECTS: Counter = Counter::new("hive_edgehub_connects_total", "Tunnel sessions established (the first connection and every reconnect).");
pub static CONNECT_FAILURES: Counter = Counter::new("hive_edgehub_connect_failures_total", "Attempts to reach the cloud that failed.");
pub static OUTBOX: Family =
    Family::gauge("hive_edgehub_outbox_messages", "Messages in the durable outbox waiting for the cloud's acknowledgement, by kind.", &["kind"]);
pub static OUTBOX_BYTES: Gauge = Gauge::new("hive_edgehub_outbox_bytes", "Bytes of the messages in the durable outbox.");
pub static OUTBOX_DROPPED: Counter = Counter::new("hive_edgehub_outbox_dropped_total", "Events dropped because the outbox held outbox_max_events.");
pub static OFFLINE_DROPPED: Counter = Counter::new("hive_edgehub_offline_dropped_total", "Non-durable messages dropped while offline (offline_queue full).");
pub static UP_ACKED: Counter = Counter::new("hive_edgehub_upstream_acked_total", "Outbox messages the cloud acknowledged as applied.");
pub static OBJECTS_RECEIVED: Counter = Counter::new("hive_edgehub_objects_received_total", "Object changes received from the cloud.");
pub static OBJECTS: Gauge = Gauge::new("hive_metamanager_objects", "Objects in MetaManager's cache.");
pub static MQTT_CLIENTS: Gauge = Gauge::new("hive_eventbus_clients", "MQTT clients connected to the internal broker.");
pub static MQTT_RECEIVED: Counter = Counter::new("hive_eventbus_messages_received_total", "MQTT messages published by device clients.");
pub static MQTT_SENT: Counter = Counter::new("hive_eventbus_messages_sent_total", "MQTT messages delivered to device clients.");
pub static MQTT_DROPPED: Family = Family::counter(
    "hive_eventbus_dropped_total",
    "MQTT messages lost: backlog = a device client lagged past max_backlog_bytes and the oldest went.",
    &["reason"],
);
pub static TWIN_UPDATES: Counter = Counter::new("hive_devicetwin_updates_total", "Twin updates accepted (MQTT and the cloud).");
pub static TWIN_REJECTED: Family = Family::counter("hive_devicetwin_rejections_total", "Twin updates refused, by result code.", &["code"]);
pub static DMI_MAPPERS: Gauge = Gauge::new("hive_dmi_mappers", "Mappers registered over DMI (one per protocol).");
pub static DMI_REQUESTS: Family =
    Family::counter("hive_dmi_requests_total", "Calls mappers made to DeviceManagerService, by method and gRPC code.", &["method", "code"]);
pub static DMI_PUSH_FAILURES: Family =
    Family::counter("hive_dmi_push_failures_total", "Calls to a mapper given up after their retries, by method.", &["method"]);
pub static PODS: Family = Family::gauge("hive_edged_pods", "Pods on this node, by phase.", &["phase"]);
pub static CRI_CALLS: Histogram =
    Histogram::new("hive_edged_cri_request_duration_seconds", "CRI calls to the container runtime, by method.", &["method"], SECONDS);
pub static CRI_ERRORS: Family = Family::counter("hive_edged_cri_errors_total", "CRI calls that failed, by method.", &["method"]);
pub static PROBES: Family = Family::counter("hive_edged_probe_failures_total", "Probe failures, by probe kind.", &["probe"]);

/// The whole exposition of this edge.
pub fn render(router: &crate::core::Router) -> String {
    let mut out = String::with_capacity(8 << 10);
    for g in [&CONNECTED, &OUTBOX_BYTES, &OBJECTS, &MQTT_CLIENTS, &DMI_MAPPERS] {
        g.write(&mut out);
    }
    for c in [&CONNECTS, &CONNECT_FAILURES, &MQTT_RECEIVED, &MQTT_SENT, &OUTBOX_DROPPED, &OFFLINE_DROPPED, &UP_ACKED, &OBJECTS_RECEIVED, &TWIN_UPDATES] {
        c.write(&mut out);
    }
    for f in [&OUTBOX, &MQTT_DROPPED, &TWIN_REJECTED, &DMI_REQUESTS, &DMI_PUSH_FAILURES, &PODS, &CRI_ERRORS, &PROBES] {
        f.write(&mut out);
    }
    CRI_CALLS.write(&mut out);
    crate::metrics::write_queues(&mut out, router);
    crate::metrics::process::write(&mut out);
    out
}

/// Count pods by the phase of their last reported status (JSON text).
pub fn count_pods<'a>(statuses: impl Iterator<Item = &'a str>) {
    let mut by: std::collections::BTreeMap<String, i64> = ["Pending", "Running", "Succeeded", "Failed", "Unknown"].iter().map(|p| (p.to_string(), 0)).collect();
    for s in statuses {
        let phase = serde_json::from_str::<serde_json::Value>(s).ok().and_then(|v| v.get("phase").and_then(|p| p.as_str()).map(str::to_string));
        *by.entry(phase.unwrap_or_else(|| "Unknown".into())).or_insert(0) += 1;
    }
    PODS.replace(by.into_iter().map(|(p, n)| (vec![p], n)));
}

/// The line logged every `runtime.summary_interval_s`.
pub fn summary() -> String {
    format!(
        "edge: {}, {} reconnects, outbox {} states + {} events ({} B, {} dropped), {} objects cached, {} MQTT clients ({} messages lost), pods {}",
        if CONNECTED.get() == 1 { "connected" } else { "offline" },
        CONNECTS.get().saturating_sub(1),
        OUTBOX.get(&["state"]),
        OUTBOX.get(&["event"]),
        OUTBOX_BYTES.get(),
        OUTBOX_DROPPED.get(),
        OBJECTS.get(),
        MQTT_CLIENTS.get(),
        MQTT_DROPPED.total(),
        PODS.total(),
    )
}
