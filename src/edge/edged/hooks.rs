//! Container lifecycle hooks as kubelet runs them: `postStart` right after
//! the container started (the container counts as started only once it
//! returned; a failure kills the container, restartPolicy decides what
//! comes next, and the status says PostStartHookError), and `preStop`
//! before Edged stops a container it means to stop (pod deleted, spec
//! changed, liveness failure), inside the pod's grace period: the stop
//! gets what is left of it, at least 2 s as on a kubelet. Handlers are
//! exec, httpGet and sleep (probe.rs runs them).
//!
//! Owns: when hooks run and how long they may take. Must not decide which
//! containers run.

use std::time::{Duration, Instant};

use super::cri::Cri;
use super::probe::{self, Action};

/// Longest a postStart hook may run (kubelet has no bound; a hook that
/// never returns would hold the pod's sync round here).
pub const POST_START_LIMIT: Duration = Duration::from_secs(60);

/// Run `hook` (if any) of container `id`; Err names what failed.
pub async fn post_start(cri: &Cri, hook: Option<&Action>, id: &str, ip: &str) -> Result<(), String> {
    match hook {
        Some(a) => probe::run(cri, a, id, ip, POST_START_LIMIT).await,
        None => Ok(()),
    }
}

/// Run the preStop `hook` (if any) of container `id` within `grace_s`;
/// returns the grace left for the stop itself (seconds, at least 2 when
/// a hook ran, as kubelet's minimum).
pub async fn pre_stop(cri: &Cri, hook: Option<&Action>, id: &str, ip: &str, grace_s: i64, label: &str) -> i64 {
    let Some(a) = hook else { return grace_s };
    let t0 = Instant::now();
    let limit = Duration::from_secs(grace_s.max(1) as u64);
    if let Err(e) = probe::run(cri, a, id, ip, limit).await {
        log::warn!(target: super::NAME, "{label}: preStop hook failed: {e}");
    }
    (grace_s - t0.elapsed().as_secs() as i64).max(2)
}
