//! Config types both roles share: the role itself, `host:port` addresses and
//! the module runtime's settings.
//!
//! Owns: those types and their defaults. Must not load or check files.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
    /// A one-line summary (connected, backlog, outbox) is logged at info
    /// this often, in seconds; 0 turns it off.
    pub summary_interval_s: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { channel_capacity: 1024, request_timeout_ms: 30_000, start_timeout_ms: 30_000, shutdown_timeout_ms: 5_000, summary_interval_s: 300 }
    }
}
