//! Counting what a device client never got because it lagged: rumqttd
//! keeps a bounded log per subscription filter (`max_backlog_bytes`) and
//! moves a reader that fell behind its start to the oldest message kept.
//! Each client link reads one filter (`#`, listener.rs), whose messages
//! carry consecutive offsets, so a jump in offsets is exactly the number
//! of messages lost; they are counted in `hive_eventbus_dropped_total`
//! with reason `backlog`.
//!
//! Owns: one link's last offset. Must not touch the link.

use crate::edge::metrics::MQTT_DROPPED;

#[derive(Default)]
pub struct Lost {
    last: Option<u64>,
}

impl Lost {
    /// The router forwarded the message at `cursor`; returns how many were
    /// skipped before it (and counts them).
    pub fn saw(&mut self, cursor: Option<(u64, u64)>) -> u64 {
        let Some((_, offset)) = cursor else { return 0 };
        let lost = match self.last {
            Some(last) if offset > last + 1 => offset - last - 1,
            _ => 0,
        };
        self.last = Some(self.last.map_or(offset, |l| l.max(offset)));
        if lost > 0 {
            MQTT_DROPPED.add(&["backlog"], lost as i64);
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_jump_in_offsets_is_what_was_lost() {
        let mut l = super::Lost::default();
        assert_eq!(l.saw(Some((0, 5))), 0);
        assert_eq!(l.saw(Some((0, 6))), 0);
        assert_eq!(l.saw(Some((1, 7))), 0);
        assert_eq!(l.saw(Some((3, 20))), 12);
        assert_eq!(l.saw(None), 0);
        assert_eq!(l.saw(Some((3, 21))), 0);
    }
}
