//! DeviceController upstream: what DeviceTwin on an edge reports about its
//! devices lands in the Device's status, as KubeEdge's device controller
//! writes it (`status.twins[]` with `reported` / `observedDesired`,
//! `status.state`, `status.lastOnlineTime`). Resources, as the edge names them:
//! - `<namespace>/device/<name>/twin/<property>`: `{"reported": {"value": "..",
//!   "metadata": {..}}, "observedDesired": {..}}` — one property, so the
//!   edge's outbox coalesces per property;
//! - `<namespace>/device/<name>/state`: `{"state": "online", "lastOnlineTime": ".."}`.
//!
//! Owns: those rules and node authorization for devices. Must not touch specs.

use serde_json::{json, Map, Value};

use super::place::device_node;
use crate::cloud::status::{update_status, StatusError, Written};
use crate::cloud::store::Store;

/// Largest twin report accepted, bytes (the edge enforces the same cap).
pub const MAX_REPORT: usize = 64 * 1024;

fn refused(why: String) -> StatusError {
    StatusError::Refused(why)
}

/// A `{"value": "<string>", "metadata": {..}}` as KubeEdge's TwinProperty.
fn twin_property(v: &Value, field: &str) -> Result<Option<Value>, StatusError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(p) => {
            let value = p.get("value").ok_or_else(|| refused(format!("{field}.value is missing")))?;
            let value = value.as_str().ok_or_else(|| refused(format!("{field}.value must be a string, not {value}")))?;
            let mut out = Map::new();
            out.insert("value".into(), json!(value));
            match p.get("metadata") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    // KubeEdge's metadata is a map of strings.
                    let m: Map<String, Value> =
                        m.iter().map(|(k, v)| (k.clone(), json!(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))).collect();
                    out.insert("metadata".into(), Value::Object(m));
                }
                Some(other) => return Err(refused(format!("{field}.metadata must be an object, not {other}"))),
            }
            Ok(Some(Value::Object(out)))
        }
    }
}

pub fn apply(store: &dyn Store, node: &str, resource: &str, content: &[u8]) -> Result<Written, StatusError> {
    if content.len() > MAX_REPORT {
        return Err(refused(format!("{resource}: report of {} bytes is over the {MAX_REPORT} byte cap", content.len())));
    }
    let report: Value = serde_json::from_slice(content).map_err(|e| refused(format!("{resource}: content is not JSON: {e}")))?;
    let parts: Vec<&str> = resource.split('/').collect();
    let (ns, name, what) = match parts.as_slice() {
        [ns, "device", name, rest @ ..] if !ns.is_empty() && !name.is_empty() => (*ns, *name, rest.to_vec()),
        _ => return Err(refused(format!("`{resource}` is not a device report"))),
    };
    let key = format!("devices.kubeedge.io/devices/{ns}/{name}");
    let own = |dev: &Value| -> Result<(), String> {
        match device_node(dev) {
            Some(n) if n == node => Ok(()),
            other => Err(format!("device {ns}/{name} is placed on {}, not on node {node}", other.unwrap_or("no node"))),
        }
    };
    match what.as_slice() {
        ["twin", prop] if !prop.is_empty() => {
            let reported = twin_property(&report, "reported")?;
            let desired = twin_property(&report, "observedDesired")?;
            update_status(store, &key, |dev, st| {
                own(dev)?;
                if !crate::kube::items(dev, "/spec/properties").any(|p| p["name"] == *prop) {
                    return Err(format!("property `{prop}` is not in the spec of device {ns}/{name}"));
                }
                let Some(o) = st.as_object_mut() else { return Ok(()) };
                let twins = o.entry("twins").or_insert_with(|| json!([]));
                if !twins.is_array() {
                    *twins = json!([]);
                }
                let Some(list) = twins.as_array_mut() else { return Ok(()) };
                let i = match list.iter().position(|t| t["propertyName"] == *prop) {
                    Some(i) => i,
                    None => {
                        list.push(json!({ "propertyName": prop }));
                        list.len() - 1
                    }
                };
                if let Some(t) = list[i].as_object_mut() {
                    if let Some(r) = &reported {
                        t.insert("reported".into(), r.clone());
                    }
                    if let Some(d) = &desired {
                        t.insert("observedDesired".into(), d.clone());
                    }
                }
                Ok(())
            })
        }
        ["state"] => {
            let state = report.get("state").and_then(Value::as_str).ok_or_else(|| refused(format!("{resource}: `state` must be a string")))?.to_string();
            let last = report.get("lastOnlineTime").and_then(Value::as_str).map(str::to_string);
            update_status(store, &key, |dev, st| {
                own(dev)?;
                if let Some(o) = st.as_object_mut() {
                    o.insert("state".into(), json!(state));
                    if let Some(l) = &last {
                        o.insert("lastOnlineTime".into(), json!(l));
                    }
                }
                Ok(())
            })
        }
        _ => Err(refused(format!("`{resource}`: a device report is .../twin/<property> or .../state"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;

    fn store() -> SledStore {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = SledStore::open(&db, 100).unwrap();
        let dev = json!({"metadata": {"name": "thermo", "namespace": "default"},
            "spec": {"nodeName": "e1", "properties": [{"name": "temp", "desired": {"value": "25"}}]}});
        s.create("devices.kubeedge.io/devices/default/thermo", &serde_json::to_vec(&dev).unwrap()).unwrap();
        s
    }

    fn status(s: &SledStore) -> Value {
        serde_json::from_slice::<Value>(&s.get("devices.kubeedge.io/devices/default/thermo").unwrap().unwrap().value).unwrap()["status"].clone()
    }

    #[test]
    fn reports_land_in_status_twins_for_the_devices_own_node_only() {
        let s = store();
        let r = br#"{"reported":{"value":"23.5","metadata":{"timestamp":1717000000123,"type":"float"}},"observedDesired":{"value":"25"}}"#;
        apply(&s, "e1", "default/device/thermo/twin/temp", r).unwrap();
        assert_eq!(
            status(&s),
            json!({"twins": [{"propertyName": "temp", "reported": {"value": "23.5", "metadata": {"timestamp": "1717000000123", "type": "float"}},
                "observedDesired": {"value": "25"}}]})
        );
        apply(&s, "e1", "default/device/thermo/twin/temp", br#"{"reported":{"value":"24"}}"#).unwrap();
        assert_eq!(status(&s)["twins"][0]["reported"], json!({"value": "24"}));
        assert_eq!(status(&s)["twins"].as_array().unwrap().len(), 1);
        apply(&s, "e1", "default/device/thermo/state", br#"{"state":"online","lastOnlineTime":"2026-11-25T10:00:00Z"}"#).unwrap();
        assert_eq!(status(&s)["state"], "online");

        let before = status(&s);
        for (node, res, body) in [
            ("e2", "default/device/thermo/twin/temp", &br#"{"reported":{"value":"1"}}"#[..]),
            ("e1", "default/device/thermo/twin/humidity", br#"{"reported":{"value":"1"}}"#),
            ("e1", "default/device/thermo/twin/temp", br#"{"reported":{"value":1}}"#),
            ("e1", "default/device/thermo/twin/temp", br#"{"reported":{}}"#),
            ("e1", "default/device/thermo/twin/temp", b"nope"),
            ("e1", "default/device/thermo/state", br#"{"state":5}"#),
            ("e1", "default/device/thermo/other", b"{}"),
            ("e1", "default/pod/thermo/twin/temp", b"{}"),
        ] {
            assert!(apply(&s, node, res, body).is_err(), "{node} {res} {}", String::from_utf8_lossy(body));
        }
        let big = format!(r#"{{"reported":{{"value":"{}"}}}}"#, "x".repeat(MAX_REPORT));
        assert!(apply(&s, "e1", "default/device/thermo/twin/temp", big.as_bytes()).is_err());
        assert_eq!(status(&s), before, "refusals change nothing");
    }
}
