//! Topic escaping between MQTT clients and rumqttd's router. rumqttd 0.20
//! refuses subscriptions to topics starting with `$` (it disconnects the
//! client) and never routes such topics, but every KubeEdge device topic
//! is `$hw/...`. So EventBus's listener talks MQTT itself and hands the
//! router escaped names: a leading `$` or `~` gets a `~` in front.
//! (A consequence: a `#` or `+/...` filter also matches `$hw/...` topics,
//! where MQTT says it should not.)
//!
//! Owns: the mapping. Must not do I/O.

/// Client name → router name.
pub fn escape(topic: &str) -> String {
    if topic.starts_with('$') || topic.starts_with('~') {
        format!("~{topic}")
    } else {
        topic.to_string()
    }
}

/// Router name → client name.
pub fn unescape(topic: &str) -> &str {
    topic.strip_prefix('~').unwrap_or(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never_starts_with_dollar() {
        for t in ["$hw/events/device/a/b/twin/update", "~x", "~$y", "plain/topic", "+/user/#", "$share/g/t"] {
            let e = escape(t);
            assert!(!e.starts_with('$'), "{e}");
            assert_eq!(unescape(&e), t);
        }
    }
}
