//! The MQTT topics EventBus subscribes (KubeEdge v1.17+ `SubTopics`, with
//! two-level device IDs `{namespace}/{name}`) and where a message on each
//! goes: DeviceTwin for `$hw/events/device/...` and `$hw/events/node/...`,
//! the cloud (a durable upload event) for the rest. The legacy one-level
//! device ID (`$hw/events/device/{name}/...`, namespace `default`) is
//! accepted too: its filters are subscribed as well.
//!
//! Owns: that table. Must not do I/O.

/// Filters subscribed on the broker.
pub const FILTERS: &[&str] = &[
    "$hw/events/upload/#",
    "$hw/events/device/+/+/state/update",
    "$hw/events/device/+/+/twin/+",
    "$hw/events/device/+/state/update",
    "$hw/events/device/+/twin/+",
    "$hw/events/node/+/membership/get",
    "SYS/dis/upload_records",
    "+/user/#",
];

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// To DeviceTwin.
    Twin,
    /// Up to the cloud as an upload event.
    Upload,
    /// Not ours (e.g. our own result topics echoed back): dropped.
    Ignore,
}

/// Where a message published on `topic` goes.
pub fn route(topic: &str) -> Route {
    if let Some(rest) = topic.strip_prefix("$hw/events/device/") {
        let parts: Vec<&str> = rest.split('/').collect();
        return match parts.as_slice() {
            [_, _, "state", "update"] | [_, _, "twin", _] | [_, "state", "update"] | [_, "twin", _] => Route::Twin,
            _ => Route::Ignore,
        };
    }
    if let Some(rest) = topic.strip_prefix("$hw/events/node/") {
        return match rest.split('/').collect::<Vec<_>>().as_slice() {
            [_, "membership", "get"] => Route::Twin,
            _ => Route::Ignore,
        };
    }
    let user = topic.split('/').nth(1) == Some("user") && topic.split('/').count() >= 3;
    if topic.starts_with("$hw/events/upload/") || topic == "SYS/dis/upload_records" || user {
        return Route::Upload;
    }
    Route::Ignore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_go_where_kubeedge_sends_them() {
        for t in [
            "$hw/events/device/default/thermo/twin/update",
            "$hw/events/device/default/thermo/twin/get",
            "$hw/events/device/default/thermo/twin/cloud_updated",
            "$hw/events/device/default/thermo/state/update",
            "$hw/events/device/thermo/twin/update",
            "$hw/events/node/edge-1/membership/get",
        ] {
            assert_eq!(route(t), Route::Twin, "{t}");
        }
        for t in ["$hw/events/upload/x", "$hw/events/upload/a/b", "SYS/dis/upload_records", "default/user/app", "ns/user/a/b"] {
            assert_eq!(route(t), Route::Upload, "{t}");
        }
        for t in [
            "$hw/events/device/default/thermo/twin/update/result",
            "$hw/events/device/default/thermo/twin/update/delta",
            "$hw/events/node/edge-1/membership/get/result",
            "other/topic",
            "user/x",
        ] {
            assert_eq!(route(t), Route::Ignore, "{t}");
        }
    }
}
