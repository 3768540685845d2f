//! Twin semantics, as KubeEdge's DeviceTwin has them (dtmanager/twin.go):
//! an edge `twin/update` (every provided value is a write: new timestamp,
//! edge version + 1), deletes with `null` (optional twins only, leaving a
//! tombstone), the cloud's desired values (from the Device spec), and
//! `twin/cloud_updated` with versions — where hive rejects a stale version
//! with an error instead of ignoring it. A request is applied whole or not
//! at all.
//!
//! Owns: those rules, on a `Device` in memory. Must not do I/O.

use serde_json::{json, Map, Value};

use super::model::{Device, Twin, TwinValue, Version};
use super::validate::{key_ok, typed, value_ok, KEY_REASON, VALUE_REASON};

/// What a successful update changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Changed keys as the update result shows them (`null` = deleted).
    pub result: Map<String, Value>,
    /// Changed keys: `{"last": .., "current": ..}`.
    pub document: Map<String, Value>,
    pub changed: Vec<String>,
}

/// An error result: (code, reason).
pub type Refusal = (u16, String);

pub const UNMARSHAL: &str = "Unmarshal update request body failed, please check the request";

fn bad(reason: &str) -> Refusal {
    (400, reason.to_string())
}

/// One key of a request, checked.
struct Item {
    expected: Option<String>,
    actual: Option<String>,
    optional: Option<bool>,
    ty: Option<String>,
    versions: (Option<Version>, Option<Version>),
}

fn string_value(v: &Value, field: &str) -> Result<Option<String>, Refusal> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => match o.get("value") {
            Some(Value::String(s)) if value_ok(s) => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(bad(VALUE_REASON)),
            None | Some(Value::Null) => Err(bad(&format!("{field}.value is missing"))),
            Some(_) => Err(bad(UNMARSHAL)),
        },
        Some(_) => Err(bad(UNMARSHAL)),
    }
}

fn version(v: &Value, field: &str) -> Result<Option<Version>, Refusal> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(o) => {
            let n = |k: &str| o.get(k).map(|x| x.as_u64().ok_or_else(|| bad(UNMARSHAL))).transpose().map(|x| x.unwrap_or(0));
            Ok(Some(Version { cloud: n("cloud")?, edge: n("edge")? }))
        }
    }
}

fn parse_item(v: &Value) -> Result<Item, Refusal> {
    if !v.is_object() {
        return Err(bad(UNMARSHAL));
    }
    let optional = match v.get("optional") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(bad(UNMARSHAL)),
    };
    let ty = match v.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match m.get("type") {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(bad(UNMARSHAL)),
        },
        Some(_) => return Err(bad(UNMARSHAL)),
    };
    Ok(Item {
        expected: string_value(v, "expected")?,
        actual: string_value(v, "actual")?,
        optional,
        ty,
        versions: (version(v, "expected_version")?, version(v, "actual_version")?),
    })
}

/// The `twin` object of a request; KubeEdge's reasons when it is missing.
pub fn twin_field(payload: &Value) -> Result<&Map<String, Value>, Refusal> {
    match payload.get("twin") {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Err(bad("Update twin error, key:twin does not exist")),
        Some(_) => Err(bad(UNMARSHAL)),
    }
}

fn bump(v: Option<Version>) -> Option<Version> {
    Some(v.map(|v| Version { cloud: v.cloud, edge: v.edge + 1 }).unwrap_or(Version { cloud: 0, edge: 1 }))
}

fn live(dev: &Device, key: &str) -> Option<Twin> {
    dev.twins.get(key).filter(|t| !t.deleted).cloned()
}

/// An edge `twin/update` (KubeEdge's RestDealType).
pub fn edge_update(dev: &mut Device, twin: &Map<String, Value>, now: u64) -> Result<Outcome, Refusal> {
    let mut next = dev.clone();
    let mut out = Outcome::default();
    for (key, v) in twin {
        if !key_ok(key) {
            return Err(bad(KEY_REASON));
        }
        let old = live(dev, key);
        if v.is_null() {
            // Delete: only a live, optional twin; otherwise silently nothing.
            if let Some(o) = old.filter(|t| t.optional) {
                let t = next.twins.entry(key.clone()).or_default();
                t.expected = None;
                t.actual = None;
                t.expected_version = o.expected_version.and_then(|v| bump(Some(v)));
                t.actual_version = o.actual_version.and_then(|v| bump(Some(v)));
                t.deleted = true;
                out.result.insert(key.clone(), Value::Null);
                out.document.insert(key.clone(), json!({"last": o.to_json(), "current": null}));
                out.changed.push(key.clone());
            }
            continue;
        }
        let item = parse_item(v)?;
        let (t, written) = match old.clone() {
            None => {
                let ty = item.ty.clone().unwrap_or_else(|| "string".into());
                let mut t = Twin { ty, optional: item.optional.unwrap_or(true), ..Default::default() };
                for (val, slot, ver) in [(&item.expected, &mut t.expected, &mut t.expected_version), (&item.actual, &mut t.actual, &mut t.actual_version)] {
                    if let Some(val) = val {
                        typed(&t.ty, val).map_err(bad)?;
                        *slot = Some(TwinValue { value: val.clone(), ts: now });
                        *ver = bump(None);
                    }
                }
                let j = t.to_json();
                (t, Some(j))
            }
            Some(mut t) => {
                let mut shown = Map::new();
                let mut touched = false;
                if let Some(val) = &item.expected {
                    typed(&t.ty, val).map_err(bad)?;
                    t.expected = Some(TwinValue { value: val.clone(), ts: now });
                    t.expected_version = bump(t.expected_version);
                    shown.insert("expected".into(), json!({"value": val, "metadata": {"timestamp": now}}));
                    touched = true;
                }
                if let Some(val) = &item.actual {
                    typed(&t.ty, val).map_err(bad)?;
                    t.actual = Some(TwinValue { value: val.clone(), ts: now });
                    t.actual_version = bump(t.actual_version);
                    shown.insert("actual".into(), json!({"value": val, "metadata": {"timestamp": now}}));
                    touched = true;
                }
                if item.optional == Some(false) && t.optional {
                    t.optional = false;
                    touched = true;
                }
                // The type of a live twin never changes; a different one still counts as a change.
                if item.ty.as_ref().is_some_and(|ty| *ty != t.ty) {
                    touched = true;
                }
                shown.insert("optional".into(), json!(t.optional));
                if !t.ty.is_empty() {
                    shown.insert("metadata".into(), json!({"type": t.ty}));
                }
                let written = touched.then_some(Value::Object(shown));
                (t, written)
            }
        };
        if let Some(j) = written {
            let last = old.map(|o| o.to_json()).unwrap_or(Value::Null);
            out.document.insert(key.clone(), json!({"last": last, "current": t.to_json()}));
            out.result.insert(key.clone(), j);
            out.changed.push(key.clone());
            next.twins.insert(key.clone(), t);
        }
    }
    *dev = next;
    Ok(out)
}

/// `twin/cloud_updated` (KubeEdge's SyncDealType): each key carries the
/// versions the writer has seen; one older than ours is refused (409).
pub fn cloud_sync(dev: &mut Device, twin: &Map<String, Value>, now: u64) -> Result<Outcome, Refusal> {
    let mut next = dev.clone();
    let mut out = Outcome::default();
    for (key, v) in twin {
        if !key_ok(key) {
            return Err(bad(KEY_REASON));
        }
        let item = parse_item(v)?;
        let old = live(dev, key);
        let mut t = old.clone().unwrap_or(Twin { ty: item.ty.clone().unwrap_or_else(|| "string".into()), ..Default::default() });
        for (val, slot, ver, theirs) in
            [(&item.expected, &mut t.expected, &mut t.expected_version, item.versions.0), (&item.actual, &mut t.actual, &mut t.actual_version, item.versions.1)]
        {
            let Some(val) = val else { continue };
            let theirs = theirs.ok_or_else(|| bad("version not allowed be nil while syncing"))?;
            if let Some(ours) = *ver {
                if ours.cloud > theirs.cloud || ours.edge > theirs.edge {
                    return Err((
                        409,
                        format!(
                            "stale version of twin {key}: cloud {} edge {} is older than the edge's cloud {} edge {}",
                            theirs.cloud, theirs.edge, ours.cloud, ours.edge
                        ),
                    ));
                }
            }
            typed(&t.ty, val).map_err(bad)?;
            *slot = Some(TwinValue { value: val.clone(), ts: now });
            *ver = Some(theirs);
        }
        let last = old.map(|o| o.to_json()).unwrap_or(Value::Null);
        out.document.insert(key.clone(), json!({"last": last, "current": t.to_json()}));
        out.result.insert(key.clone(), t.to_json());
        out.changed.push(key.clone());
        next.twins.insert(key.clone(), t);
    }
    *dev = next;
    Ok(out)
}

/// A property of the cloud's Device spec: name, desired value, type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub value: Option<String>,
    pub ty: String,
}

/// The cloud's desired values, from Device object `version`. Values the
/// type does not allow are skipped (and named in the second result).
pub fn cloud_desired(dev: &mut Device, version: u64, props: &[Desired], now: u64) -> (Outcome, Vec<String>) {
    let mut out = Outcome::default();
    let mut skipped = Vec::new();
    dev.properties = props.iter().map(|p| p.name.clone()).collect();
    if version <= dev.desired_version {
        return (out, skipped);
    }
    dev.desired_version = version;
    for p in props {
        let Some(val) = &p.value else { continue };
        let old = live(dev, &p.name);
        let mut t = old.clone().unwrap_or(Twin { ty: p.ty.clone(), ..Default::default() });
        if old.is_some() && t.expected_value() == val {
            continue;
        }
        if !key_ok(&p.name) || !value_ok(val) || typed(&t.ty, val).is_err() {
            skipped.push(p.name.clone());
            continue;
        }
        t.expected = Some(TwinValue { value: val.clone(), ts: now });
        let edge = t.expected_version.map(|v| v.edge).unwrap_or(0);
        t.expected_version = Some(Version { cloud: version, edge });
        let last = old.map(|o| o.to_json()).unwrap_or(Value::Null);
        out.document.insert(p.name.clone(), json!({"last": last, "current": t.to_json()}));
        out.changed.push(p.name.clone());
        dev.twins.insert(p.name.clone(), t);
    }
    (out, skipped)
}

/// Device states KubeEdge accepts (compared in lower case, stored as sent).
pub fn state_ok(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "online" | "offline" | "ok" | "unknown" | "unhealthy")
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
