//! One pod against the runtime, the kubelet way: a sandbox (host or pod
//! network), the image (pulled if absent), each container created and
//! started, restarted by restartPolicy with exponential backoff, replaced
//! when its spec hash changed; what is found running is adopted (labels
//! carry pod uid, namespace, name, container name and spec hash), and a
//! not-ready sandbox (e.g. after a reboot) is replaced. Init containers
//! run first, in order; postStart and preStop hooks around starts and
//! stops (hooks.rs). Also: tearing a pod down within its grace period, and
//! removing what no pod wants.
//!
//! Owns: the runtime's objects labelled `hive.io/managed`. Must not decide
//! which pods should run (mod.rs) nor what the status says (status.rs).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cri::api::{
    self, ContainerConfig, ContainerMetadata, ImageSpec, LinuxContainerConfig, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
};
use super::cri::{Cri, CriError};
use super::spec::{Container, Pod, Restart};
use crate::core::Context;

pub const MANAGED: &str = "hive.io/managed";
pub const POD_UID: &str = "hive.io/pod-uid";
const POD_NS: &str = "hive.io/pod-namespace";
const POD_NAME: &str = "hive.io/pod-name";
pub const CONTAINER: &str = "hive.io/container";
const SPEC_HASH: &str = "hive.io/spec-hash";
/// Restart backoff cap, as kubelet.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one container is doing, for the status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFacts {
    pub name: String,
    pub image: String,
    pub id: String,
    pub running: bool,
    /// (exit code, reason, started ns, finished ns) of the last run that ended.
    pub terminated: Option<(i32, String, i64, i64)>,
    pub started_at: i64,
    pub restarts: u32,
    /// Why it is not running: (reason, message).
    pub waiting: Option<(String, String)>,
    /// It will not be started again (restartPolicy).
    pub done: bool,
    /// Its probes' verdicts (prober.rs), filled in by mod.rs.
    pub started: bool,
    pub ready: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodFacts {
    pub sandbox_ready: bool,
    pub ip: String,
    /// Why the pod cannot run at all: (reason, message).
    pub problem: Option<(String, String)>,
    pub containers: Vec<ContainerFacts>,
    pub init_containers: Vec<ContainerFacts>,
    /// Every init container completed (or there are none).
    pub initialized: bool,
}

impl ContainerFacts {
    fn waiting(spec: &Container, reason: &str, message: &str) -> ContainerFacts {
        let waiting = Some((reason.to_string(), message.to_string()));
        ContainerFacts { name: spec.name.clone(), image: spec.image.clone(), waiting, ..Default::default() }
    }
}

fn labels(pod: &Pod) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (POD_UID.to_string(), pod.uid.clone()),
        (POD_NS.to_string(), pod.namespace.clone()),
        (POD_NAME.to_string(), pod.name.clone()),
    ])
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

pub fn sandbox_config(pod: &Pod, logs: &Path, attempt: u32) -> PodSandboxConfig {
    let network = if pod.host_network { api::NAMESPACE_NODE } else { api::NAMESPACE_POD };
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata { name: pod.name.clone(), uid: pod.uid.clone(), namespace: pod.namespace.clone(), attempt }),
        // A host-network sandbox shares the host's UTS namespace: no hostname.
        hostname: if pod.host_network { String::new() } else { pod.name.clone() },
        log_directory: logs.join(format!("{}_{}_{}", pod.namespace, pod.name, pod.uid)).display().to_string(),
        labels: labels(pod),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: String::new(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption { network, pid: pod.pid_mode, ipc: pod.ipc_mode }),
                // A privileged container needs a privileged sandbox.
                privileged: pod.privileged().is_some(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// Stop and remove every container and sandbox of pod `uid` (grace in s),
/// running containers at once, each after its preStop hook when `pod` (the
/// last spec seen) has one.
pub async fn teardown(cri: &Cri, uid: &str, grace_s: i64, pod: Option<&Pod>, host_ip: &str) -> Result<(), CriError> {
    let sel = HashMap::from([(POD_UID.to_string(), uid.to_string())]);
    let containers = cri.list_containers(sel.clone()).await?;
    let mut ip = String::new();
    if let Some(p) = pod.filter(|p| p.containers.iter().any(|c| c.pre_stop.is_some())) {
        let sandbox = containers.first().map(|c| c.pod_sandbox_id.clone()).unwrap_or_default();
        let sandbox_ip = cri.pod_sandbox_status(&sandbox).await.ok().and_then(|s| s.network).map(|n| n.ip).unwrap_or_default();
        ip = pod_ip(p, &sandbox_ip, host_ip);
    }
    let stops = containers.iter().filter(|c| c.state == api::CONTAINER_RUNNING).map(|c| {
        let hook = pod.and_then(|p| p.containers.iter().find(|s| c.labels.get(CONTAINER) == Some(&s.name))).and_then(|s| s.pre_stop.as_ref());
        let ip = &ip;
        async move {
            let label = format!("container {}", short(&c.id));
            let grace = super::hooks::pre_stop(cri, hook, &c.id, ip, grace_s, &label).await;
            cri.stop_container(&c.id, grace).await
        }
    });
    for r in futures_util::future::join_all(stops).await {
        r?;
    }
    for c in &containers {
        cri.remove_container(&c.id).await?;
    }
    for s in cri.list_pod_sandbox(sel).await? {
        cri.stop_pod_sandbox(&s.id).await?;
        cri.remove_pod_sandbox(&s.id).await?;
    }
    Ok(())
}

pub struct Syncer<'a> {
    pub ctx: &'a Context,
    pub cri: &'a Cri,
    pub logs: &'a Path,
    pub volumes: &'a Path,
    pub backoff_base: Duration,
    /// The node's address (hostNetwork pods answer there).
    pub host_ip: &'a str,
    /// Containers a failed liveness or startup probe killed.
    pub probe_killed: &'a std::collections::HashSet<String>,
}

/// Where a pod answers probes and hooks: its sandbox's IP, or the node's
/// for host-network pods (loopback when the node has none).
pub fn pod_ip(pod: &Pod, sandbox_ip: &str, host_ip: &str) -> String {
    match (pod.host_network || sandbox_ip.is_empty(), host_ip.is_empty()) {
        (false, _) => sandbox_ip.to_string(),
        (true, false) => host_ip.to_string(),
        (true, true) => "127.0.0.1".to_string(),
    }
}

impl Syncer<'_> {
    /// Bring `pod` to what its spec says; returns what it is doing.
    /// `sandboxes` and `all` are the pod's sandboxes and containers as this
    /// round listed them (one ListPodSandbox and one ListContainers per
    /// round for every pod, as kubelet's relist).
    pub async fn sync(&self, pod: &Pod, sandboxes: &[api::PodSandbox], all: &[api::Container]) -> Result<PodFacts, CriError> {
        let mut facts = PodFacts::default();
        // The sandbox: adopt a ready one, replace a dead one.
        let ready = sandboxes.iter().filter(|s| s.state == api::SANDBOX_READY).max_by_key(|s| s.created_at).map(|s| s.id.clone());
        let attempt = sandboxes.iter().filter_map(|s| s.metadata.as_ref().map(|m| m.attempt + 1)).max().unwrap_or(0);
        for s in sandboxes.iter().filter(|s| Some(&s.id) != ready.as_ref()) {
            log::info!(target: super::NAME, "pod {}/{}: removing sandbox {} (not ready)", pod.namespace, pod.name, short(&s.id));
            for c in all.iter().filter(|c| c.pod_sandbox_id == s.id) {
                let _ = self.cri.remove_container(&c.id).await;
            }
            let _ = self.cri.stop_pod_sandbox(&s.id).await;
            self.cri.remove_pod_sandbox(&s.id).await?;
        }
        let sb_cfg = sandbox_config(pod, self.logs, if ready.is_some() { 0 } else { attempt });
        let sandbox = match ready {
            Some(id) => id,
            None => {
                std::fs::create_dir_all(&sb_cfg.log_directory)
                    .map_err(|e| CriError::Transport("RunPodSandbox".into(), format!("log directory {}: {e}", sb_cfg.log_directory)))?;
                let id = self.cri.run_pod_sandbox(sb_cfg.clone()).await?;
                log::info!(target: super::NAME, "pod {}/{}: sandbox {} started", pod.namespace, pod.name, short(&id));
                id
            }
        };
        let st = self.cri.pod_sandbox_status(&sandbox).await?;
        facts.sandbox_ready = st.state == api::SANDBOX_READY;
        facts.ip = st.network.map(|n| n.ip).unwrap_or_default();
        let ip = pod_ip(pod, &facts.ip, self.host_ip);
        let named = |c: &api::Container, specs: &[Container]| c.labels.get(CONTAINER).is_some_and(|n| specs.iter().any(|s| &s.name == n));
        for c in all.iter().filter(|c| c.pod_sandbox_id == sandbox) {
            let wanted = named(c, &pod.containers) || named(c, &pod.init_containers);
            if !wanted {
                log::info!(target: super::NAME, "pod {}/{}: removing container {} no longer in the spec", pod.namespace, pod.name, short(&c.id));
                if c.state == api::CONTAINER_RUNNING {
                    self.cri.stop_container(&c.id, pod.grace_s).await?;
                }
                self.cri.remove_container(&c.id).await?;
            }
        }
        let mine = |spec: &Container| -> Vec<&api::Container> {
            all.iter().filter(|c| c.pod_sandbox_id == sandbox && c.labels.get(CONTAINER) == Some(&spec.name)).collect()
        };
        // Init containers, in order, each to completion; once an app
        // container exists in this sandbox they are never run again (kubelet).
        let app_started = all.iter().any(|c| c.pod_sandbox_id == sandbox && named(c, &pod.containers));
        // An init container that fails is retried unless the pod never restarts.
        let init_restart = if pod.restart == Restart::Never { Restart::Never } else { Restart::OnFailure };
        facts.initialized = true;
        for spec in &pod.init_containers {
            if !facts.initialized {
                facts.init_containers.push(ContainerFacts::waiting(spec, "PodInitializing", ""));
                continue;
            }
            let f = if app_started {
                self.observe(spec, mine(spec)).await?
            } else {
                self.container(pod, spec, init_restart, (&sandbox, &ip), &sb_cfg, mine(spec)).await?
            };
            let completed = !f.running && f.terminated.as_ref().is_some_and(|t| t.0 == 0);
            facts.initialized = app_started || completed;
            facts.init_containers.push(f);
        }
        for spec in &pod.containers {
            let f = if facts.initialized {
                self.container(pod, spec, pod.restart, (&sandbox, &ip), &sb_cfg, mine(spec)).await?
            } else {
                ContainerFacts::waiting(spec, "PodInitializing", "")
            };
            facts.containers.push(f);
        }
        Ok(facts)
    }

    /// What an init container that ran before did, without acting on it.
    async fn observe(&self, spec: &Container, mut mine: Vec<&api::Container>) -> Result<ContainerFacts, CriError> {
        let mut f = ContainerFacts { name: spec.name.clone(), image: spec.image.clone(), done: true, ..Default::default() };
        mine.sort_by_key(|c| (c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0), c.created_at));
        match mine.last() {
            Some(c) => {
                let st = self.cri.container_status(&c.id).await?;
                f.id = c.id.clone();
                f.restarts = c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0);
                f.terminated = Some((st.exit_code, exit_reason(&st), st.started_at, st.finished_at));
            }
            // Removed since (e.g. by hand): it completed, or the app would not run.
            None => f.terminated = Some((0, "Completed".into(), 0, 0)),
        }
        Ok(f)
    }

    async fn container(
        &self,
        pod: &Pod,
        spec: &Container,
        restart: Restart,
        (sandbox, ip): (&str, &str),
        sb_cfg: &PodSandboxConfig,
        mut mine: Vec<&api::Container>,
    ) -> Result<ContainerFacts, CriError> {
        let mut f = ContainerFacts { name: spec.name.clone(), image: spec.image.clone(), ..Default::default() };
        mine.sort_by_key(|c| (c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0), c.created_at));
        // A changed spec: the old containers go, a new one comes.
        if mine.iter().any(|c| c.labels.get(SPEC_HASH) != Some(&spec.hash)) {
            log::info!(target: super::NAME, "pod {}/{}: container {} changed; replacing it", pod.namespace, pod.name, spec.name);
            for c in &mine {
                if c.state == api::CONTAINER_RUNNING {
                    let label = format!("pod {}/{}: container {}", pod.namespace, pod.name, spec.name);
                    let grace = super::hooks::pre_stop(self.cri, spec.pre_stop.as_ref(), &c.id, ip, pod.grace_s, &label).await;
                    self.cri.stop_container(&c.id, grace).await?;
                }
                self.cri.remove_container(&c.id).await?;
            }
            mine.clear();
        }
        // The newest attempt and the one before it (lastState, its log) stay.
        if mine.len() > 2 {
            for c in &mine[..mine.len() - 2] {
                let _ = self.cri.remove_container(&c.id).await;
            }
        }
        let latest = mine.last().copied();
        let previous = if mine.len() >= 2 { Some(mine[mine.len() - 2]) } else { None };
        let attempt = latest.and_then(|c| c.metadata.as_ref().map(|m| m.attempt)).unwrap_or(0);
        f.restarts = attempt;
        let next_attempt = match latest {
            Some(c) if c.state == api::CONTAINER_RUNNING => {
                let st = self.cri.container_status(&c.id).await?;
                f.id = c.id.clone();
                f.running = true;
                f.started_at = st.started_at;
                if let Some(p) = previous.filter(|p| p.state == api::CONTAINER_EXITED) {
                    if let Ok(ps) = self.cri.container_status(&p.id).await {
                        f.terminated = Some((ps.exit_code, exit_reason(&ps), ps.started_at, ps.finished_at));
                    }
                }
                return Ok(f);
            }
            Some(c) if c.state == api::CONTAINER_CREATED => {
                f.id = c.id.clone();
                return Ok(self.start(pod, spec, &c.id, ip, f).await);
            }
            Some(c) => {
                let st = self.cri.container_status(&c.id).await?;
                f.id = c.id.clone();
                f.terminated = Some((st.exit_code, exit_reason(&st), st.started_at, st.finished_at));
                let again = match restart {
                    Restart::Always => true,
                    // A probe's kill restarts it whatever it exited with (kubelet).
                    Restart::OnFailure => st.exit_code != 0 || self.probe_killed.contains(&c.id),
                    Restart::Never => false,
                };
                if !again {
                    f.done = true;
                    return Ok(f);
                }
                let delay = self.backoff_base.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF);
                let since_exit = Duration::from_nanos((now_ns() - st.finished_at).max(0) as u64);
                if since_exit < delay {
                    let left = delay - since_exit;
                    f.waiting = Some((
                        "CrashLoopBackOff".into(),
                        format!("back-off {}s restarting failed container {} in pod {}/{}", left.as_secs().max(1), spec.name, pod.namespace, pod.name),
                    ));
                    return Ok(f);
                }
                attempt + 1
            }
            None => 0,
        };
        // The image, as imagePullPolicy says.
        let image = match super::pull::ensure(self.ctx, self.cri, pod, spec).await? {
            Ok(image) => image,
            Err(waiting) => {
                f.waiting = Some(waiting);
                return Ok(f);
            }
        };
        if let Err(e) = super::security::check_non_root(&spec.security, image.as_ref()) {
            f.waiting = Some(("CreateContainerConfigError".into(), e));
            return Ok(f);
        }
        let (envs, mounts) = match super::volumes::prepare(self.ctx, self.volumes, pod, spec, (ip, self.host_ip)).await {
            Ok(x) => x,
            Err(e) => {
                f.waiting = Some(("CreateContainerConfigError".into(), e));
                return Ok(f);
            }
        };
        // $(VAR) in command and args from the container's env (kubelet).
        let vars: std::collections::BTreeMap<String, String> = envs.iter().map(|kv| (kv.key.clone(), kv.value.clone())).collect();
        let mut l = labels(pod);
        l.insert(CONTAINER.into(), spec.name.clone());
        l.insert(SPEC_HASH.into(), spec.hash.clone());
        let cfg = ContainerConfig {
            metadata: Some(ContainerMetadata { name: spec.name.clone(), attempt: next_attempt }),
            image: Some(ImageSpec { image: spec.image.clone() }),
            command: spec.command.iter().map(|a| super::env::expand(a, &vars)).collect(),
            args: spec.args.iter().map(|a| super::env::expand(a, &vars)).collect(),
            working_dir: spec.working_dir.clone(),
            envs,
            mounts,
            labels: l,
            log_path: format!("{}/{next_attempt}.log", spec.name),
            linux: Some(LinuxContainerConfig {
                resources: Some(super::resources::linux(&spec.resources)),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: if pod.host_network { api::NAMESPACE_NODE } else { api::NAMESPACE_POD },
                        pid: pod.pid_mode,
                        ipc: pod.ipc_mode,
                    }),
                    ..super::security::linux(&spec.security, image.as_ref())
                }),
            }),
            ..Default::default()
        };
        let id = match self.cri.create_container(sandbox, cfg, sb_cfg.clone()).await {
            Ok(id) => id,
            Err(e) => {
                f.waiting = Some(("CreateContainerError".into(), e.to_string()));
                return Ok(f);
            }
        };
        f.id = id.clone();
        f.restarts = next_attempt;
        // `terminated` (the run before this one) stays: it is the lastState.
        Ok(self.start(pod, spec, &id, ip, f).await)
    }

    async fn start(&self, pod: &Pod, spec: &Container, id: &str, ip: &str, mut f: ContainerFacts) -> ContainerFacts {
        match self.cri.start_container(id).await {
            Ok(()) => {
                log::info!(target: super::NAME, "pod {}/{}: container {} started ({}, restart {})", pod.namespace, pod.name, spec.name, short(id), f.restarts);
                f.started_at = now_ns();
                // postStart: the container counts as started once it returned; a failure kills it.
                match super::hooks::post_start(self.cri, spec.post_start.as_ref(), id, ip).await {
                    Ok(()) => f.running = true,
                    Err(e) => {
                        log::warn!(target: super::NAME, "pod {}/{}: container {}: postStart hook failed ({e}); killing it", pod.namespace, pod.name, spec.name);
                        if let Err(k) = self.cri.stop_container(id, pod.grace_s).await {
                            log::warn!(target: super::NAME, "pod {}/{}: container {}: {k}", pod.namespace, pod.name, spec.name);
                        }
                        f.waiting = Some(("PostStartHookError".into(), format!("PostStartHook failed: {e}")));
                    }
                }
            }
            Err(e) => {
                log::warn!(target: super::NAME, "pod {}/{}: container {} did not start: {e}", pod.namespace, pod.name, spec.name);
                // Leave it for the next round: it shows as exited and restarts with backoff.
                f.waiting = Some(("RunContainerError".into(), e.to_string()));
            }
        }
        f
    }
}

fn exit_reason(st: &api::ContainerStatus) -> String {
    match st.reason.as_str() {
        "" if st.exit_code == 0 => "Completed".into(),
        "" => "Error".into(),
        r => r.to_string(),
    }
}

pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
