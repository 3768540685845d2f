//! Configuration: TOML files and the built-in profiles compiled into the
//! binary (a firmware image may carry no config file at all).
//!
//! Owns: loading a role's config from a file, a profile or the defaults, and
//! the checks types cannot express (through each role's half in cloud.rs and
//! edge.rs). The section types live in common.rs, cloud.rs and edge.rs;
//! errors naming file:line:key in locate.rs. Must not start anything.
//! The shipped profiles in profiles/ document every field; a unit test keeps
//! them equal to the defaults.

mod cloud;
mod common;
mod edge;
mod locate;

use std::path::Path;

use serde::Deserialize;

pub use cloud::*;
pub use common::*;
pub use edge::*;
pub use locate::ConfigError;
use locate::{invalid_at, key_at, toml_error};

/// Built-in profiles: (name, TOML text).
pub const PROFILES: &[(&str, &str)] = &[("cloud", include_str!("../../profiles/cloud.toml")), ("edge", include_str!("../../profiles/edge.toml"))];

/// The configuration of one role.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // built once at start; boxing would buy nothing
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
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read { path: p.display().to_string(), reason: e.to_string() })?;
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
    PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| ConfigError::UnknownProfile(name.to_string(), PROFILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")))
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
            return Err(invalid_at(name, text, "", "role", format!("this file configures the {got} role, but it was given to `hive {want}`")));
        }
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => return Err(ConfigError::Usage(format!("{name}: says no `role = \"cloud\"|\"edge\"`; add it or pass --role"))),
    };
    let cfg = match role {
        Role::Cloud => RoleConfig::Cloud(typed(name, text)?),
        Role::Edge => RoleConfig::Edge(typed(name, text)?),
    };
    check(name, text, &cfg)?;
    Ok(cfg)
}

/// The typed config; an error names the key its span points into (toml's
/// spans, not a path-tracking deserializer: that doubled every config
/// visitor in the binary, ~40 KiB of a firmware image).
fn typed<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(name, text, "", &e))?;
    T::deserialize(de).map_err(|e| {
        let key = e.span().map(|s| key_at(text, s.start)).unwrap_or_default();
        toml_error(name, text, &key, &e)
    })
}

/// Checks types cannot express.
fn check(name: &str, text: &str, cfg: &RoleConfig) -> Result<(), ConfigError> {
    if let Some(e) = crate::features::missing_role(cfg.role()) {
        return Err(invalid_at(name, text, "", "role", e));
    }
    let rt = cfg.runtime();
    if rt.channel_capacity == 0 {
        return Err(invalid_at(name, text, "runtime", "channel_capacity", "must be at least 1".into()));
    }
    for (key, v) in [("request_timeout_ms", rt.request_timeout_ms), ("start_timeout_ms", rt.start_timeout_ms), ("shutdown_timeout_ms", rt.shutdown_timeout_ms)]
    {
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
        RoleConfig::Cloud(c) => cloud::check(c, name, text, frame_range, frame_msg),
        RoleConfig::Edge(c) => edge::check(c, name, text, frame_range, frame_msg),
    }
}

fn first_dup<T: PartialEq>(v: &[T]) -> Option<&T> {
    v.iter().enumerate().find(|(i, m)| v[..*i].contains(m)).map(|(_, m)| m)
}

#[cfg(test)]
mod tests;
