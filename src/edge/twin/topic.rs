//! What a device asks on MQTT, from the topic: the device (`{ns}/{name}`,
//! or the legacy one-level `{name}` in namespace `default`), the action,
//! and the base topic replies go under (the ID exactly as in the request).
//!
//! Owns: topic parsing. Must not do I/O.

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    TwinUpdate,
    TwinGet,
    CloudUpdated,
    StateUpdate,
    MembershipGet,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    /// `{namespace}/{name}`; empty for membership.
    pub id: String,
    /// e.g. `$hw/events/device/default/thermo` (replies: `<base>/twin/update/result`).
    pub base: String,
}

pub fn parse(topic: &str) -> Option<Request> {
    if let Some(rest) = topic.strip_prefix("$hw/events/node/") {
        let (node, tail) = rest.split_once('/')?;
        return (tail == "membership/get" && !node.is_empty()).then(|| Request { action: Action::MembershipGet, id: String::new(), base: String::new() });
    }
    let rest = topic.strip_prefix("$hw/events/device/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (id, base_len, tail) = match parts.as_slice() {
        [ns, name, a, b] if !ns.is_empty() && !name.is_empty() && (*a == "twin" || *a == "state") => (format!("{ns}/{name}"), 2, (*a, *b)),
        [name, a, b] if !name.is_empty() => (format!("default/{name}"), 1, (*a, *b)),
        _ => return None,
    };
    let action = match tail {
        ("twin", "update") => Action::TwinUpdate,
        ("twin", "get") => Action::TwinGet,
        ("twin", "cloud_updated") => Action::CloudUpdated,
        ("state", "update") => Action::StateUpdate,
        _ => return None,
    };
    let base = format!("$hw/events/device/{}", parts[..base_len].join("/"));
    Some(Request { action, id, base })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_level_and_legacy_ids() {
        let r = parse("$hw/events/device/factory/thermo/twin/update").unwrap();
        assert_eq!((r.action, r.id.as_str(), r.base.as_str()), (Action::TwinUpdate, "factory/thermo", "$hw/events/device/factory/thermo"));
        let r = parse("$hw/events/device/thermo/state/update").unwrap();
        assert_eq!((r.action, r.id.as_str(), r.base.as_str()), (Action::StateUpdate, "default/thermo", "$hw/events/device/thermo"));
        assert_eq!(parse("$hw/events/node/n1/membership/get").unwrap().action, Action::MembershipGet);
        for t in [
            "$hw/events/device/a/b/twin/edge_updated",
            "$hw/events/device/a/b/state/get",
            "$hw/events/device/a/b/twin/update/result",
            "$hw/events/node/n1/membership/updated",
            "x",
        ] {
            assert_eq!(parse(t), None, "{t}");
        }
    }
}
