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
    // A time of the event as a MicroTime (`…T15:04:05.000000Z`), if it has that time.
    let micro = |ptr: &str| {
        v.pointer(ptr).and_then(Value::as_str).and_then(crate::kube::parse_rfc3339).and_then(|t| crate::kube::rfc3339(t, Some(0))).map(Value::String)
    };
    // eventTime is required in this group: the first time (or the creation) when the core event has none.
    let event_time = match v.get("eventTime") {
        Some(Value::String(s)) if !s.is_empty() => json!(s),
        _ => micro("/firstTimestamp").or_else(|| micro("/metadata/creationTimestamp")).unwrap_or(Value::Null),
    };
    let mut out = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": get("metadata"), "eventTime": event_time,
        "reportingController": v.get("reportingComponent").cloned().unwrap_or_else(|| v.pointer("/source/component").cloned().unwrap_or(json!(""))),
        "reportingInstance": get("reportingInstance"), "action": v.get("action").cloned().unwrap_or_else(|| get("reason")), "reason": get("reason"),
        "regarding": get("involvedObject"), "note": get("message"), "type": get("type"), "deprecatedSource": get("source"),
        "deprecatedFirstTimestamp": get("firstTimestamp"), "deprecatedLastTimestamp": get("lastTimestamp"), "deprecatedCount": get("count")});
    if let (true, Some(last)) = (v.get("count").and_then(Value::as_u64).unwrap_or(1) > 1, micro("/lastTimestamp")) {
        out["series"] = json!({"count": get("count"), "lastObservedTime": last});
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
        let odd = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "firstTimestamp": "2026-01-01T01:00:00.5+01:00", "count": 2});
        let v = from_core(&odd);
        assert_eq!(v["eventTime"], "2026-01-01T00:00:00.000000Z");
        assert!(v.get("series").is_none(), "no lastTimestamp, no series: {v}");
        assert_eq!(from_core(&json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}))["eventTime"], "2026-01-01T00:00:00.000000Z");
    }
}
