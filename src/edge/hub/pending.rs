//! EdgeHub's offline queue: non-durable messages for the cloud kept in
//! memory while the tunnel is down, bounded (the oldest go first, counted
//! and logged).
//!
//! Owns: that queue. Must not do I/O; durable messages go to the outbox.

use std::collections::VecDeque;

use super::NAME;
use crate::core::Message;

/// Messages waiting for the cloud while offline; the oldest go first when full.
pub struct Pending {
    pub q: VecDeque<Message>,
    pub cap: usize,
    pub dropped: u64,
}

impl Pending {
    pub fn push(&mut self, m: Message) {
        if self.q.len() >= self.cap {
            self.q.pop_front();
            self.dropped += 1;
            crate::edge::metrics::OFFLINE_DROPPED.inc();
            if self.dropped == 1 || self.dropped % 1000 == 0 {
                log::warn!(target: NAME, "offline queue full ({}): {} oldest messages dropped so far", self.cap, self.dropped);
            }
        }
        self.q.push_back(m);
    }
}
