//! The cloud side of `hive bench tunnel`: CloudHub (and the API's open
//! metrics listener) on a thread of this process, with a bench module that
//! counts applied upstream messages and Ready nodes and upserts objects on
//! command.
//!
//! Owns: that cloud. Must not measure (tunnel.rs does).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;

use crate::core::{runtime, Context, Module, ModuleError, ModuleFuture, Router};

#[derive(Default)]
pub(super) struct Counters {
    pub applied: AtomicU64,
    pub ready: AtomicU64,
}

/// Cloud-side bench application: applies upstream messages (counts them),
/// counts nodes becoming Ready, and upserts objects on command.
struct BenchApp {
    c: Arc<Counters>,
    cmds: Receiver<(String, Vec<u8>)>,
    group: &'static str,
}

impl Module for BenchApp {
    fn name(&self) -> &'static str {
        if self.group == "app" {
            "bench-app"
        } else {
            "bench-status"
        }
    }
    fn group(&self) -> &'static str {
        self.group
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            loop {
                let msg = async { Ok(ctx.recv().await) };
                let cmd = async { Err(self.cmds.recv().await.ok()) };
                match msg.or(cmd).await {
                    Ok(None) => return Ok(()),
                    Ok(Some(m)) if m.group == "nodestatus" => {
                        if m.content.windows(11).any(|w| w == b"\"ready\":tru") {
                            self.c.ready.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Some(m)) => {
                        self.c.applied.fetch_add(1, Ordering::Relaxed);
                        let _ = ctx.respond(&m, b"ok".to_vec());
                    }
                    Err(Some((node, content))) => {
                        let q = ctx.message("hub", &format!("node/{node}/default/configmap/bench"), "upsert", content);
                        ctx.request("cloudhub", q).await.map_err(ModuleError::from)?;
                    }
                    Err(None) => std::future::pending::<()>().await,
                }
            }
        })
    }
}

pub(super) struct Cloud {
    stop: Sender<()>,
    thread: Option<std::thread::JoinHandle<i32>>,
    pub cmds: Sender<(String, Vec<u8>)>,
    pub c: Arc<Counters>,
}

impl Cloud {
    /// Start on 127.0.0.1:`port` (and UDP `quic` for QUIC edges, if any).
    pub fn start(dir: &Path, port: u16, metrics: u16, quic: Option<u16>) -> Result<Cloud, String> {
        let quic = match quic {
            Some(q) => format!("quic = true\nquic_listen = \"127.0.0.1:{q}\"\n"),
            None => "quic = false\n".to_string(),
        };
        let text = format!(
            "role = \"cloud\"\ndata_dir = {:?}\nmodules = [\"cloudhub\", \"apiserver\"]\n[runtime]\nchannel_capacity = 8192\nsummary_interval_s = 0\n[api]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:{metrics}\"\n[cloudhub]\nlisten = \"127.0.0.1:{port}\"\nnode_timeout_s = 600\nnode_queue = 4096\njoin = false\n{quic}",
            dir.display().to_string()
        );
        let cfg = crate::config::parse(None, "bench-cloud", &text).map_err(|e| e.to_string())?;
        let (stop, stop_rx) = smol::channel::bounded(1);
        let (cmds, cmd_rx) = smol::channel::unbounded();
        let c = Arc::new(Counters::default());
        let c2 = c.clone();
        let thread = std::thread::spawn(move || {
            let crate::config::RoleConfig::Cloud(cc) = &cfg else { return 1 };
            let db = match crate::store::open(&cc.data_dir, cc.db_cache_bytes) {
                Ok(db) => db,
                Err(e) => {
                    eprintln!("bench: {e}");
                    return 1;
                }
            };
            let router = Router::new();
            let mut modules = match crate::cloud::modules(cc, &router, &db) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("bench: {e}");
                    return 1;
                }
            };
            let (_never, never_rx) = smol::channel::unbounded();
            modules.push(Box::new(BenchApp { c: c2.clone(), cmds: cmd_rx, group: "app" }));
            modules.push(Box::new(BenchApp { c: c2, cmds: never_rx, group: "nodestatus" }));
            let code = runtime::run_until(crate::role::runtime_options(&cfg, Instant::now()), router, modules, Some(stop_rx));
            drop(_never);
            code
        });
        // Ready when the CA exists and the port accepts.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("bench cloud did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Cloud { stop, thread: Some(thread), cmds, c })
    }

    pub fn stop(mut self) {
        self.stop.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
