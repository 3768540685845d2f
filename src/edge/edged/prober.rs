//! Probe state of the running containers, kubelet's prober manager: per
//! (container id, kind) the probe, when it runs next and its consecutive
//! successes and failures against the thresholds. A startup probe runs
//! until it first succeeds and holds the other two back; readiness makes a
//! container ready (and unready again); a failed liveness or startup probe
//! has the container killed, and restartPolicy brings it back (sync.rs).
//! No thread or task per probe: Edged's loop asks for the next due time,
//! starts what is due as futures it polls beside its inbox (work.rs), each
//! within its timeout, and hands each result back here. A restarted
//! container has a new id, so it starts from scratch, as on a kubelet.
//! Probes run the same whether the cloud is reachable or not.
//!
//! Owns: that state. Must not run pods or report status (mod.rs does).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::rc::Rc;

use super::cri::Cri;
use super::probe::{self, Action, Kind, Probe};
use super::spec::Container;
use super::work::{Done, Pending};

struct Entry {
    probe: Probe,
    /// `namespace/name` of the pod and the container's name, for logs.
    pod: String,
    container: String,
    grace_s: i64,
    /// restartPolicy is not Never.
    restarts: bool,
    pre_stop: Option<Action>,
    ip: String,
    next: Instant,
    successes: u32,
    failures: u32,
    /// The verdict so far: None until a threshold is first reached.
    ok: Option<bool>,
    /// An attempt is running (on Edged's loop, work.rs).
    in_flight: bool,
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
    /// Containers a probe killed: restarted whatever their exit code,
    /// unless restartPolicy is Never (kubelet).
    killed: HashSet<String>,
}

/// When a container that started `started_ns` (wall clock) did, as an Instant.
fn instant_of(started_ns: i64) -> Instant {
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let ago = Duration::from_nanos((now_ns - started_ns).max(0) as u64);
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

impl Prober {
    /// A running container, seen by this round's sync (`ip`: where its pod answers).
    pub fn track(&mut self, id: &str, pod: &str, spec: &Container, started_ns: i64, ip: &str, (grace_s, restarts): (i64, bool)) {
        // Being killed by a probe: probed no more (it would be killed twice).
        if self.killed.contains(id) {
            return;
        }
        for (kind, p) in Kind::ALL.into_iter().zip(&spec.probes) {
            let Some(p) = p else { continue };
            let e = self.entries.entry((id.to_string(), kind)).or_insert_with(|| Entry {
                probe: p.clone(),
                pod: pod.to_string(),
                container: spec.name.clone(),
                grace_s,
                restarts,
                pre_stop: spec.pre_stop.clone(),
                ip: ip.to_string(),
                next: instant_of(started_ns) + p.initial_delay,
                successes: 0,
                failures: 0,
                ok: None,
                in_flight: false,
            });
            e.ip = ip.to_string();
        }
    }

    /// Forget containers no longer running (and probe kills of containers
    /// the runtime no longer has at all).
    pub fn retain(&mut self, running: &HashSet<String>, existing: &HashSet<String>) {
        self.entries.retain(|(id, _), _| running.contains(id));
        self.killed.retain(|id| existing.contains(id));
    }

    /// Containers a probe killed (restarted whatever their exit code).
    pub fn killed(&self) -> &HashSet<String> {
        &self.killed
    }

    fn verdict(&self, id: &str, kind: Kind) -> Option<Option<bool>> {
        self.entries.get(&(id.to_string(), kind)).map(|e| e.ok)
    }

    /// Its startup probe has succeeded (or it has none), and no probe killed it.
    pub fn started(&self, id: &str) -> bool {
        !self.killed.contains(id) && self.verdict(id, Kind::Startup).is_none_or(|ok| ok == Some(true))
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

    /// When the next probe is due (running ones are not).
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.iter().filter(|(k, e)| !e.in_flight && self.active(k, e)).map(|(_, e)| e.next).min()
    }

    /// Start every probe that is due and not running yet: futures for
    /// Edged's loop (work.rs), each ending in `finish`.
    pub fn start_due(&mut self, cri: &Rc<Cri>) -> Vec<Pending> {
        let now = Instant::now();
        let due: Vec<(String, Kind)> =
            self.entries.iter().filter(|(k, e)| !e.in_flight && e.next <= now && self.active(k, e)).map(|(k, _)| k.clone()).collect();
        let mut out: Vec<Pending> = Vec::with_capacity(due.len());
        for key in due {
            let Some(e) = self.entries.get_mut(&key) else { continue };
            e.in_flight = true;
            let (cri, probe, ip) = (cri.clone(), e.probe.clone(), e.ip.clone());
            out.push(Box::pin(async move {
                let result = probe::attempt(&cri, &probe, &key.0, &ip).await;
                Done::Probe(key, result)
            }));
        }
        out
    }

    /// What one attempt of probe `key` came to: whether a verdict changed
    /// (the status must be said again), the container to kill, if any, and
    /// the events to record.
    pub fn finish(&mut self, key: (String, Kind), result: Result<(), String>) -> (bool, Option<Kill>, Vec<ProbeEvent>) {
        let (mut changed, mut kill, mut events) = (false, None, Vec::new());
        let Some(e) = self.entries.get_mut(&key) else { return (false, None, events) };
        e.in_flight = false;
        e.next = Instant::now() + e.probe.period;
        let before = e.ok;
        match result {
            Ok(()) => {
                (e.successes, e.failures) = (e.successes.saturating_add(1), 0);
                if e.successes >= e.probe.success {
                    e.ok = Some(true);
                }
            }
            Err(why) => {
                (e.successes, e.failures) = (0, e.failures.saturating_add(1));
                log::debug!(target: super::NAME, "pod {}: container {}: {} failed: {why}", e.pod, e.container, key.1.field());
                let kind = match key.1 {
                    Kind::Startup => "Startup",
                    Kind::Liveness => "Liveness",
                    Kind::Readiness => "Readiness",
                };
                crate::edge::metrics::PROBES.inc(&[&kind.to_lowercase()]);
                let (pod, container) = (e.pod.clone(), e.container.clone());
                events.push(ProbeEvent { pod, container, reason: "Unhealthy", message: format!("{kind} probe failed: {why}") });
                if e.failures >= e.probe.failure {
                    e.ok = Some(false);
                    if key.1 != Kind::Readiness {
                        let what = if key.1 == Kind::Liveness { "liveness" } else { "startup" };
                        log::info!(target: super::NAME, "pod {}: container {} failed its {what} probe {} times ({why}); killing it, restartPolicy decides what comes next", e.pod, e.container, e.failures);
                        let (pod, container, grace_s, pre_stop, ip) = (e.pod.clone(), e.container.clone(), e.grace_s, e.pre_stop.clone(), e.ip.clone());
                        let then = if e.restarts { ", will be restarted" } else { "" };
                        let message = format!("Container {container} failed {what} probe{then}");
                        events.push(ProbeEvent { pod: pod.clone(), container: container.clone(), reason: "Killing", message });
                        kill = Some(Kill { id: key.0.clone(), pod, container, grace_s, pre_stop, ip });
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
        // A container being killed is probed no more.
        if let Some(k) = &kill {
            self.killed.insert(k.id.clone());
            self.entries.retain(|(id, _), _| id != &k.id);
        }
        (changed, kill, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_probe_kill_is_made_once_and_the_dying_container_is_not_probed_again() {
        let pod = super::super::spec::parse(&json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
            "livenessProbe": {"exec": {"command": ["true"]}, "failureThreshold": 1}}]}}))
        .unwrap();
        let spec = &pod.containers[0];
        let mut p = Prober::default();
        p.track("id1", "default/p", spec, 0, "127.0.0.1", (1, true));
        assert!(p.next_due().is_some() && p.started("id1"));
        let key = ("id1".to_string(), Kind::Liveness);
        let (changed, kill, events) = p.finish(key.clone(), Err("exited with 1".into()));
        let kill = kill.expect("a kill at the threshold");
        assert!(changed && kill.id == "id1");
        assert_eq!(events.iter().map(|e| e.reason).collect::<Vec<_>>(), ["Unhealthy", "Killing"]);
        assert!(events[1].message.ends_with("will be restarted"));
        // The next sync still sees it running: it is not tracked (or killed) again.
        p.track("id1", "default/p", spec, 0, "127.0.0.1", (1, true));
        assert_eq!((p.next_due(), p.started("id1"), p.ready("id1")), (None, false, false));
        assert_eq!(p.finish(key, Err("late".into())).1.map(|k| k.id), None, "a late attempt kills nothing");
        // Once the runtime no longer has it, it is forgotten.
        p.retain(&HashSet::new(), &HashSet::new());
        assert!(!p.killed().contains("id1"));
    }
}
