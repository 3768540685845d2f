//! One device client's subscriptions and MQTT 3.1.1 topic matching (§4.7):
//! `+` is one level, `#` the rest (including the parent level), and a
//! filter starting with a wildcard does not match topics starting with
//! `$` (§4.7.2), so `#` does not see `$hw/...`.
//!
//! Exact filters are kept in a set (one lookup per message); only the
//! wildcard ones are matched one by one.
//!
//! Owns: those rules. Must not do I/O.

use std::collections::HashSet;

#[derive(Default)]
pub struct Subscriptions {
    exact: HashSet<String>,
    wild: Vec<String>,
}

impl Subscriptions {
    pub fn len(&self) -> usize {
        self.exact.len() + self.wild.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, filter: &str) -> bool {
        self.exact.contains(filter) || self.wild.iter().any(|f| f == filter)
    }

    /// Add `filter`; false if it was there already.
    pub fn insert(&mut self, filter: &str) -> bool {
        if self.contains(filter) {
            return false;
        }
        if filter.contains(['+', '#']) {
            self.wild.push(filter.to_string());
        } else {
            self.exact.insert(filter.to_string());
        }
        true
    }

    /// Remove `filter`; false if it was not there.
    pub fn remove(&mut self, filter: &str) -> bool {
        if self.exact.remove(filter) {
            return true;
        }
        let before = self.wild.len();
        self.wild.retain(|f| f != filter);
        self.wild.len() != before
    }

    /// Does any subscription take `topic`?
    pub fn wants(&self, topic: &str) -> bool {
        self.exact.contains(topic) || self.wild.iter().any(|f| matches(f, topic))
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
        assert!(s.insert("a/b") && s.insert("x/#") && !s.insert("a/b"));
        assert_eq!(s.len(), 2);
        assert!(s.wants("a/b") && s.wants("x/y/z") && !s.wants("a/c"));
        assert!(s.remove("x/#") && !s.remove("x/#"));
        assert!(!s.wants("x/y"));
    }
}
