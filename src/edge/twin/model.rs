//! DeviceTwin's data: a device with its twins (expected = desired, actual
//! = reported, each with a timestamp and cloud/edge versions), and how
//! they are written on MQTT in KubeEdge's JSON (`MsgTwin`: values are
//! strings, timestamps are ms since the epoch, versions never shown).
//!
//! Owns: those types and their JSON shapes. Must not do I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinValue {
    pub value: String,
    pub ts: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub cloud: u64,
    pub edge: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Twin {
    pub expected: Option<TwinValue>,
    pub actual: Option<TwinValue>,
    pub expected_version: Option<Version>,
    pub actual_version: Option<Version>,
    pub optional: bool,
    /// `metadata.type`: int, integer, float, boolean, string or "".
    pub ty: String,
    /// A tombstone (KubeEdge's type "deleted"): hidden, revived by an update.
    pub deleted: bool,
}

impl Default for Twin {
    fn default() -> Self {
        Twin { expected: None, actual: None, expected_version: None, actual_version: None, optional: true, ty: "string".into(), deleted: false }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// `{namespace}/{name}`.
    pub id: String,
    pub name: String,
    pub state: String,
    pub last_online: String,
    pub twins: BTreeMap<String, Twin>,
    /// Version of the cloud's Device object whose desired values were applied.
    pub desired_version: u64,
    /// Property names of the Device spec: only these are reported to the cloud.
    pub properties: Vec<String>,
    /// Its DeviceModel's cache key (`<ns>/devicemodel/<name>`), for property types.
    #[serde(default)]
    pub model: String,
}

fn value_json(v: &TwinValue) -> Value {
    json!({"value": v.value, "metadata": {"timestamp": v.ts}})
}

impl Twin {
    /// KubeEdge's MsgTwin, versions removed.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        if let Some(e) = &self.expected {
            o.insert("expected".into(), value_json(e));
        }
        if let Some(a) = &self.actual {
            o.insert("actual".into(), value_json(a));
        }
        o.insert("optional".into(), json!(self.optional));
        if !self.ty.is_empty() {
            o.insert("metadata".into(), json!({"type": self.ty}));
        }
        Value::Object(o)
    }

    pub fn expected_value(&self) -> &str {
        self.expected.as_ref().map(|v| v.value.as_str()).unwrap_or("")
    }

    pub fn actual_value(&self) -> &str {
        self.actual.as_ref().map(|v| v.value.as_str()).unwrap_or("")
    }
}

impl Device {
    /// Every live twin as MsgTwin (get results, deltas).
    pub fn twins_json(&self) -> Map<String, Value> {
        self.twins.iter().filter(|(_, t)| !t.deleted).map(|(k, t)| (k.clone(), t.to_json())).collect()
    }

    /// KubeEdge's delta: all live twins with an expected value, and
    /// `delta[key] = expected` where it differs from actual. None if no delta.
    pub fn delta(&self) -> Option<(Map<String, Value>, Map<String, Value>)> {
        let mut twin = Map::new();
        let mut delta = Map::new();
        for (k, t) in &self.twins {
            if t.deleted || t.expected_value().is_empty() {
                continue;
            }
            twin.insert(k.clone(), t.to_json());
            if t.expected_value() != t.actual_value() {
                delta.insert(k.clone(), json!(t.expected_value()));
            }
        }
        (!delta.is_empty()).then_some((twin, delta))
    }

    /// The device as a membership entry (`id`, `name`, `state`, `last_online`; never twins).
    pub fn member_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("name".into(), json!(self.name));
        if !self.state.is_empty() {
            o.insert("state".into(), json!(self.state));
        }
        if !self.last_online.is_empty() {
            o.insert("last_online".into(), json!(self.last_online));
        }
        Value::Object(o)
    }
}

/// A fresh KubeEdge-style event id (UUID v4 text).
pub fn event_id() -> String {
    crate::kube::new_uid()
}

/// `{"event_id", "timestamp"}` plus `rest`.
pub fn message(event_id: &str, now: u64, rest: Value) -> Vec<u8> {
    let mut o = Map::new();
    o.insert("event_id".into(), json!(event_id));
    o.insert("timestamp".into(), json!(now));
    if let Value::Object(r) = rest {
        o.extend(r);
    }
    serde_json::to_vec(&Value::Object(o)).unwrap_or_default()
}

/// An error result: `{"event_id", "timestamp", "code", "reason"}`.
pub fn error(event_id: &str, now: u64, code: u16, reason: &str) -> Vec<u8> {
    message(event_id, now, json!({"code": code, "reason": reason}))
}
