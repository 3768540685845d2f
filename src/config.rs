//! Configuration: TOML files and the built-in profiles compiled into the
//! binary (a firmware image may carry no config file at all).
//!
//! Owns: the config types of both roles, their defaults, loading, and error
//! messages that name the file, line and key. Must not start anything.
//! The shipped profiles in profiles/ document every field; a unit test keeps
//! them equal to the defaults here.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Built-in profiles: (name, TOML text).
pub const PROFILES: &[(&str, &str)] = &[
    ("cloud", include_str!("../profiles/cloud.toml")),
    ("edge", include_str!("../profiles/edge.toml")),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Cloud,
    Edge,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cloud => "cloud",
            Role::Edge => "edge",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `host:port` the edge dials (a name or an address; checked for form only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not host:port (e.g. 127.0.0.1:10000 or cloud.example:10000)");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad());
        }
        Ok(HostPort { host: host.to_string(), port })
    }
}

impl TryFrom<String> for HostPort {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<HostPort> for String {
    fn from(h: HostPort) -> String {
        h.to_string()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Settings of the module runtime, the same for both roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Capacity of each module's inbox (messages).
    pub channel_capacity: usize,
    /// Default timeout of a request between modules (ms).
    pub request_timeout_ms: u64,
    /// How long modules may take to become ready (ms).
    pub start_timeout_ms: u64,
    /// How long modules may take to stop after SIGTERM (ms).
    pub shutdown_timeout_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { channel_capacity: 1024, request_timeout_ms: 30_000, start_timeout_ms: 30_000, shutdown_timeout_ms: 5_000 }
    }
}

/// Cloud modules by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudModule {
    CloudHub,
    ApiServer,
    EdgeController,
    DeviceController,
}

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 10350)), watch_history: 10_000 }
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
            modules: vec![CloudModule::CloudHub, CloudModule::ApiServer, CloudModule::EdgeController, CloudModule::DeviceController],
            runtime: RuntimeConfig::default(),
            cloudhub: CloudHubConfig::default(),
            api: ApiConfig::default(),
            edgecontroller: EdgeControllerConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeHubConfig {
    /// The CloudHub to connect to.
    pub server: HostPort,
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

impl Default for EdgeHubConfig {
    fn default() -> Self {
        EdgeHubConfig {
            server: HostPort { host: "127.0.0.1".into(), port: 10000 },
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
}

impl Default for MetaServerConfig {
    fn default() -> Self {
        MetaServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 10550)) }
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
    /// subscribers that lag behind, bytes; beyond it the oldest are dropped.
    pub max_backlog_bytes: usize,
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
            max_backlog_bytes: 4 << 20,
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
}

impl Default for EdgedConfig {
    fn default() -> Self {
        EdgedConfig {
            runtime_socket: PathBuf::from("/run/containerd/containerd.sock"),
            runtime_timeout_ms: 120_000,
            sync_period_ms: 1000,
            backoff_base_ms: 10_000,
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
    pub edged: EdgedConfig,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            role: Some(Role::Edge),
            data_dir: PathBuf::from("./hive-data/edge"),
            db_cache_bytes: 2 << 20,
            node_name: String::new(),
            modules: vec![EdgeModule::EdgeHub, EdgeModule::MetaManager, EdgeModule::EventBus, EdgeModule::DeviceTwin, EdgeModule::ServiceBus, EdgeModule::Edged],
            runtime: RuntimeConfig::default(),
            edgehub: EdgeHubConfig::default(),
            metaserver: MetaServerConfig::default(),
            eventbus: EventBusConfig::default(),
            servicebus: ServiceBusConfig::default(),
            edged: EdgedConfig::default(),
        }
    }
}

/// The configuration of one role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleConfig {
    Cloud(CloudConfig),
    Edge(EdgeConfig),
}

impl RoleConfig {
    pub fn role(&self) -> Role {
        match self {
            RoleConfig::Cloud(_) => Role::Cloud,
            RoleConfig::Edge(_) => Role::Edge,
        }
    }

    pub fn runtime(&self) -> &RuntimeConfig {
        match self {
            RoleConfig::Cloud(c) => &c.runtime,
            RoleConfig::Edge(c) => &c.runtime,
        }
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        let r = match self {
            RoleConfig::Cloud(c) => toml::to_string_pretty(c),
            RoleConfig::Edge(c) => toml::to_string_pretty(c),
        };
        r.unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

/// A config that cannot be used: where, and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{source_name}:{line}:{column}: {key}{message}")]
    Invalid { source_name: String, line: usize, column: usize, key: String, message: String },
    #[error("no built-in profile `{0}` (built-in: {1})")]
    UnknownProfile(String, String),
    #[error("{0}")]
    Usage(String),
}

/// Where a config comes from.
pub enum Source<'a> {
    File(&'a Path),
    Profile(&'a str),
    /// The role's built-in default profile.
    Default,
}

impl<'a> Source<'a> {
    /// From `--config` / `--profile` flags; None if both were given.
    pub fn from_flags(config: Option<&'a Path>, profile: Option<&'a str>) -> Option<Source<'a>> {
        match (config, profile) {
            (Some(_), Some(_)) => None,
            (Some(f), None) => Some(Source::File(f)),
            (None, Some(p)) => Some(Source::Profile(p)),
            (None, None) => Some(Source::Default),
        }
    }
}

/// Load and check the config of `role` (if known) from `source`.
/// With `role` = None the file must say `role = "cloud" | "edge"`.
pub fn load(role: Option<Role>, source: Source<'_>) -> Result<RoleConfig, ConfigError> {
    let (name, text) = match source {
        Source::File(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::Read { path: p.display().to_string(), reason: e.to_string() })?;
            (p.display().to_string(), text)
        }
        Source::Profile(n) => (format!("profile:{n}"), profile_text(n)?.to_string()),
        Source::Default => {
            let r = role.ok_or_else(|| ConfigError::Usage("say which role (cloud or edge) to configure".into()))?;
            (format!("profile:{r}"), profile_text(r.as_str())?.to_string())
        }
    };
    parse(role, &name, &text)
}

pub fn profile_text(name: &str) -> Result<&'static str, ConfigError> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
        ConfigError::UnknownProfile(name.to_string(), PROFILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
    })
}

/// Parse `text` (named `name` in errors) as the config of `role`.
pub fn parse(role: Option<Role>, name: &str, text: &str) -> Result<RoleConfig, ConfigError> {
    #[derive(Deserialize)]
    struct Peek {
        role: Option<toml::Value>,
    }
    let peek: Peek = toml::from_str(text).map_err(|e| toml_error(name, text, "", &e))?;
    let file_role = match peek.role {
        None => None,
        Some(toml::Value::String(s)) if s == "cloud" => Some(Role::Cloud),
        Some(toml::Value::String(s)) if s == "edge" => Some(Role::Edge),
        Some(v) => {
            return Err(invalid_at(name, text, "", "role", format!("must be \"cloud\" or \"edge\", not {v}")));
        }
    };
    let role = match (role, file_role) {
        (Some(want), Some(got)) if want != got => {
            return Err(invalid_at(
                name,
                text,
                "",
                "role",
                format!("this file configures the {got} role, but it was given to `hive {want}`"),
            ));
        }
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => {
            return Err(ConfigError::Usage(format!("{name}: says no `role = \"cloud\"|\"edge\"`; add it or pass --role")))
        }
    };
    let cfg = match role {
        Role::Cloud => RoleConfig::Cloud(typed(name, text)?),
        Role::Edge => RoleConfig::Edge(typed(name, text)?),
    };
    check(name, text, &cfg)?;
    Ok(cfg)
}

fn typed<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(name, text, "", &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() { String::new() } else { path };
        toml_error(name, text, &key, e.inner())
    })
}

/// Checks types cannot express.
fn check(name: &str, text: &str, cfg: &RoleConfig) -> Result<(), ConfigError> {
    let rt = cfg.runtime();
    if rt.channel_capacity == 0 {
        return Err(invalid_at(name, text, "runtime", "channel_capacity", "must be at least 1".into()));
    }
    for (key, v) in [
        ("request_timeout_ms", rt.request_timeout_ms),
        ("start_timeout_ms", rt.start_timeout_ms),
        ("shutdown_timeout_ms", rt.shutdown_timeout_ms),
    ] {
        if v == 0 {
            return Err(invalid_at(name, text, "runtime", key, "must be more than 0".into()));
        }
    }
    let (data_dir, dup) = match cfg {
        RoleConfig::Cloud(c) => (&c.data_dir, first_dup(&c.modules).map(|m| format!("{m:?}"))),
        RoleConfig::Edge(c) => (&c.data_dir, first_dup(&c.modules).map(|m| format!("{m:?}"))),
    };
    if data_dir.as_os_str().is_empty() {
        return Err(invalid_at(name, text, "", "data_dir", "must not be empty".into()));
    }
    if let Some(m) = dup {
        return Err(invalid_at(name, text, "", "modules", format!("lists {} twice", m.to_lowercase())));
    }
    let frame_range = 1024..=crate::proto::frame::MAX_FRAME_CEILING;
    let frame_msg = format!("must be between {} and {}", frame_range.start(), frame_range.end());
    match cfg {
        RoleConfig::Cloud(c) => {
            let h = &c.cloudhub;
            if !frame_range.contains(&h.max_frame_bytes) {
                return Err(invalid_at(name, text, "cloudhub", "max_frame_bytes", frame_msg));
            }
            for (key, v) in [("node_timeout_s", h.node_timeout_s), ("handshake_timeout_ms", h.handshake_timeout_ms), ("node_queue", h.node_queue as u64)] {
                if v == 0 {
                    return Err(invalid_at(name, text, "cloudhub", key, "must be more than 0".into()));
                }
            }
        }
        RoleConfig::Edge(c) => {
            let h = &c.edgehub;
            if !frame_range.contains(&h.max_frame_bytes) {
                return Err(invalid_at(name, text, "edgehub", "max_frame_bytes", frame_msg));
            }
            for (key, v) in [("ping_interval_s", h.ping_interval_s), ("backoff_min_ms", h.backoff_min_ms), ("connect_timeout_ms", h.connect_timeout_ms)] {
                if v == 0 {
                    return Err(invalid_at(name, text, "edgehub", key, "must be more than 0".into()));
                }
            }
            if h.backoff_max_ms < h.backoff_min_ms {
                return Err(invalid_at(name, text, "edgehub", "backoff_max_ms", "must not be below backoff_min_ms".into()));
            }
            if !c.node_name.is_empty() {
                if let Err(e) = crate::tls::check_node_name(&c.node_name) {
                    return Err(invalid_at(name, text, "", "node_name", e.to_string()));
                }
            }
        }
    }
    Ok(())
}

fn first_dup<T: PartialEq>(v: &[T]) -> Option<&T> {
    v.iter().enumerate().find(|(i, m)| v[..*i].contains(m)).map(|(_, m)| m)
}

fn toml_error(name: &str, text: &str, key: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
    // Syntax errors carry no key path: name the text the error points at.
    let at = e.span().and_then(|s| text.get(s)).map(str::trim).filter(|t| !t.is_empty() && t.len() <= 60 && !t.contains('\n'));
    let key = match (key.is_empty(), at) {
        (false, _) => format!("{key}: "),
        (true, Some(t)) => format!("`{t}`: "),
        (true, None) => String::new(),
    };
    ConfigError::Invalid { source_name: name.to_string(), line, column, key, message: with_hint(e.message().trim()) }
}

/// serde's address errors say what failed, not what would work.
fn with_hint(msg: &str) -> String {
    if msg.contains("invalid socket address syntax") {
        format!("{msg} (expected IP:PORT, e.g. 127.0.0.1:10350 or [::1]:10350)")
    } else {
        msg.to_string()
    }
}

/// An error about `section.key`, located at the line where the key is set
/// (or line 1 if the file does not set it).
fn invalid_at(name: &str, text: &str, section: &str, key: &str, message: String) -> ConfigError {
    let (line, column) = find_key(text, section, key).unwrap_or((1, 1));
    let full = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
    ConfigError::Invalid { source_name: name.to_string(), line, column, key: format!("{full}: "), message }
}

fn find_key(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            current = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let dotted = format!("{section}.{key}");
        let hit = |k: &str| l.strip_prefix(k).map(|r| r.trim_start().starts_with('=')).unwrap_or(false);
        if (current == section && hit(key)) || (current.is_empty() && !section.is_empty() && hit(&dotted)) {
            return Some((i + 1, raw.len() - raw.trim_start().len() + 1));
        }
    }
    None
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
