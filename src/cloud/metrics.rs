//! The cloud's Prometheus metrics (`hive_…`, KubeEdge/Kubernetes module
//! names after the prefix) and its one-line summary. Modules update them
//! where things happen; the API server serves them at `/metrics`.
//!
//! Per-node figures are never one series per node (10,000 nodes would be
//! 10,000 series): the downstream backlog is a count of nodes per backlog
//! range plus the five nodes furthest behind.
//!
//! Owns: the list of cloud metrics and their text. Must not touch a
//! module's state: CloudHub publishes its node figures here every second.

use crate::cloud::store::Store;
use crate::core::Router;
use crate::metrics::{Counter, Family, Gauge, Histogram, SECONDS};

pub static NODES_CONNECTED: Gauge = Gauge::new("hive_cloudhub_nodes_connected", "Nodes with a live tunnel session.");
pub static NODES_READY: Gauge = Gauge::new("hive_cloudhub_nodes_ready", "Nodes CloudHub holds Ready (heard from within node_timeout_s).");
pub static NODES_NOT_READY: Gauge = Gauge::new("hive_cloudhub_nodes_not_ready", "Nodes seen since the cloud started that are NotReady now.");
pub static SESSIONS_OPENED: Counter = Counter::new("hive_cloudhub_sessions_opened_total", "Tunnel sessions opened.");
pub static SESSIONS_REPLACED: Counter = Counter::new("hive_cloudhub_sessions_replaced_total", "Sessions ended by a newer connection of the same node.");
pub static SESSIONS_CLOSED: Family = Family::counter(
    "hive_cloudhub_sessions_closed_total",
    "Tunnel sessions closed, by reason: edge (the edge closed it), replaced, timeout, queue_full, removed (node deleted or revoked), shutdown, error.",
    &["reason"],
);
pub static CONNECTIONS_REFUSED: Counter =
    Counter::new("hive_cloudhub_connections_refused_total", "Connections refused before a session (TLS, certificate, handshake, twin edges).");
pub static BACKLOG_NODES: Family = Family::gauge(
    "hive_cloudhub_nodes_by_backlog",
    "Connected nodes by downstream backlog (objects to send or unacknowledged), in ranges 0, 1-10, 11-100, 101-1000, >1000.",
    &["backlog"],
);
pub static BACKLOG_OBJECTS: Gauge =
    Gauge::new("hive_cloudhub_backlog_objects", "Objects waiting to reach connected nodes (to send or unacknowledged), all nodes.");
pub static BACKLOG_TOP: Family =
    Family::gauge("hive_cloudhub_node_backlog_objects", "The downstream backlog of the five connected nodes furthest behind.", &["node"]);
pub static OBJECTS_SENT: Counter = Counter::new("hive_cloudhub_objects_sent_total", "Object changes sent to edges.");
pub static UPSTREAM_APPLIED: Counter = Counter::new("hive_cloudhub_upstream_applied_total", "Durable edge messages applied (each exactly once).");
pub static UPSTREAM_APPLY: Histogram =
    Histogram::new("hive_cloudhub_upstream_apply_seconds", "Time to apply one durable edge message (the module's answer).", &[], SECONDS);
pub static API_REQUESTS: Family =
    Family::counter("hive_apiserver_requests_total", "API requests, by verb, resource and HTTP code.", &["verb", "resource", "code"]);
pub static API_LATENCY: Histogram =
    Histogram::new("hive_apiserver_request_duration_seconds", "API request latency until the response head, by verb.", &["verb"], SECONDS);
pub static STORE_WRITES: Histogram =
    Histogram::new("hive_store_write_seconds", "Store writes: commit (one change) and sync (made durable).", &["phase"], SECONDS);

/// The whole exposition of this cloud.
pub fn render(store: &dyn Store, router: &Router) -> String {
    let mut out = String::with_capacity(16 << 10);
    for g in [&NODES_CONNECTED, &NODES_READY, &NODES_NOT_READY, &BACKLOG_OBJECTS] {
        g.write(&mut out);
    }
    for c in [&SESSIONS_OPENED, &SESSIONS_REPLACED, &CONNECTIONS_REFUSED, &OBJECTS_SENT, &UPSTREAM_APPLIED] {
        c.write(&mut out);
    }
    for f in [&SESSIONS_CLOSED, &BACKLOG_NODES, &BACKLOG_TOP, &API_REQUESTS] {
        f.write(&mut out);
    }
    for h in [&UPSTREAM_APPLY, &API_LATENCY, &STORE_WRITES] {
        h.write(&mut out);
    }
    let one = |out: &mut String, name: &str, help: &str, v: String| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"));
    };
    one(&mut out, "hive_apiserver_watches", "Watches open on the store (API clients' and controllers').", store.watches().to_string());
    if let Some(b) = store.size_bytes() {
        one(&mut out, "hive_store_size_bytes", "Bytes the store takes on disk.", b.to_string());
    }
    crate::metrics::write_queues(&mut out, router);
    crate::metrics::process::write(&mut out);
    out
}

/// The range label of a node's backlog.
pub fn backlog_range(n: usize) -> &'static str {
    match n {
        0 => "0",
        1..=10 => "1-10",
        11..=100 => "11-100",
        101..=1000 => "101-1000",
        _ => ">1000",
    }
}

/// The reason label of a closed session, from its (free-text) reason.
pub fn close_reason(orderly: bool, why: &str) -> &'static str {
    let has = |s: &str| why.contains(s);
    if has("replaced") {
        "replaced"
    } else if has("no traffic") {
        "timeout"
    } else if has("queue full") {
        "queue_full"
    } else if has("shutting down") {
        "shutdown"
    } else if has("deleted") || has("revoked") {
        "removed"
    } else if orderly {
        "edge"
    } else {
        "error"
    }
}

/// The line logged every `runtime.summary_interval_s`.
pub fn summary() -> String {
    format!(
        "cloud: {} nodes connected, {} ready, {} not ready; backlog {} objects; {} upstream messages applied; {} API requests",
        NODES_CONNECTED.get(),
        NODES_READY.get(),
        NODES_NOT_READY.get(),
        BACKLOG_OBJECTS.get(),
        UPSTREAM_APPLIED.get(),
        API_REQUESTS.total(),
    )
}
