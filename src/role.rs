//! Starting a role: load its config, build its modules, hand them to the
//! runtime. Owns the mapping from config to a running role; must not contain
//! any module's logic.

use std::time::{Duration, Instant};

use crate::cli::RoleArgs;
use crate::config::{self, Role, RoleConfig, Source};
use crate::core::{runtime, Module, Router};
use crate::EXIT_USAGE;

/// Runtime options from a role's config.
pub fn runtime_options(cfg: &RoleConfig, started: Instant) -> runtime::RuntimeOptions {
    let rt = cfg.runtime();
    runtime::RuntimeOptions {
        role: cfg.role().as_str(),
        channel_capacity: rt.channel_capacity,
        request_timeout: Duration::from_millis(rt.request_timeout_ms),
        start_timeout: Duration::from_millis(rt.start_timeout_ms),
        shutdown_timeout: Duration::from_millis(rt.shutdown_timeout_ms),
        started,
    }
}

/// Run `role` until signalled; returns the process exit code.
pub fn run(role: Role, args: RoleArgs, started: Instant) -> i32 {
    let Some(source) = Source::from_flags(args.config.as_deref(), args.profile.as_deref()) else {
        eprintln!("hive {role}: use either --config or --profile, not both");
        return EXIT_USAGE;
    };
    let mut cfg = match config::load(Some(role), source) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hive {role}: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(d) = args.data_dir {
        match &mut cfg {
            RoleConfig::Cloud(c) => c.data_dir = d,
            RoleConfig::Edge(c) => c.data_dir = d,
        }
    }
    match &cfg {
        RoleConfig::Cloud(c) => log::debug!(target: "runtime", "data dir {}, modules {:?}", c.data_dir.display(), c.modules),
        RoleConfig::Edge(c) => log::debug!(target: "runtime", "data dir {}, modules {:?}", c.data_dir.display(), c.modules),
    }
    let (data_dir, cache) = match &cfg {
        RoleConfig::Cloud(c) => (c.data_dir.clone(), c.db_cache_bytes),
        RoleConfig::Edge(c) => (c.data_dir.clone(), c.db_cache_bytes),
    };
    let opened = match &cfg {
        // The edge's database is a cache: rebuild it rather than refuse to start.
        RoleConfig::Edge(_) => crate::store::open_or_rebuild(&data_dir, cache, crate::edge::verify_db),
        RoleConfig::Cloud(_) => crate::store::open(&data_dir, cache),
    };
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            log::error!(target: "runtime", "hive {role} cannot start: {e}");
            return runtime::EXIT_MODULE_FAILED;
        }
    };
    let router = Router::new();
    let modules: Result<Vec<Box<dyn Module>>, String> = match &cfg {
        RoleConfig::Cloud(c) => crate::cloud::modules(c, &router, &db),
        RoleConfig::Edge(c) => crate::edge::modules(c, &router, &db),
    };
    let modules = match modules {
        Ok(m) => m,
        Err(e) => {
            log::error!(target: "runtime", "hive {role} cannot start: {e}");
            return runtime::EXIT_MODULE_FAILED;
        }
    };
    let opts = runtime_options(&cfg, started);
    log::info!(target: "runtime", "hive {} {role} starting (pid {})", env!("CARGO_PKG_VERSION"), std::process::id());
    let code = runtime::run(opts, router, modules);
    if let Err(e) = db.flush() {
        log::error!(target: "runtime", "flushing {}: {e}", data_dir.join("db").display());
    }
    code
}
