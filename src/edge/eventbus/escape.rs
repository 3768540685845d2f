//! Topic escaping between MQTT clients and rumqttd's router. rumqttd 0.20
//! refuses subscriptions to topics starting with `$` (it disconnects the
//! client) and never routes such topics, but every KubeEdge device topic
//! is `$hw/...`. So EventBus's listener talks MQTT itself and hands the
//! router escaped names: a leading `$` or `~` gets a `~` in front.
//! (Device filters are matched by the listener itself, by MQTT's rules:
//! see filter.rs.) Payloads inside the router carry the QoS they were
//! published with in one leading byte, so a delivery can be the minimum of
//! that and the subscription's (MQTT 3.1.1 §3.8.4).
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

/// A payload for the router, with its publish QoS (0 or 1; 2 counts as 1).
pub fn wrap(qos: u8, payload: &[u8]) -> bytes::Bytes {
    let mut b = Vec::with_capacity(payload.len() + 1);
    b.push(qos.min(1));
    b.extend_from_slice(payload);
    b.into()
}

/// A payload from the router: (publish QoS, payload).
pub fn unwrap(b: &[u8]) -> (u8, &[u8]) {
    match b.split_first() {
        Some((q, rest)) => ((*q).min(1), rest),
        None => (0, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_qos_through_the_router() {
        assert_eq!(unwrap(&wrap(1, b"x")), (1, &b"x"[..]));
        assert_eq!(unwrap(&wrap(2, b"")), (1, &b""[..]));
        assert_eq!(unwrap(&wrap(0, b"{}")), (0, &b"{}"[..]));
    }

    #[test]
    fn round_trips_and_never_starts_with_dollar() {
        for t in ["$hw/events/device/a/b/twin/update", "~x", "~$y", "plain/topic", "+/user/#", "$share/g/t"] {
            let e = escape(t);
            assert!(!e.starts_with('$'), "{e}");
            assert_eq!(unescape(&e), t);
        }
    }
}
