//! The one-line summary a role logs at info every
//! `runtime.summary_interval_s` seconds (0 turns it off): connected or
//! not, backlog, outbox, the figures an operator looks for first in a log.
//!
//! Owns: which role's summary is current. Must not compute one; each wing
//! registers its own (cloud/metrics.rs, edge/metrics.rs).

use std::sync::RwLock;

static CURRENT: RwLock<Option<fn() -> String>> = RwLock::new(None);

/// Make `f` the summary this process logs.
pub fn set(f: fn() -> String) {
    if let Ok(mut c) = CURRENT.write() {
        *c = Some(f);
    }
}

/// The summary line, if a role registered one.
pub fn line() -> Option<String> {
    CURRENT.read().ok().and_then(|c| *c).map(|f| f())
}
