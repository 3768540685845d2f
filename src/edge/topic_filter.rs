//! One device client's subscriptions and MQTT 3.1.1 topic matching (§4.7):
//! `+` is one level, `#` the rest (including the parent level), and a
//! filter starting with a wildcard does not match topics starting with
//! `$` (§4.7.2), so `#` does not see `$hw/...`.
//!
//! Exact filters are kept in a map (one lookup per message); only the
//! wildcard ones are matched one by one. Each keeps its granted QoS; a
//! message goes out at the highest QoS of the filters it matches (§3.3.5).
//!
//! Shared by EventBus (routing to device clients) and DeviceTwin (which
//! subscriptions concern it), so it is built without the `eventbus` feature.
//!
//! Owns: those rules. Must not do I/O.

use std::collections::HashMap;

#[derive(Default)]
pub struct Subscriptions {
    exact: HashMap<String, u8>,
    wild: Vec<(String, u8)>,
}

impl Subscriptions {
    pub fn len(&self) -> usize {
        self.exact.len() + self.wild.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, filter: &str) -> bool {
        self.exact.contains_key(filter) || self.wild.iter().any(|(f, _)| f == filter)
    }

    /// Add `filter` at `qos` (a repeated SUBSCRIBE replaces the QoS);
    /// false if it was there already.
    pub fn insert(&mut self, filter: &str, qos: u8) -> bool {
        if filter.contains(['+', '#']) {
            if let Some(w) = self.wild.iter_mut().find(|(f, _)| f == filter) {
                w.1 = qos;
                return false;
            }
            self.wild.push((filter.to_string(), qos));
            true
        } else {
            self.exact.insert(filter.to_string(), qos).is_none()
        }
    }

    /// Remove `filter`; false if it was not there.
    pub fn remove(&mut self, filter: &str) -> bool {
        if self.exact.remove(filter).is_some() {
            return true;
        }
        let before = self.wild.len();
        self.wild.retain(|(f, _)| f != filter);
        self.wild.len() != before
    }

    /// The highest QoS of the subscriptions that take `topic`, if any.
    pub fn wants(&self, topic: &str) -> Option<u8> {
        let exact = self.exact.get(topic).copied();
        self.wild.iter().filter(|(f, _)| matches(f, topic)).map(|(_, q)| *q).chain(exact).max()
    }
}

/// Does `filter` match `topic` (MQTT 3.1.1 §4.7)?
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match f {
            "#" => return true,
            "+" => {
                if t.next().is_none() {
                    return false;
                }
            }
            level => {
                if t.next() != Some(level) {
                    return false;
                }
            }
        }
    }
    t.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_mqtt_3_1_1() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(matches("a/+/c", "a/x/c"));
        assert!(!matches("a/+", "a/x/c"));
        assert!(matches("a/#", "a/x/c"));
        assert!(matches("a/#", "a"), "# also matches the parent level");
        assert!(matches("+/user/#", "dev1/user/temp"));
        assert!(matches("+", ""), "an empty topic level is a level");
        assert!(!matches("#", "$hw/events/upload/x"), "§4.7.2: wildcards do not match $ topics");
        assert!(!matches("+/events/#", "$hw/events/x"));
        assert!(matches("$hw/events/device/+/twin/update/delta", "$hw/events/device/d1/twin/update/delta"));
        assert!(matches("$hw/#", "$hw/events/upload/x"));
    }

    #[test]
    fn exact_and_wildcard_subscriptions_are_kept_apart() {
        let mut s = Subscriptions::default();
        assert!(s.insert("a/b", 0) && s.insert("x/#", 1) && !s.insert("a/b", 0));
        assert_eq!(s.len(), 2);
        assert_eq!((s.wants("a/b"), s.wants("x/y/z"), s.wants("a/c")), (Some(0), Some(1), None));
        assert!(s.insert("a/+", 1));
        assert_eq!(s.wants("a/b"), Some(1), "the highest QoS of the matching filters");
        assert!(s.remove("x/#") && !s.remove("x/#"));
        assert_eq!(s.wants("x/y"), None);
    }
}
