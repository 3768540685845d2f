//! Starting a role: load its config, build its modules, hand them to the
//! runtime. Owns the mapping from config to a running role; must not contain
//! any module's logic.

use std::time::{Duration, Instant};

use crate::cli::RoleArgs;
use crate::config::{self, Role, RoleConfig, Source};
use crate::core::{runtime, Router};
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
        summary_interval: Duration::from_secs(rt.summary_interval_s),
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
    crate::store::private_files();
    #[cfg(feature = "edge")]
    if let RoleConfig::Edge(c) = &cfg {
        let cli = args.join.map(|j| (crate::config::JoinConfig { server: j.server, token: j.token, ca_cert_hash: j.ca_cert_hash }, j.node_name));
        match crate::edge::join::ensure(c, cli) {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(e) => {
                log::error!(target: "runtime", "hive edge cannot start: {e}");
                return runtime::EXIT_MODULE_FAILED;
            }
        }
    }
    crate::fdlimit::raise();
    let router = Router::new();
    // The edge's databases are verified and rebuilt if corrupt (the cache is
    // the cloud's to resend); the cloud's is its source of truth.
    type Opened = (Vec<sled::Db>, Result<Vec<Box<dyn crate::core::Module>>, String>);
    let opened: Result<Opened, crate::store::DbError> = match &cfg {
        #[cfg(feature = "edge")]
        RoleConfig::Edge(c) => crate::edge::open_databases(&data_dir, cache).map(|dbs| {
            let m = crate::edge::modules(c, &router, &dbs);
            (vec![dbs.cache, dbs.outbox], m)
        }),
        #[cfg(feature = "cloud")]
        RoleConfig::Cloud(c) => crate::store::open(&data_dir, cache).map(|db| {
            let m = crate::cloud::modules(c, &router, &db);
            (vec![db], m)
        }),
        // config::load refuses a role this build lacks; this is its backstop.
        #[allow(unreachable_patterns)]
        other => Ok((vec![], Err(crate::features::missing_role(other.role()).unwrap_or_default()))),
    };
    let (dbs, modules) = match opened {
        Ok(x) => x,
        Err(e) => {
            log::error!(target: "runtime", "hive {role} cannot start: {e}");
            return runtime::EXIT_MODULE_FAILED;
        }
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
    for db in dbs {
        if let Err(e) = db.flush() {
            log::error!(target: "runtime", "flushing a database under {}: {e}", data_dir.display());
        }
    }
    code
}
