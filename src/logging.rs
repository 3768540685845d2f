//! Logging setup: env_logger with millisecond timestamps and the module name
//! as target. RUST_LOG wins over -v/-q. Also the two guards against log
//! floods: `Throttle` (a repeated warning at most once per period, with the
//! count of those left out) and `clip` (text from outside cut to a length).
//! Owns nothing else.

use std::time::{Duration, Instant};

use log::LevelFilter;

/// Lets a repeated log line through at most once per `period`.
pub struct Throttle {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new(period: Duration) -> Throttle {
        Throttle { period, last: None, suppressed: 0 }
    }

    /// `Some(n)` when the line may be logged now (`n` = lines left out
    /// since the last one), `None` when it is to be left out (and counted).
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l) < self.period) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// `s`, cut to at most `max` bytes (on a character boundary) with the
/// number of bytes left out: for text from devices, clients and files.
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &s[..end], s.len() - end).into()
}

pub fn init(verbosity: i32) {
    let level = match verbosity {
        i32::MIN..=-2 => LevelFilter::Error,
        -1 => LevelFilter::Warn,
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let mut b = env_logger::Builder::new();
    b.filter_level(level).format_timestamp_millis().format_target(true);
    // rumqttd's tracing spans reach `log` as ERROR lines per packet: off by
    // default (EventBus logs what matters). RUST_LOG=rumqttd=... turns them on.
    for noisy in ["rumqttd", "tracing"] {
        b.filter_module(noisy, LevelFilter::Off);
    }
    b.filter_module("rumqttc", level.min(LevelFilter::Warn));
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    let _ = b.try_init();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let module = crate::core::runtime::current_module();
        let who = if module.is_empty() { "hive" } else { module };
        log::error!(target: "runtime", "module {who} panicked: {info}");
        prev(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        t.last = Some(Instant::now() - Duration::from_secs(3601));
        assert_eq!(t.allow(), Some(2));
    }

    #[test]
    fn clip_cuts_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééé", 3), "é… (4 more bytes)");
    }
}
