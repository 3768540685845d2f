//! The edge role's config: its modules and their sections, with defaults
//! and the edge's half of the checks.
//!
//! Owns: those types. Must not load files or start anything.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::locate::{invalid_at, ConfigError};
use super::{HostPort, Role, RuntimeConfig};

/// Edge modules by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeModule {
    EdgeHub,
    MetaManager,
    Edged,
    EventBus,
    DeviceTwin,
    ServiceBus,
    Dmi,
}

impl EdgeModule {
    /// Every edge module, in the default start order.
    pub const ALL: [EdgeModule; 7] = [
        EdgeModule::EdgeHub,
        EdgeModule::MetaManager,
        EdgeModule::EventBus,
        EdgeModule::DeviceTwin,
        EdgeModule::Dmi,
        EdgeModule::ServiceBus,
        EdgeModule::Edged,
    ];

    /// The name used in config files and logs.
    pub fn name(self) -> &'static str {
        match self {
            EdgeModule::EdgeHub => "edgehub",
            EdgeModule::MetaManager => "metamanager",
            EdgeModule::Edged => "edged",
            EdgeModule::EventBus => "eventbus",
            EdgeModule::DeviceTwin => "devicetwin",
            EdgeModule::ServiceBus => "servicebus",
            EdgeModule::Dmi => "dmi",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeHubConfig {
    /// The CloudHub to connect to.
    pub server: HostPort,
    /// How: `websocket` (TLS over TCP to `server`) or `quic` (UDP to
    /// `quic_server`; needs the `quic` feature).
    pub transport: Transport,
    /// CloudHub's QUIC address; default: `server` with its port + 1.
    pub quic_server: Option<HostPort>,
    /// Websocket ping interval (s); the cloud is presumed gone after 3 silent intervals.
    pub ping_interval_s: u64,
    /// Reconnect backoff: exponential with full jitter between these bounds (ms).
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// TCP + TLS + websocket connect timeout (ms).
    pub connect_timeout_ms: u64,
    /// Largest frame accepted or sent, bytes.
    pub max_frame_bytes: usize,
    /// Messages for the cloud held in memory while offline; beyond it the oldest are dropped and counted.
    pub offline_queue: usize,
    /// Events kept in the durable outbox; beyond it the oldest are dropped and counted.
    pub outbox_max_events: usize,
}

/// The tunnel's transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Websocket,
    Quic,
}

impl EdgeHubConfig {
    /// Where QUIC dials.
    pub fn quic_addr(&self) -> HostPort {
        self.quic_server.clone().unwrap_or_else(|| HostPort { host: self.server.host.clone(), port: self.server.port.saturating_add(1) })
    }
}

impl Default for EdgeHubConfig {
    fn default() -> Self {
        EdgeHubConfig {
            server: HostPort { host: "127.0.0.1".into(), port: 10000 },
            transport: Transport::Websocket,
            quic_server: None,
            ping_interval_s: 15,
            backoff_min_ms: 500,
            backoff_max_ms: 30_000,
            connect_timeout_ms: 10_000,
            max_frame_bytes: 4 << 20,
            offline_queue: 1000,
            outbox_max_events: 10_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaServerConfig {
    /// Edge-local read API (KubeEdge's MetaServer).
    pub listen: SocketAddr,
    /// Client connections open at once; more are closed at once.
    pub max_connections: usize,
    /// A request's headers must arrive within this (s); an idle keep-alive
    /// connection is closed after it. Streams (watches) are not cut.
    pub idle_timeout_s: u64,
}

impl Default for MetaServerConfig {
    fn default() -> Self {
        MetaServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 10550)), max_connections: 256, idle_timeout_s: 30 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttMode {
    Internal,
    External,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventBusConfig {
    /// `internal`: in-process broker on `listen`; `external`: client of `external`.
    pub mode: MqttMode,
    pub listen: SocketAddr,
    pub external: HostPort,
    /// Device clients must log in with these (internal); hive logs in with
    /// them (external). Empty = no authentication.
    pub username: String,
    pub password: String,
    /// Largest MQTT payload accepted, bytes (twin documents are capped at 64 KiB).
    pub max_payload_bytes: usize,
    /// Device clients the internal broker accepts at once.
    pub max_clients: usize,
    /// Per subscription filter, how much the internal broker keeps for
    /// subscribers that lag behind, bytes as rumqttd counts them (topic +
    /// payload + 4); beyond it the oldest are dropped (counted). Real memory
    /// is about backlog x (1 + 330 / (topic + payload + 4)) per filter and is
    /// kept once a flood filled it, hence the small default.
    pub max_backlog_bytes: usize,
    /// Subscriptions one device client may hold at once (internal).
    pub max_subscriptions_per_client: usize,
    /// Longest topic or filter accepted, bytes.
    pub max_topic_bytes: usize,
}

impl Default for EventBusConfig {
    fn default() -> Self {
        EventBusConfig {
            mode: MqttMode::Internal,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            external: HostPort { host: "127.0.0.1".into(), port: 1883 },
            username: String::new(),
            password: String::new(),
            max_payload_bytes: 128 << 10,
            max_clients: 256,
            max_backlog_bytes: 128 << 10,
            max_subscriptions_per_client: 1024,
            max_topic_bytes: 512,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgedConfig {
    /// The container runtime's CRI socket.
    pub runtime_socket: PathBuf,
    /// Timeout of one CRI call (ms).
    pub runtime_timeout_ms: u64,
    /// How often pods are checked against the runtime (ms).
    pub sync_period_ms: u64,
    /// First restart delay of a failed container (ms); doubles up to 300 s.
    pub backoff_base_ms: u64,
    /// Whether pods may run privileged containers (root on the board).
    pub allow_privileged: bool,
    /// CPU the node keeps for itself (millicores): not allocatable to pods.
    pub reserved_cpu_millis: u64,
    /// Memory the node keeps for itself (MiB): not allocatable to pods.
    pub reserved_memory_mib: u64,
    /// Pods this node takes at most (the node's `pods` capacity).
    pub max_pods: u32,
}

impl Default for EdgedConfig {
    fn default() -> Self {
        EdgedConfig {
            runtime_socket: PathBuf::from("/run/containerd/containerd.sock"),
            runtime_timeout_ms: 120_000,
            sync_period_ms: 1000,
            backoff_base_ms: 10_000,
            allow_privileged: false,
            reserved_cpu_millis: 0,
            reserved_memory_mib: 100,
            max_pods: 110,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceBusConfig {
    /// How long an app on 127.0.0.1 may take to answer a call from the cloud (ms).
    pub timeout_ms: u64,
    /// Largest request or response body passed through, bytes.
    pub max_body_bytes: usize,
}

impl Default for ServiceBusConfig {
    fn default() -> Self {
        ServiceBusConfig { timeout_ms: 10_000, max_body_bytes: 1 << 20 }
    }
}

/// DMI, KubeEdge's gRPC mapper interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmiConfig {
    /// DeviceManagerService's unix socket; mappers find it at edgecore's
    /// default (their `common.edgecore_sock`).
    pub socket: PathBuf,
}

impl Default for DmiConfig {
    fn default() -> Self {
        DmiConfig { socket: PathBuf::from("/etc/kubeedge/dmi.sock") }
    }
}

/// First boot of a firmware image: join the cloud with a bootstrap token
/// (as `hive edge join`). Used only while the node has no certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JoinConfig {
    /// The cloud's join endpoint, host:port (CloudHub's port + 2, 10002 by default); empty = no join.
    pub server: String,
    /// Bootstrap token `<6>.<16>` (`hive token create`).
    pub token: String,
    /// `sha256:<hex>` of the cloud CA's public key.
    pub ca_cert_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    pub role: Option<Role>,
    /// Where the edge keeps its sled cache, outbox and certificates.
    pub data_dir: PathBuf,
    /// Cache of the edge's sled database, bytes (it is a rebuildable cache; keep it small).
    pub db_cache_bytes: u64,
    /// Node name; empty = the name in the node certificate.
    pub node_name: String,
    pub modules: Vec<EdgeModule>,
    pub runtime: RuntimeConfig,
    pub edgehub: EdgeHubConfig,
    pub metaserver: MetaServerConfig,
    pub eventbus: EventBusConfig,
    pub servicebus: ServiceBusConfig,
    pub dmi: DmiConfig,
    pub edged: EdgedConfig,
    pub join: JoinConfig,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            role: Some(Role::Edge),
            data_dir: PathBuf::from("./hive-data/edge"),
            db_cache_bytes: 2 << 20,
            node_name: String::new(),
            // Every module this binary has (an edge-only image without
            // `edged` starts without it by default; listing it is refused).
            modules: EdgeModule::ALL.into_iter().filter(|m| crate::features::missing_edge_module(*m).is_none()).collect(),
            runtime: RuntimeConfig::default(),
            edgehub: EdgeHubConfig::default(),
            metaserver: MetaServerConfig::default(),
            eventbus: EventBusConfig::default(),
            servicebus: ServiceBusConfig::default(),
            dmi: DmiConfig::default(),
            edged: EdgedConfig::default(),
            join: JoinConfig::default(),
        }
    }
}

/// The edge's checks that types cannot express.
pub(super) fn check(c: &EdgeConfig, name: &str, text: &str, frame_range: RangeInclusive<usize>, frame_msg: String) -> Result<(), ConfigError> {
    if let Some(e) = c.modules.iter().find_map(|m| crate::features::missing_edge_module(*m)) {
        return Err(invalid_at(name, text, "", "modules", e));
    }
    let h = &c.edgehub;
    if h.transport == Transport::Quic && !crate::features::has("quic") {
        return Err(invalid_at(name, text, "edgehub", "transport", crate::features::missing("the QUIC transport", "quic")));
    }
    if !frame_range.contains(&h.max_frame_bytes) {
        return Err(invalid_at(name, text, "edgehub", "max_frame_bytes", frame_msg));
    }
    for (key, v) in [("max_connections", c.metaserver.max_connections as u64), ("idle_timeout_s", c.metaserver.idle_timeout_s)] {
        if v == 0 {
            return Err(invalid_at(name, text, "metaserver", key, "must be more than 0".into()));
        }
    }
    for (key, v) in [("ping_interval_s", h.ping_interval_s), ("backoff_min_ms", h.backoff_min_ms), ("connect_timeout_ms", h.connect_timeout_ms)] {
        if v == 0 {
            return Err(invalid_at(name, text, "edgehub", key, "must be more than 0".into()));
        }
    }
    if h.backoff_max_ms < h.backoff_min_ms {
        return Err(invalid_at(name, text, "edgehub", "backoff_max_ms", "must not be below backoff_min_ms".into()));
    }
    let j = &c.join;
    if !j.server.is_empty() || !j.token.is_empty() || !j.ca_cert_hash.is_empty() {
        if let Err(e) = j.server.parse::<super::HostPort>() {
            return Err(invalid_at(name, text, "join", "server", e));
        }
        if let Some((key, e)) = check_join(&j.token, &j.ca_cert_hash) {
            return Err(invalid_at(name, text, "join", key, e));
        }
    }
    if !c.node_name.is_empty() {
        if let Err(e) = crate::tls::check_node_name(&c.node_name) {
            return Err(invalid_at(name, text, "", "node_name", e.to_string()));
        }
    }
    Ok(())
}

/// A join token and CA pin as `hive edge join` and `[join]` take them:
/// the key at fault and why.
pub fn check_join(token: &str, hash: &str) -> Option<(&'static str, String)> {
    let part = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !token.split_once('.').is_some_and(|(a, b)| part(a, 6) && part(b, 16)) {
        return Some(("token", "must be `<6 chars>.<16 chars>` of [a-z0-9], as `hive token create` prints it".into()));
    }
    let hex = hash.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(("ca_cert_hash", "must be `sha256:` and 64 hex digits, as `hive token create --print-join-command` prints it".into()));
    }
    None
}
