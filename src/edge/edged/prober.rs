//! Probe state of the running containers, kubelet's prober manager: per
//! (container id, kind) the probe, when it runs next and its consecutive
//! successes and failures against the thresholds. A startup probe runs
//! until it first succeeds and holds the other two back; readiness makes a
//! container ready (and unready again); a failed liveness or startup probe
//! has the container killed, and restartPolicy brings it back (sync.rs).
//! No thread or task per probe: Edged's loop asks for the next due time and
//! runs what is due, all at once, each within its timeout. A restarted
//! container has a new id, so it starts from scratch, as on a kubelet.
//! Probes run the same whether the cloud is reachable or not.
//!
//! Owns: that state. Must not run pods or report status (mod.rs does).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::cri::Cri;
use super::probe::{self, Action, Kind, Probe};
use super::spec::Container;

struct Entry {
    probe: Probe,
    /// `namespace/name` of the pod and the container's name, for logs.
    pod: String,
    container: String,
    grace_s: i64,
    pre_stop: Option<Action>,
    ip: String,
    next: Instant,
    successes: u32,
    failures: u32,
    /// The verdict so far: None until a threshold is first reached.
    ok: Option<bool>,
}

/// A container to kill, after its preStop hook.
pub struct Kill {
    pub id: String,
    /// `namespace/name` of the pod and the container's name.
    pub pod: String,
    pub container: String,
    pub grace_s: i64,
    pub pre_stop: Option<Action>,
    pub ip: String,
}

/// Something a kubelet would record as an Event about the pod (Unhealthy,
/// Killing): carried up with the pod's next status report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeEvent {
    /// `namespace/name`.
    pub pod: String,
    pub container: String,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Default)]
pub struct Prober {
    entries: HashMap<(String, Kind), Entry>,
}

/// When a container that started `started_ns` (wall clock) did, as an Instant.
fn instant_of(started_ns: i64) -> Instant {
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let ago = Duration::from_nanos((now_ns - started_ns).max(0) as u64);
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

impl Prober {
    /// A running container, seen by this round's sync (`ip`: where its pod answers).
    pub fn track(&mut self, id: &str, pod: &str, spec: &Container, started_ns: i64, ip: &str, grace_s: i64) {
        for (kind, p) in Kind::ALL.into_iter().zip(&spec.probes) {
            let Some(p) = p else { continue };
            let e = self.entries.entry((id.to_string(), kind)).or_insert_with(|| Entry {
                probe: p.clone(),
                pod: pod.to_string(),
                container: spec.name.clone(),
                grace_s,
                pre_stop: spec.pre_stop.clone(),
                ip: ip.to_string(),
                next: instant_of(started_ns) + p.initial_delay,
                successes: 0,
                failures: 0,
                ok: None,
            });
            e.ip = ip.to_string();
        }
    }

    /// Forget containers no longer running.
    pub fn retain(&mut self, running: &HashSet<String>) {
        self.entries.retain(|(id, _), _| running.contains(id));
    }

    fn verdict(&self, id: &str, kind: Kind) -> Option<Option<bool>> {
        self.entries.get(&(id.to_string(), kind)).map(|e| e.ok)
    }

    /// Its startup probe has succeeded (or it has none).
    pub fn started(&self, id: &str) -> bool {
        self.verdict(id, Kind::Startup).is_none_or(|ok| ok == Some(true))
    }

    /// Started, and its readiness probe says ready (or it has none).
    pub fn ready(&self, id: &str) -> bool {
        self.started(id) && self.verdict(id, Kind::Readiness).is_none_or(|ok| ok == Some(true))
    }

    /// Whether this probe runs now at all: startup until it succeeds, the others once started.
    fn active(&self, (id, kind): &(String, Kind), e: &Entry) -> bool {
        match kind {
            Kind::Startup => e.ok != Some(true),
            _ => self.started(id),
        }
    }

    /// When the next probe is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.iter().filter(|(k, e)| self.active(k, e)).map(|(_, e)| e.next).min()
    }

    /// Run every probe that is due, concurrently. Returns whether any
    /// verdict changed (the status must be said again) and what to kill.
    pub async fn run_due(&mut self, cri: &Cri) -> (bool, Vec<Kill>, Vec<ProbeEvent>) {
        let now = Instant::now();
        let due: Vec<((String, Kind), Probe, String)> =
            self.entries.iter().filter(|(k, e)| e.next <= now && self.active(k, e)).map(|(k, e)| (k.clone(), e.probe.clone(), e.ip.clone())).collect();
        if due.is_empty() {
            return (false, Vec::new(), Vec::new());
        }
        let results = futures_util::future::join_all(due.iter().map(|((id, _), p, ip)| probe::attempt(cri, p, id, ip))).await;
        let (mut changed, mut kills, mut events) = (false, Vec::new(), Vec::new());
        for ((key, _, _), result) in due.into_iter().zip(results) {
            let Some(e) = self.entries.get_mut(&key) else { continue };
            e.next = Instant::now() + e.probe.period;
            let before = e.ok;
            match result {
                Ok(()) => {
                    (e.successes, e.failures) = (e.successes + 1, 0);
                    if e.successes >= e.probe.success {
                        e.ok = Some(true);
                    }
                }
                Err(why) => {
                    (e.successes, e.failures) = (0, e.failures + 1);
                    log::debug!(target: super::NAME, "pod {}: container {}: {} failed: {why}", e.pod, e.container, key.1.field());
                    let kind = match key.1 {
                        Kind::Startup => "Startup",
                        Kind::Liveness => "Liveness",
                        Kind::Readiness => "Readiness",
                    };
                    let (pod, container) = (e.pod.clone(), e.container.clone());
                    events.push(ProbeEvent { pod, container, reason: "Unhealthy", message: format!("{kind} probe failed: {why}") });
                    if e.failures >= e.probe.failure {
                        e.ok = Some(false);
                        if key.1 != Kind::Readiness {
                            let what = if key.1 == Kind::Liveness { "liveness" } else { "startup" };
                            log::info!(target: super::NAME, "pod {}: container {} failed its {what} probe {} times ({why}); killing it, restartPolicy decides what comes next", e.pod, e.container, e.failures);
                            let (pod, container, grace_s, pre_stop, ip) = (e.pod.clone(), e.container.clone(), e.grace_s, e.pre_stop.clone(), e.ip.clone());
                            let message = format!("Container {container} failed {what} probe, will be restarted");
                            events.push(ProbeEvent { pod: pod.clone(), container: container.clone(), reason: "Killing", message });
                            kills.push(Kill { id: key.0.clone(), pod, container, grace_s, pre_stop, ip });
                        }
                    }
                }
            }
            if e.ok != before {
                changed = true;
                if key.1 == Kind::Readiness {
                    let now_ready = if e.ok == Some(true) { "ready" } else { "not ready" };
                    log::info!(target: super::NAME, "pod {}: container {} is {now_ready} (readiness probe)", e.pod, e.container);
                }
            }
        }
        // A container being killed is probed no more.
        let doomed: HashSet<&String> = kills.iter().map(|k| &k.id).collect();
        self.entries.retain(|(id, _), _| !doomed.contains(id));
        (changed, kills, events)
    }
}
