//! Logging setup: env_logger with millisecond timestamps and the module name
//! as target. RUST_LOG wins over -v/-q. Owns nothing else.

use log::LevelFilter;

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
