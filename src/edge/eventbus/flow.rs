//! Flow control between the internal broker's publishers and its device
//! subscribers. rumqttd's router keeps what is published in a log per
//! filter and never frees it: whatever the log may hold stays resident
//! after a burst (a 20,000-message flood kept ~9 MiB). So the log is small
//! (broker.rs sizes it from `max_backlog_bytes`) and, instead of letting a
//! fast publisher overrun a slower subscriber (the router would silently
//! overwrite what that subscriber has not read), publishers wait: a device
//! session takes its client's next packet only while every subscriber is
//! at most `window` bytes behind, so TCP pushes back on the client.
//!
//! A subscriber that is behind and takes nothing for `STALL` is skipped
//! (logged): it must not hold every publisher up, and it misses what the
//! router drops before it reads on. It counts again once it has caught up.
//!
//! Bytes are counted as the router counts them (4 + topic + payload, the
//! router's names), appended when handed to the router, consumed when a
//! session takes them from its link. Everything here runs on the broker
//! thread (Rc, not Arc).
//!
//! Owns: those counters. Must not do I/O.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use event_listener::Event;
use smol::future::FutureExt as _;

use super::NAME;
use crate::logging::Throttle;

/// A subscriber that is behind and takes nothing for this long is skipped.
pub const STALL: Duration = Duration::from_secs(2);

/// What one message costs in the router's log (rumqttd 0.20's `size()`).
pub fn size(topic: usize, payload: usize) -> u64 {
    (4 + topic + payload) as u64
}

struct Reader {
    name: String,
    consumed: u64,
    progress: Instant,
    /// When it was first seen more than the window behind (reset on catching up).
    behind_since: Option<Instant>,
    skipped: bool,
}

pub struct Flow {
    window: u64,
    /// At most what the router's log can hold: a reader further behind
    /// than this has lost messages, not owed them.
    retained: u64,
    appended: u64,
    readers: HashMap<u64, Reader>,
    changed: Event,
    skips: Throttle,
}

pub type Shared = Rc<RefCell<Flow>>;

impl Flow {
    pub fn new(window: u64, retained: u64) -> Shared {
        let (changed, skips) = (Event::new(), Throttle::new(Duration::from_secs(60)));
        Rc::new(RefCell::new(Flow { window, retained, appended: 0, readers: HashMap::new(), changed, skips }))
    }

    /// Session `id` started reading the router's log.
    pub fn join(&mut self, id: u64, name: &str) {
        let r = Reader { name: name.to_string(), consumed: self.appended, progress: Instant::now(), behind_since: None, skipped: false };
        self.readers.insert(id, r);
    }

    /// Session `id` stopped reading (unsubscribed, gone).
    pub fn leave(&mut self, id: u64) {
        if self.readers.remove(&id).is_some() {
            self.changed.notify(usize::MAX);
        }
    }

    /// Whether anyone reads the router's log (nobody: no need to hand it anything).
    pub fn has_readers(&self) -> bool {
        !self.readers.is_empty()
    }

    /// `bytes` handed to the router.
    pub fn appended(&mut self, bytes: u64) {
        self.appended += bytes;
    }

    /// Session `id` took `bytes` from its link.
    pub fn consumed(&mut self, id: u64, bytes: u64) {
        let (appended, retained, window) = (self.appended, self.retained, self.window);
        let Some(r) = self.readers.get_mut(&id) else { return };
        // Its place is at least the oldest the log still keeps.
        r.consumed = r.consumed.max(appended.saturating_sub(retained)) + bytes;
        r.progress = Instant::now();
        if appended.saturating_sub(r.consumed) <= window {
            r.behind_since = None;
            if std::mem::take(&mut r.skipped) {
                log::info!(target: NAME, "MQTT client `{}` caught up: its publishers wait for it again", r.name);
            }
        }
        self.changed.notify(usize::MAX);
    }

    /// Whether a publisher must wait now; skips readers stalled for STALL.
    fn must_wait(&mut self, now: Instant) -> bool {
        let (appended, retained, window) = (self.appended, self.retained, self.window);
        let mut wait = false;
        for r in self.readers.values_mut().filter(|r| !r.skipped) {
            let lag = appended.saturating_sub(r.consumed.max(appended.saturating_sub(retained)));
            if lag <= window {
                r.behind_since = None;
                continue;
            }
            let since = *r.behind_since.get_or_insert(now);
            if now.duration_since(since.max(r.progress)) < STALL {
                wait = true;
                continue;
            }
            r.skipped = true;
            if let Some(n) = self.skips.allow() {
                log::warn!(
                    target: NAME,
                    "MQTT client `{}` is {lag} bytes behind and took nothing for {} s: publishers no longer wait for it, and it misses what the broker cannot keep ({n} more skipped in the last minute)",
                    crate::logging::clip(&r.name, 64),
                    STALL.as_secs()
                );
            }
        }
        wait
    }
}

/// Wait until a publisher may go on; true when it had to wait.
pub async fn room(flow: &Shared) -> bool {
    let mut waited = false;
    loop {
        let listener = {
            let mut f = flow.borrow_mut();
            if !f.must_wait(Instant::now()) {
                return waited;
            }
            f.changed.listen()
        };
        waited = true;
        // Woken by progress, or to look for stalled readers.
        listener
            .or(async {
                smol::Timer::after(STALL / 4).await;
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_wait_for_a_reader_behind_then_skip_it_once_stalled() {
        let flow = Flow::new(100, 1000);
        let mut f = flow.borrow_mut();
        let t0 = Instant::now();
        assert!(!f.must_wait(t0), "no readers: no waiting");
        f.join(1, "slow");
        f.appended(100);
        assert!(!f.must_wait(t0), "exactly the window behind is allowed");
        f.appended(1);
        assert!(f.must_wait(t0), "one byte over the window");
        f.consumed(1, 50);
        assert!(!f.must_wait(Instant::now()));
        f.appended(500);
        let now = Instant::now();
        assert!(f.must_wait(now + STALL / 2), "behind, but only for a moment");
        assert!(!f.must_wait(now + STALL * 2), "stalled for longer than STALL: skipped");
        assert!(!f.must_wait(now + STALL * 3), "and stays skipped");
        f.consumed(1, 551);
        f.appended(200);
        assert!(f.must_wait(Instant::now()), "caught up: waited for again");
        f.leave(1);
        assert!(!f.must_wait(Instant::now()));
    }

    #[test]
    fn a_reader_never_owes_more_than_the_log_keeps() {
        let flow = Flow::new(100, 1000);
        let mut f = flow.borrow_mut();
        f.join(7, "r");
        f.appended(10_000);
        // It lost 9,000 bytes; 1,000 may still be read: reading them catches it up.
        f.consumed(7, 950);
        assert!(!f.must_wait(Instant::now()), "lag counts only what the log keeps");
    }
}
