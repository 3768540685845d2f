//! Roles embedded in the test process (real sockets, real TLS, real sled
//! files), for scenarios with many edges or test-driver modules.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

use hive::config::{self, RoleConfig};
use hive::core::{runtime, Module, Router};
use smol::channel::{self, Sender};

/// A role running on its own thread until `stop`.
pub struct InProc {
    stop: Sender<()>,
    thread: Option<JoinHandle<i32>>,
}

impl InProc {
    /// Run `cfg`'s modules plus those `extra` builds, on a new thread.
    pub fn start<F>(cfg: RoleConfig, extra: F) -> InProc
    where
        F: FnOnce(&sled::Db, &Router) -> Vec<Box<dyn Module>> + Send + 'static,
    {
        let _ = env_logger::builder().is_test(true).format_timestamp_millis().try_init();
        let (stop, stop_rx) = channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let (dir, cache) = match &cfg {
                RoleConfig::Cloud(c) => (c.data_dir.clone(), c.db_cache_bytes),
                RoleConfig::Edge(c) => (c.data_dir.clone(), c.db_cache_bytes),
            };
            let router = Router::new();
            let (dbs, mut modules) = match &cfg {
                RoleConfig::Cloud(c) => {
                    let db = hive::store::open(&dir, cache).expect("open db");
                    let m = hive::cloud::modules(c, &router, &db).expect("modules");
                    (vec![db], m)
                }
                RoleConfig::Edge(c) => {
                    let dbs = hive::edge::open_databases(&dir, cache).expect("open dbs");
                    let m = hive::edge::modules(c, &router, &dbs).expect("modules");
                    (vec![dbs.cache, dbs.outbox], m)
                }
            };
            modules.extend(extra(&dbs[0], &router));
            let opts = hive::role::runtime_options(&cfg, Instant::now());
            let code = runtime::run_until(opts, router, modules, Some(stop_rx));
            for db in dbs {
                let _ = db.flush();
            }
            code
        });
        InProc { stop, thread: Some(thread) }
    }

    /// Stop in order; returns the exit code.
    pub fn stop(mut self) -> i32 {
        self.stop.close();
        self.thread.take().map(|t| t.join().unwrap_or(-1)).unwrap_or(-1)
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        self.stop.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn cloud_config(data_dir: &Path, port: u16, hub_extra: &str) -> RoleConfig {
    let text = format!(
        "role = \"cloud\"\ndata_dir = {:?}\nmodules = [\"cloudhub\"]\n[runtime]\nshutdown_timeout_ms = 3000\n[cloudhub]\nlisten = \"127.0.0.1:{port}\"\n{hub_extra}\n",
        data_dir.display().to_string()
    );
    config::parse(None, "test-cloud", &text).expect("cloud config")
}

pub fn edge_config(data_dir: &Path, port: u16, hub_extra: &str) -> RoleConfig {
    // Test defaults for [edgehub], unless `hub_extra` sets the same key.
    let defaults: String = ["backoff_min_ms = 50", "backoff_max_ms = 1000", "ping_interval_s = 1", "connect_timeout_ms = 3000"]
        .iter()
        .filter(|l| !hub_extra.contains(l.split(' ').next().unwrap_or("")))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!(
        "role = \"edge\"\ndata_dir = {:?}\nmodules = [\"edgehub\", \"metamanager\"]\n[runtime]\nshutdown_timeout_ms = 3000\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{port}\"\n{defaults}{hub_extra}\n",
        data_dir.display().to_string()
    );
    config::parse(None, "test-edge", &text).expect("edge config")
}

/// Create a CA in `cloud_dir` and node credentials for `name` in `edge_dir`.
pub fn credentials(cloud_dir: &Path, edge_dir: &Path, name: &str) {
    let ca = hive::tls::CertAuthority::load_or_create(cloud_dir).expect("ca");
    let (cert, key) = ca.issue_node(name, 30).expect("node cert");
    hive::tls::write_file(&edge_dir.join("node.pem"), &cert, false).unwrap();
    hive::tls::write_file(&edge_dir.join("node.key"), &key, true).unwrap();
    hive::tls::write_file(&edge_dir.join("ca.pem"), &ca.cert_pem, false).unwrap();
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn path(p: &Path, rel: &str) -> PathBuf {
    p.join(rel)
}
