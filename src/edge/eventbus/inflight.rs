//! QoS 1 deliveries to one device client: packet ids, the window of
//! unacknowledged messages, and which to send again (DUP) when their
//! PUBACK is late. While the window is full the session takes nothing more
//! from the router, so a slow QoS 1 subscriber is paced instead of flooded.
//!
//! Owns: that bookkeeping. Must not do I/O.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Unacknowledged QoS 1 messages one client may have.
pub const WINDOW: usize = 32;
/// A PUBACK later than this gets the message sent again, with DUP set.
pub const RESEND_AFTER: Duration = Duration::from_secs(5);

pub struct Pending {
    pub topic: String,
    pub payload: bytes::Bytes,
    sent: Instant,
}

#[derive(Default)]
pub struct Inflight {
    by_pkid: BTreeMap<u16, Pending>,
    last: u16,
}

impl Inflight {
    pub fn is_full(&self) -> bool {
        self.by_pkid.len() >= WINDOW
    }

    /// Take a packet id (1..=65535, not in flight) for a new message.
    pub fn push(&mut self, topic: &str, payload: bytes::Bytes, now: Instant) -> u16 {
        loop {
            self.last = self.last.checked_add(1).unwrap_or(1);
            if !self.by_pkid.contains_key(&self.last) {
                break;
            }
        }
        self.by_pkid.insert(self.last, Pending { topic: topic.to_string(), payload, sent: now });
        self.last
    }

    /// The client acknowledged `pkid`; false if it was not in flight.
    pub fn ack(&mut self, pkid: u16) -> bool {
        self.by_pkid.remove(&pkid).is_some()
    }

    /// When the oldest unacknowledged message is due to be sent again.
    pub fn next_due(&self) -> Option<Instant> {
        self.by_pkid.values().map(|p| p.sent + RESEND_AFTER).min()
    }

    /// Messages whose PUBACK is overdue at `now`; their clock restarts.
    pub fn overdue(&mut self, now: Instant) -> Vec<(u16, &Pending)> {
        let late: Vec<u16> = self.by_pkid.iter().filter(|(_, p)| now.duration_since(p.sent) >= RESEND_AFTER).map(|(k, _)| *k).collect();
        for k in &late {
            if let Some(p) = self.by_pkid.get_mut(k) {
                p.sent = now;
            }
        }
        late.into_iter().filter_map(|k| Some((k, self.by_pkid.get(&k)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_in_flight_the_window_fills_and_late_ones_come_back() {
        let mut f = Inflight::default();
        let t0 = Instant::now();
        let ids: Vec<u16> = (0..WINDOW).map(|i| f.push("t", bytes::Bytes::from(vec![i as u8]), t0)).collect();
        assert!(f.is_full());
        assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), WINDOW);
        assert!(!ids.contains(&0), "0 is not a packet id");
        assert!(f.ack(ids[0]) && !f.ack(ids[0]));
        assert!(!f.is_full());
        assert!(f.overdue(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(f.next_due(), Some(t0 + RESEND_AFTER));
        assert_eq!(f.overdue(t0 + RESEND_AFTER).len(), WINDOW - 1);
        assert!(f.overdue(t0 + RESEND_AFTER + Duration::from_secs(1)).is_empty(), "the clock restarts");
        // Ids wrap past 65535 without reusing one still in flight.
        f.last = u16::MAX;
        let id = f.push("t", bytes::Bytes::new(), t0);
        assert!(id != 0 && !ids[1..].contains(&id));
    }
}
