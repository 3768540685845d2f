//! Pod events seen on the edge (probe failures, liveness kills) on their
//! way to the cloud. They ride with the pod's next status report, under
//! `hiveEvents`, which the cloud takes off before storing the status and
//! records as Kubernetes Events — so nothing new crosses the tunnel.
//! Best effort, as Events are in Kubernetes: offline, the outbox keeps a
//! pod's newest status only, so events that rode with an older one while
//! the edge was cut off are lost with it. Repeats are
//! counted, not listed; a pod whose status does not change sends what
//! piled up at most once a minute (a readiness probe failing every second
//! must not cost a report every second on a metered link).
//!
//! Owns: what waits to be sent. Must not send it (mod.rs reports).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::prober::ProbeEvent;

/// Least time between two reports made only for events.
pub const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// Distinct events kept per pod until sent; more are counted into the last.
const MAX_PER_POD: usize = 16;

struct Pending {
    container: String,
    reason: &'static str,
    message: String,
    count: u64,
}

#[derive(Default)]
pub struct Events {
    /// `namespace/name` → what waits.
    pending: HashMap<String, Vec<Pending>>,
    sent: HashMap<String, Instant>,
}

impl Events {
    pub fn add(&mut self, events: Vec<ProbeEvent>) {
        for e in events {
            let list = self.pending.entry(e.pod).or_default();
            if let Some(p) = list.iter_mut().find(|p| p.container == e.container && p.reason == e.reason && p.message == e.message) {
                p.count += 1;
            } else if list.len() >= MAX_PER_POD {
                if let Some(last) = list.last_mut() {
                    last.count += 1;
                }
            } else {
                list.push(Pending { container: e.container, reason: e.reason, message: e.message, count: 1 });
            }
        }
    }

    /// What pod `pod` has waiting, as the `hiveEvents` value, if it is to
    /// go now: with a status that changed anyway, or once FLUSH_EVERY passed.
    pub fn take(&mut self, pod: &str, status_changed: bool, now: Instant) -> Option<Value> {
        let due = status_changed || self.sent.get(pod).is_none_or(|t| now.duration_since(*t) >= FLUSH_EVERY);
        if !due || self.pending.get(pod).is_none_or(Vec::is_empty) {
            return None;
        }
        self.sent.insert(pod.to_string(), now);
        let list = self.pending.remove(pod)?;
        Some(json!(list.into_iter().map(|p| json!({"container": p.container, "reason": p.reason, "message": p.message, "count": p.count})).collect::<Vec<_>>()))
    }

    /// Forget pods no longer on this node.
    pub fn retain(&mut self, pods: &std::collections::HashSet<String>) {
        self.pending.retain(|k, _| pods.contains(k));
        self.sent.retain(|k, _| pods.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(reason: &'static str, message: &str) -> ProbeEvent {
        ProbeEvent { pod: "ns/p".into(), container: "c".into(), reason, message: message.into() }
    }

    #[test]
    fn repeats_are_counted_and_quiet_pods_flush_once_a_minute() {
        let mut e = Events::default();
        let t0 = Instant::now();
        e.add(vec![ev("Unhealthy", "Readiness probe failed: 404"), ev("Unhealthy", "Readiness probe failed: 404"), ev("Killing", "k")]);
        let v = e.take("ns/p", false, t0).expect("the first goes at once");
        assert_eq!((v[0]["count"].as_u64(), v[1]["reason"].as_str()), (Some(2), Some("Killing")));
        assert_eq!(e.take("ns/p", true, t0), None, "nothing left");
        e.add(vec![ev("Unhealthy", "again")]);
        assert_eq!(e.take("ns/p", false, t0 + Duration::from_secs(5)), None, "unchanged status: waits for the minute");
        assert!(e.take("ns/p", true, t0 + Duration::from_secs(5)).is_some(), "a changed status takes it along");
        for i in 0..40 {
            e.add(vec![ev("Unhealthy", &format!("m{i}"))]);
        }
        let v = e.take("ns/p", false, t0 + FLUSH_EVERY * 2).unwrap();
        let total: u64 = v.as_array().unwrap().iter().map(|x| x["count"].as_u64().unwrap()).sum();
        assert_eq!((v.as_array().unwrap().len(), total), (MAX_PER_POD, 40));
    }
}
