//! Edged's work in flight: probe attempts, probe kills (preStop, then the
//! stop) and teardowns of pods that left the node — each a future that
//! Edged's loop polls beside its inbox and its timer, so a probe that runs
//! into its timeout, a long preStop or a long grace period never holds up
//! syncing, status reports or `kubectl logs` (a kubelet runs these in
//! goroutines of their own). The loop drives them while it syncs too. On
//! shutdown what is in flight is dropped: the
//! containers go on running and a restarted edge adopts or removes them.
//!
//! Owns: those futures and the set of pods being torn down. Must not
//! decide what to probe, kill or tear down (prober.rs, mod.rs do).

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;

use futures_util::stream::{FuturesUnordered, StreamExt as _};

use super::cri::Cri;
use super::probe::Kind;
use super::prober::Kill;
use super::spec::Pod;

/// What finished.
pub enum Done {
    /// One probe attempt: which probe (container id, kind), its result.
    Probe((String, Kind), Result<(), String>),
    /// A container a probe failed was stopped.
    Killed,
    /// Pod `uid` was torn down (or failed to be: retried next round).
    TornDown(String),
}

pub type Pending = Pin<Box<dyn Future<Output = Done>>>;

/// Pod `uid` (`key` names it in logs) to stop within `grace_s`, its
/// containers' preStop hooks first when `pod`, its last spec, has them;
/// then its volume directory `volumes` goes.
pub struct Teardown {
    pub uid: String,
    pub key: String,
    pub grace_s: i64,
    pub pod: Option<Pod>,
    pub volumes: PathBuf,
}

#[derive(Default)]
pub struct Work {
    running: FuturesUnordered<Pending>,
    /// Pods whose teardown is running (not started twice).
    tearing: HashSet<String>,
}

impl Work {
    pub fn push(&mut self, f: Pending) {
        self.running.push(f);
    }

    /// The next thing that finishes; never, while nothing runs.
    pub async fn next(&mut self) -> Done {
        match self.running.next().await {
            Some(d) => d,
            None => std::future::pending().await,
        }
    }

    /// Stop a container a probe failed, after its preStop hook.
    pub fn kill(&mut self, cri: &Rc<Cri>, k: Kill) {
        let cri = cri.clone();
        self.push(Box::pin(async move {
            let label = format!("pod {}: container {}", k.pod, k.container);
            let grace = super::hooks::pre_stop(&cri, k.pre_stop.as_ref(), &k.id, &k.ip, k.grace_s, &label).await;
            if let Err(e) = cri.stop_container(&k.id, grace).await {
                log::warn!(target: super::NAME, "{label}: killing it: {e}");
            }
            Done::Killed
        }));
    }

    /// The pods being torn down.
    pub fn tearing(&self) -> &HashSet<String> {
        &self.tearing
    }

    /// Tear a pod down (see Teardown).
    pub fn teardown(&mut self, cri: &Rc<Cri>, t: Teardown, host_ip: String) {
        let Teardown { uid, key, grace_s, pod, volumes } = t;
        self.tearing.insert(uid.clone());
        let cri = cri.clone();
        self.push(Box::pin(async move {
            match super::sync::teardown(&cri, &uid, grace_s, pod.as_ref(), &host_ip).await {
                Ok(()) => {
                    let _ = std::fs::remove_dir_all(&volumes);
                    log::info!(target: super::NAME, "pod {key} stopped and removed");
                }
                Err(e) => log::warn!(target: super::NAME, "pod {key}: teardown: {e} (tried again next round)"),
            }
            Done::TornDown(uid)
        }));
    }

    /// A teardown ended.
    pub fn torn_down(&mut self, uid: &str) {
        self.tearing.remove(uid);
    }
}
