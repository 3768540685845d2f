//! The cloud role's config: its modules and their sections, with defaults
//! and the cloud's half of the checks.
//!
//! Owns: those types. Must not load files or start anything.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::locate::{invalid_at, ConfigError};
use super::{Role, RuntimeConfig};

/// Cloud modules by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudModule {
    CloudHub,
    ApiServer,
    EdgeController,
    DeviceController,
    Scheduler,
    DaemonSet,
    ReplicaSet,
    Deployment,
    GarbageCollector,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudHubConfig {
    /// Where edges connect (websocket over mutual TLS).
    pub listen: SocketAddr,
    /// Extra names/addresses the server certificate covers (besides localhost, 127.0.0.1, ::1).
    pub server_names: Vec<String>,
    /// Largest frame accepted or sent, bytes.
    pub max_frame_bytes: usize,
    /// A node without traffic for this long is NotReady (s).
    pub node_timeout_s: u64,
    /// TLS + websocket handshake + Hello must finish within this (ms).
    pub handshake_timeout_ms: u64,
    /// Frames queued per node before the node is considered stuck and disconnected.
    pub node_queue: usize,
    /// Streams (`kubectl logs -f`, `exec`, `attach`) open at once to one node…
    pub max_streams_per_node: usize,
    /// …and to all nodes together.
    pub max_streams: usize,
    /// Serve the join endpoint (HTTPS; `hive edge join` with a bootstrap token).
    pub join: bool,
    /// Its address; default: the hub's address with its port + 2 (10002
    /// next to 10000, as KubeEdge's CloudHub; port 0 stays 0).
    pub join_listen: Option<SocketAddr>,
    /// Lifetime of node certificates issued by join and rotation (s); an
    /// edge asks for a new one when 80% of it has passed.
    pub node_cert_lifetime_s: u64,
    /// Also serve the tunnel over QUIC (UDP). Unset: on when this hive is
    /// built with the `quic` feature; `true` without it is an error.
    pub quic: Option<bool>,
    /// Its address; default: the hub's address with its port + 1 (UDP
    /// 10001 next to 10000, as KubeEdge's CloudHub; port 0 stays 0).
    pub quic_listen: Option<SocketAddr>,
}

impl CloudHubConfig {
    /// Where the join endpoint listens, if it is on.
    pub fn join_addr(&self) -> Option<SocketAddr> {
        let derived = || {
            let port = if self.listen.port() == 0 { 0 } else { self.listen.port().saturating_add(2) };
            SocketAddr::new(self.listen.ip(), port)
        };
        self.join.then(|| self.join_listen.unwrap_or_else(derived))
    }

    /// Where the QUIC listener binds, if it is on.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        let derived = || {
            let port = if self.listen.port() == 0 { 0 } else { self.listen.port().saturating_add(1) };
            SocketAddr::new(self.listen.ip(), port)
        };
        self.quic.unwrap_or(cfg!(feature = "quic")).then(|| self.quic_listen.unwrap_or_else(derived))
    }
}

impl Default for CloudHubConfig {
    fn default() -> Self {
        CloudHubConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 10000)),
            server_names: vec![],
            max_frame_bytes: 4 << 20,
            node_timeout_s: 40,
            handshake_timeout_ms: 10_000,
            node_queue: 1024,
            max_streams_per_node: 16,
            max_streams: 1024,
            join: true,
            join_listen: None,
            node_cert_lifetime_s: 90 * 86_400,
            quic: None,
            quic_listen: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Kubernetes-style REST API (kubectl talks to this).
    pub listen: SocketAddr,
    /// Changes kept for watches to resume from; older → 410, relist.
    pub watch_history: u64,
    /// Client connections open at once; more are closed at once.
    pub max_connections: usize,
    /// A request's headers must arrive within this (s); an idle keep-alive
    /// connection is closed after it. Streams (watches) are not cut.
    pub idle_timeout_s: u64,
    /// `/metrics` is served on `listen` to bearer-token holders; this adds
    /// a plain-HTTP listener serving only `/metrics` and the health paths,
    /// without authentication (off when unset).
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 10350)), watch_history: 10_000, max_connections: 1024, idle_timeout_s: 30, metrics_listen: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeControllerConfig {
    /// Pods of a node NotReady this long are marked phase Unknown (s).
    pub pod_unknown_grace_s: u64,
    /// After a cloud start, a node the store says is Ready that has not
    /// connected within this many seconds is marked NotReady.
    pub node_startup_grace_s: u64,
}

impl Default for EdgeControllerConfig {
    fn default() -> Self {
        EdgeControllerConfig { pod_unknown_grace_s: 60, node_startup_grace_s: 60 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudConfig {
    pub role: Option<Role>,
    /// Where the cloud keeps its store, CA and kubeconfig.
    pub data_dir: PathBuf,
    /// Cache of the cloud's sled database, bytes.
    pub db_cache_bytes: u64,
    /// Modules to start, in order.
    pub modules: Vec<CloudModule>,
    pub runtime: RuntimeConfig,
    pub cloudhub: CloudHubConfig,
    pub api: ApiConfig,
    pub edgecontroller: EdgeControllerConfig,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            role: Some(Role::Cloud),
            data_dir: PathBuf::from("./hive-data/cloud"),
            db_cache_bytes: 8 << 20,
            modules: vec![
                CloudModule::CloudHub,
                CloudModule::ApiServer,
                CloudModule::EdgeController,
                CloudModule::DeviceController,
                CloudModule::Scheduler,
                CloudModule::DaemonSet,
                CloudModule::ReplicaSet,
                CloudModule::Deployment,
                CloudModule::GarbageCollector,
            ],
            runtime: RuntimeConfig::default(),
            cloudhub: CloudHubConfig::default(),
            api: ApiConfig::default(),
            edgecontroller: EdgeControllerConfig::default(),
        }
    }
}

/// The cloud's checks that types cannot express.
pub(super) fn check(c: &CloudConfig, name: &str, text: &str, frame_range: RangeInclusive<usize>, frame_msg: String) -> Result<(), ConfigError> {
    let h = &c.cloudhub;
    if !frame_range.contains(&h.max_frame_bytes) {
        return Err(invalid_at(name, text, "cloudhub", "max_frame_bytes", frame_msg));
    }
    for (key, v) in [
        ("node_timeout_s", h.node_timeout_s),
        ("handshake_timeout_ms", h.handshake_timeout_ms),
        ("node_queue", h.node_queue as u64),
        ("max_streams_per_node", h.max_streams_per_node as u64),
        ("max_streams", h.max_streams as u64),
        ("node_cert_lifetime_s", h.node_cert_lifetime_s),
    ] {
        if v == 0 {
            return Err(invalid_at(name, text, "cloudhub", key, "must be more than 0".into()));
        }
    }
    if h.quic == Some(true) && !crate::features::has("quic") {
        return Err(invalid_at(name, text, "cloudhub", "quic", crate::features::missing("the QUIC transport", "quic")));
    }
    for (key, v) in [("max_connections", c.api.max_connections as u64), ("idle_timeout_s", c.api.idle_timeout_s)] {
        if v == 0 {
            return Err(invalid_at(name, text, "api", key, "must be more than 0".into()));
        }
    }
    Ok(())
}
