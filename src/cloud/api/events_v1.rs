//! `events.k8s.io/v1` Events, read-only views of the core v1 Events hive
//! stores (what `kubectl events` and typed clients of the newer group
//! read): `involvedObject` is `regarding`, `message` is `note`, the old
//! counters are `deprecated*` and a repeat is a `series`.
//!
//! Owns: that conversion. Must not write; writes go to core v1 Events.

use serde_json::{json, Value};

pub const GROUP: &str = "events.k8s.io";

/// The events.k8s.io/v1 form of a stored core v1 Event.
pub fn from_core(v: &Value) -> Value {
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let first = v.get("firstTimestamp").and_then(Value::as_str).unwrap_or("");
    // eventTime is required in this group: the first time, as a MicroTime, when the core event has none.
    let event_time = match v.get("eventTime") {
        Some(Value::String(s)) if !s.is_empty() => json!(s),
        _ if first.ends_with('Z') => json!(format!("{}.000000Z", first.trim_end_matches('Z'))),
        _ => Value::Null,
    };
    let mut out = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": get("metadata"), "eventTime": event_time,
        "reportingController": v.get("reportingComponent").cloned().unwrap_or_else(|| v.pointer("/source/component").cloned().unwrap_or(json!(""))),
        "reportingInstance": get("reportingInstance"), "action": v.get("action").cloned().unwrap_or_else(|| get("reason")), "reason": get("reason"),
        "regarding": get("involvedObject"), "note": get("message"), "type": get("type"), "deprecatedSource": get("source"),
        "deprecatedFirstTimestamp": get("firstTimestamp"), "deprecatedLastTimestamp": get("lastTimestamp"), "deprecatedCount": get("count")});
    if v.get("count").and_then(Value::as_u64).unwrap_or(1) > 1 {
        let last = v.get("lastTimestamp").and_then(Value::as_str).unwrap_or("");
        out["series"] = json!({"count": get("count"), "lastObservedTime": format!("{}.000000Z", last.trim_end_matches('Z'))});
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_events_read_as_events_k8s_io() {
        let core = json!({"metadata": {"name": "e1", "namespace": "default"}, "involvedObject": {"kind": "Node", "name": "n"},
            "reason": "NodeReady", "message": "Node n status is now: NodeReady", "type": "Normal", "source": {"component": "hive-edge"},
            "reportingComponent": "hive-edge", "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z", "count": 3});
        let v = from_core(&core);
        assert_eq!(v["regarding"]["name"], "n");
        assert_eq!(v["note"], "Node n status is now: NodeReady");
        assert_eq!(v["eventTime"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(v["series"], json!({"count": 3, "lastObservedTime": "2026-01-01T00:05:00.000000Z"}));
        assert_eq!((v["reportingController"].as_str(), v["deprecatedCount"].as_u64()), (Some("hive-edge"), Some(3)));
    }
}
