//! Edged: the pods placed on this node, run through the container
//! runtime's CRI socket (KubeEdge's slim kubelet).
//! - Pods come from MetaManager's cache (listed at start, then group
//!   `metachange`), so after a reboot they run again without the cloud.
//! - Every `sync_period_ms` (and at once on a change) all pods, concurrently, are brought
//!   to their specs (sync.rs: sandbox, image, containers, restarts with
//!   backoff, adoption of what already runs); what no pod wants is removed.
//! - Probes (probe.rs, prober.rs) run on the same loop, each when due;
//!   readiness feeds the status, a failed liveness probe a restart; what a
//!   kubelet would record as Events rides with the status (events.rs).
//! - Pod status (status.rs) and node status (node.rs) go up through
//!   EdgeHub's durable outbox when they change, and again after a reconnect.
//! - `kubectl logs` requests from the cloud are answered from the
//!   containers' log files (logs.rs); `logs -f`, `exec` and `attach` are
//!   streams (stream.rs) served beside the loop.
//!
//! Owns: the runtime's `hive.io/managed` objects and `<data_dir>/pods`.
//! Must not talk to the cloud itself.

pub mod cri;
mod env;
mod events;
mod hooks;
mod logs;
mod node;
mod probe;
mod prober;
mod pull;
mod resources;
mod security;
pub mod spec;
mod status;
mod stream;
mod sync;
mod volumes;
mod work;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::Value;
use smol::future::FutureExt as _;

use crate::config::EdgedConfig;
use crate::core::Reply;
use crate::core::{Context, Module, ModuleError, ModuleFuture};
use crate::edge::names;
use crate::proto::ObjectChange;
use cri::Cri;

pub const NAME: &str = crate::edge::names::EDGED;

pub struct Edged {
    cfg: EdgedConfig,
    data_dir: PathBuf,
    node: String,
    streams: smol::channel::Receiver<crate::proto::stream::Accepted>,
}

impl Edged {
    pub fn new(cfg: EdgedConfig, data_dir: PathBuf, node: String, streams: smol::channel::Receiver<crate::proto::stream::Accepted>) -> Edged {
        Edged { cfg, data_dir, node, streams }
    }
}

/// What Edged remembers of a pod it runs.
struct Known {
    key: String,
    start: String,
    grace_s: i64,
    reported: Option<String>,
    /// The spec last run (its preStop hooks run when the pod goes).
    pod: Option<spec::Pod>,
}

struct State<'a> {
    ctx: &'a Context,
    cri: Rc<Cri>,
    logs: PathBuf,
    volumes: PathBuf,
    backoff: Duration,
    allow_privileged: bool,
    limits: node::Limits,
    /// Cache key → pod object.
    pods: BTreeMap<String, Value>,
    /// Pod uid → what we know.
    known: HashMap<String, Known>,
    runtime: Option<Result<(String, String), String>>,
    node_reported: Option<String>,
    host_ip: String,
    node: String,
    prober: prober::Prober,
    events: events::Events,
}

impl Module for Edged {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn also_groups(&self) -> &'static [&'static str] {
        &[names::GROUP_METACHANGE, names::GROUP_CONNECTION]
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let q = ctx.message(names::GROUP_META, "pod", "list", Vec::new());
            let r = ctx.request(crate::edge::names::METAMANAGER, q).await.map_err(|e| ModuleError::new(format!("listing pods from metamanager: {e}")))?;
            let listed: Vec<ObjectChange> = crate::store::from_bytes(&r.content).map_err(|e| ModuleError::new(format!("listing pods: {e}")))?;
            ctx.ready();
            // Absolute: the runtime resolves mount sources and log paths on its own.
            let pods_dir = std::path::absolute(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone()).join("pods");
            let mut st = State {
                ctx: &ctx,
                cri: Rc::new(Cri::new(&self.cfg.runtime_socket, Duration::from_millis(self.cfg.runtime_timeout_ms))),
                logs: pods_dir.join("logs"),
                volumes: pods_dir,
                backoff: Duration::from_millis(self.cfg.backoff_base_ms),
                allow_privileged: self.cfg.allow_privileged,
                limits: node::Limits {
                    reserved_cpu_millis: self.cfg.reserved_cpu_millis,
                    reserved_memory_mib: self.cfg.reserved_memory_mib,
                    max_pods: self.cfg.max_pods,
                },
                pods: listed.into_iter().filter_map(|c| Some((c.key, serde_json::from_slice(&c.content?).ok()?))).collect(),
                known: HashMap::new(),
                runtime: None,
                node_reported: None,
                host_ip: node::host_ip(),
                node: self.node.clone(),
                prober: prober::Prober::default(),
                events: events::Events::default(),
            };
            // What is in flight (probes, kills, teardowns), driven beside everything else.
            let mut work = work::Work::default();
            // Streams (logs -f, exec, attach) run here, beside the loop below.
            let streams_ex = smol::LocalExecutor::new();
            log::info!(target: NAME, "{} pods on this node; runtime at {}", st.pods.len(), self.cfg.runtime_socket.display());
            let period = Duration::from_millis(self.cfg.sync_period_ms.max(50));
            let mut dirty = true;
            let mut next_sync = Instant::now();
            loop {
                if dirty || Instant::now() >= next_sync {
                    // What is in flight goes on while the pods sync (pulls, postStart hooks).
                    let (tearing, mut finished) = (work.tearing().clone(), Vec::new());
                    let teardowns = {
                        let drive = async {
                            while finished.len() < usize::MAX {
                                let d = work.next().await;
                                finished.push(d);
                            }
                            Vec::new()
                        };
                        st.sync_all(&tearing).or(drive).await
                    };
                    dirty = false;
                    next_sync = Instant::now() + period;
                    for t in teardowns {
                        work.teardown(&st.cri, t, st.host_ip.clone());
                    }
                    for d in finished {
                        dirty |= st.finished(d, &mut work);
                    }
                }
                // Due probes start; what runs is polled below with the inbox.
                for f in st.prober.start_due(&st.cri) {
                    work.push(f);
                }
                let wake = st.prober.next_due().map_or(next_sync, |t| t.min(next_sync));
                let ev = {
                    let msg = async { Some(Ok(ctx.recv().await)) };
                    let done = async { Some(Err(work.next().await)) };
                    let tick = async {
                        smol::Timer::at(wake).await;
                        None
                    };
                    let stream = async {
                        match self.streams.recv().await {
                            Ok(s) => {
                                streams_ex.spawn(stream::serve(st.cri.clone(), st.logs.clone(), s)).detach();
                                None
                            }
                            Err(_) => std::future::pending().await,
                        }
                    };
                    let streams_run = streams_ex.run(std::future::pending::<Option<_>>());
                    msg.or(done).or(stream).or(tick).or(streams_run).await
                };
                let ev = match ev {
                    None => continue,
                    Some(Err(done)) => {
                        // A verdict changed or a container was killed: sync (and report) now.
                        dirty |= st.finished(done, &mut work);
                        continue;
                    }
                    Some(Ok(ev)) => Some(ev),
                };
                match ev {
                    None => {}
                    Some(None) => return Ok(()),
                    Some(Some(m)) => match (m.group.as_str(), m.operation.as_str()) {
                        (names::GROUP_METACHANGE, _) => {
                            if let Ok(c) = crate::store::from_bytes::<ObjectChange>(&m.content) {
                                match c.key.split('/').nth(1) {
                                    Some("pod") => {
                                        match c.content.as_deref().and_then(|b| serde_json::from_slice(b).ok()) {
                                            Some(v) => st.pods.insert(c.key, v),
                                            None => st.pods.remove(&c.key),
                                        };
                                        dirty = true;
                                    }
                                    Some("configmap" | "secret") => dirty = true,
                                    _ => {}
                                }
                            }
                        }
                        (NAME, "logs") => st.answer_logs(&m).await,
                        (names::GROUP_CONNECTION, "connected") => {
                            // Say everything again: the cloud may have marked our pods Unknown.
                            for k in st.known.values_mut() {
                                k.reported = None;
                            }
                            st.node_reported = None;
                            dirty = true;
                        }
                        _ => {}
                    },
                }
            }
        })
    }
}

impl State<'_> {
    /// Something in flight finished; true when the pods must be synced again.
    fn finished(&mut self, done: work::Done, work: &mut work::Work) -> bool {
        match done {
            work::Done::Probe(key, result) => {
                let (changed, kill, events) = self.prober.finish(key, result);
                self.events.add(events);
                let killing = kill.is_some();
                if let Some(k) = kill {
                    work.kill(&self.cri, k);
                }
                changed || killing
            }
            work::Done::Killed => true,
            work::Done::TornDown(uid) => {
                work.torn_down(&uid);
                false
            }
        }
    }

    /// A `logs` request from the cloud (`kubectl logs`): the log text, or `error: <why>`.
    async fn answer_logs(&self, m: &crate::core::Message) {
        let answer = match serde_json::from_slice::<logs::LogRequest>(&m.content) {
            Ok(r) => {
                let dir = self.logs.clone();
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                smol::unblock(move || logs::read(&dir, &r, now)).await
            }
            Err(e) => Err(format!("bad logs request: {e}")),
        };
        // `log\n` first, so a log that begins with "error: " is not taken for a refusal.
        let body = answer.map(|text| [b"log\n".as_slice(), &text].concat()).unwrap_or_else(|why| Reply::Error(why).encode());
        if let Err(e) = self.ctx.respond(m, body) {
            log::debug!(target: NAME, "logs answer not delivered: {e}");
        }
    }

    async fn report(&self, resource: &str, body: &Value) {
        let m = self.ctx.message("edgecontroller", resource, "report", serde_json::to_vec(body).unwrap_or_default());
        match self.ctx.request(crate::edge::names::EDGEHUB, m).await {
            Ok(r) if matches!(Reply::parse(&r.content), Some(Reply::Stored(_))) => log::debug!(target: NAME, "{resource}: {}", r.content_text()),
            Ok(r) => log::warn!(target: NAME, "{resource}: status not stored: {}", r.content_text()),
            Err(e) => log::warn!(target: NAME, "{resource}: status not stored: {e}"),
        }
    }

    async fn node_status(&mut self, runtime: Result<(String, String), String>) {
        if self.runtime.as_ref() != Some(&runtime) {
            match &runtime {
                Ok((n, v)) => log::info!(target: NAME, "container runtime {n} {v} is ready"),
                Err(e) => log::warn!(target: NAME, "container runtime not ready: {e}"),
            }
            self.runtime = Some(runtime.clone());
        }
        let st = node::status(&runtime, self.limits);
        let fp = node::fingerprint(&st);
        if self.node_reported.as_ref() != Some(&fp) {
            self.report(&format!("/node/{}/status", self.node), &st).await;
            self.node_reported = Some(fp);
        }
    }

    /// Bring every pod to its spec and report; returns the pods to tear
    /// down (not those in `tearing`, already going).
    async fn sync_all(&mut self, tearing: &std::collections::HashSet<String>) -> Vec<work::Teardown> {
        let runtime = match self.cri.version().await {
            Ok(v) => Ok((v.runtime_name, v.runtime_version)),
            Err(e) => Err(e.to_string()),
        };
        let up = runtime.is_ok();
        self.node_status(runtime).await;
        if !up {
            return Vec::new();
        }
        let mut wanted = std::collections::HashSet::new();
        let mut runnable = Vec::new();
        let pods: Vec<(String, Value)> = self.pods.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (key, v) in pods {
            let parsed = spec::parse(&v).and_then(|p| match p.privileged() {
                Some(at) if !self.allow_privileged => {
                    Err(format!("{at}.securityContext.privileged: privileged containers are not allowed on this node (edged.allow_privileged = false)"))
                }
                _ => Ok(p),
            });
            match parsed {
                Ok(p) => {
                    wanted.insert(p.uid.clone());
                    runnable.push((key, p));
                }
                Err(e) => {
                    let st = serde_json::json!({"phase": "Failed", "reason": "InvalidPod", "message": e});
                    let s = st.to_string();
                    let uid = v.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or(&key).to_string();
                    wanted.insert(uid.clone());
                    let k = self.known.entry(uid).or_insert(Known { key: key.clone(), start: String::new(), grace_s: 0, reported: None, pod: None });
                    if k.reported.as_ref() != Some(&s) {
                        log::warn!(target: NAME, "pod {key}: cannot run it: {e}");
                        k.reported = Some(s);
                        self.report(&format!("{key}/status"), &st).await;
                    }
                }
            }
        }
        // Every pod at once (one slow image pull or stop holds up no other pod);
        // CRI calls share one HTTP/2 connection.
        // What the runtime holds, listed once for every pod.
        let managed = HashMap::from([(sync::MANAGED.to_string(), "true".to_string())]);
        let listed = match self.cri.list_pod_sandbox(managed.clone()).await {
            Ok(s) => self.cri.list_containers(managed).await.map(|c| (s, c)),
            Err(e) => Err(e),
        };
        let (sandboxes, containers) = match listed {
            Ok(x) => x,
            Err(e) => {
                log::warn!(target: NAME, "listing what the runtime runs: {e}");
                return Vec::new();
            }
        };
        let of = |uid: &str| -> (Vec<cri::api::PodSandbox>, Vec<cri::api::Container>) {
            let mine = |l: &HashMap<String, String>| l.get(sync::POD_UID).is_some_and(|u| u == uid);
            (sandboxes.iter().filter(|s| mine(&s.labels)).cloned().collect(), containers.iter().filter(|c| mine(&c.labels)).cloned().collect())
        };
        let per_pod: Vec<_> = runnable.iter().map(|(_, p)| of(&p.uid)).collect();
        let results = {
            let syncer = sync::Syncer {
                ctx: self.ctx,
                cri: &self.cri,
                logs: &self.logs,
                volumes: &self.volumes,
                backoff_base: self.backoff,
                host_ip: &self.host_ip,
                probe_killed: self.prober.killed(),
            };
            futures_util::future::join_all(runnable.iter().zip(&per_pod).map(|((_, p), (sb, cs))| syncer.sync(p, sb, cs))).await
        };
        let mut live = std::collections::HashSet::new();
        // Probe state lives as long as its container runs (not only while
        // its pod syncs cleanly: one CRI error must not reset thresholds).
        // Pods that left the node are probed no more (they are being torn down).
        let probed: std::collections::HashSet<String> = containers
            .iter()
            .filter(|c| c.state == cri::api::CONTAINER_RUNNING && c.labels.get(sync::POD_UID).is_some_and(|u| wanted.contains(u)))
            .map(|c| c.id.clone())
            .collect();
        for ((key, pod), facts) in runnable.into_iter().zip(results) {
            let mut facts = facts.unwrap_or_else(|e| {
                log::warn!(target: NAME, "pod {}/{}: {e}", pod.namespace, pod.name);
                sync::PodFacts { problem: Some(("RuntimeError".into(), e.to_string())), ..Default::default() }
            });
            // Probes of what runs; their verdicts go into the status.
            let ip = sync::pod_ip(&pod, &facts.ip, &self.host_ip);
            let label = format!("{}/{}", pod.namespace, pod.name);
            for (cf, spec) in facts.containers.iter_mut().zip(&pod.containers).filter(|(cf, _)| cf.running && !cf.id.is_empty()) {
                self.prober.track(&cf.id, &label, spec, cf.started_at, &ip, (pod.grace_s, pod.restart != spec::Restart::Never));
                (cf.started, cf.ready) = (self.prober.started(&cf.id), self.prober.ready(&cf.id));
            }
            let k = self.known.entry(pod.uid.clone()).or_insert_with(|| Known {
                key: key.clone(),
                start: crate::kube::rfc3339_now(),
                grace_s: pod.grace_s,
                reported: None,
                pod: None,
            });
            k.grace_s = pod.grace_s;
            k.pod = Some(pod.clone());
            let st = status::pod_status(&pod, &facts, &k.start, &self.host_ip);
            let s = st.to_string();
            let changed = k.reported.as_ref() != Some(&s);
            k.reported = Some(s);
            let events = self.events.take(&label, changed, Instant::now());
            if changed || events.is_some() {
                let mut body = st;
                if let Some(e) = events {
                    body["hiveEvents"] = e;
                }
                self.report(&format!("{key}/status"), &body).await;
            }
            live.insert(label);
        }
        let existing: std::collections::HashSet<String> = containers.iter().map(|c| c.id.clone()).collect();
        self.prober.retain(&probed, &existing);
        self.events.retain(&live);
        // What runs but no pod wants any more: stop it within its grace period.
        let running: Vec<String> = sandboxes.iter().filter_map(|s| s.labels.get(sync::POD_UID).cloned()).collect();
        let mut teardowns = Vec::new();
        for uid in running.into_iter().filter(|u| !wanted.contains(u)).collect::<std::collections::BTreeSet<_>>() {
            if tearing.contains(&uid) {
                continue;
            }
            let (grace_s, key, pod) = self.known.get(&uid).map(|k| (k.grace_s, k.key.clone(), k.pod.clone())).unwrap_or((30, uid.clone(), None));
            log::info!(target: NAME, "pod {key} is no longer on this node: stopping it (grace {grace_s}s)");
            let volumes = self.volumes.join(&uid);
            teardowns.push(work::Teardown { uid, key, grace_s, pod, volumes });
        }
        self.known.retain(|uid, _| wanted.contains(uid));
        crate::edge::metrics::count_pods(self.known.values().filter_map(|k| k.reported.as_deref()));
        teardowns
    }
}
