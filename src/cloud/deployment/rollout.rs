//! How many replicas each of a Deployment's ReplicaSets should have next,
//! by its strategy — Kubernetes' arithmetic, one step per reconcile:
//! `RollingUpdate` scales the new ReplicaSet up within maxSurge, then old
//! ones down while at least `replicas - maxUnavailable` pods stay
//! available; `Recreate` scales every old one to 0, waits until their
//! pods are gone, then scales the new one up.
//!
//! Owns: that arithmetic, on plain numbers. Must not read or write the store.

/// One ReplicaSet as the rollout sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rs {
    /// `spec.replicas` (what the plan changes).
    pub spec: i64,
    /// `status.availableReplicas`.
    pub available: i64,
    /// Pods it still has (`status.replicas`, or pods found).
    pub pods: i64,
}

/// `RollingUpdate` with maxSurge/maxUnavailable already resolved against
/// `replicas` (both 0 is turned into maxUnavailable 1, as Kubernetes does).
pub fn rolling(replicas: i64, max_surge: i64, max_unavailable: i64, new: &mut Rs, old: &mut [Rs]) {
    let (surge, unavailable) = if max_surge == 0 && max_unavailable == 0 { (0, 1) } else { (max_surge, max_unavailable) };
    // The new ReplicaSet first.
    if new.spec > replicas {
        new.spec = replicas;
        return;
    }
    if new.spec < replicas {
        let total: i64 = new.spec + old.iter().map(|r| r.spec).sum::<i64>();
        let room = replicas + surge - total;
        if room > 0 {
            new.spec += room.min(replicas - new.spec);
            // Scaled up: old ones wait for the next step, as Kubernetes does.
            return;
        }
    }
    let old_pods: i64 = old.iter().map(|r| r.spec).sum();
    if old_pods == 0 {
        return;
    }
    let all: i64 = new.spec + old_pods;
    let min_available = replicas - unavailable.min(replicas);
    let new_unavailable = (new.spec - new.available).max(0);
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return;
    }
    // Old pods that are not available can go without lowering availability.
    let mut cleaned = 0;
    for r in old.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = (r.spec - r.available).max(0);
        let n = unhealthy.min(max_scaled_down - cleaned);
        r.spec -= n;
        cleaned += n;
    }
    // Then available ones, down to minAvailable.
    let available: i64 = new.available + old.iter().map(|r| r.available.min(r.spec)).sum::<i64>();
    let mut room = available - min_available;
    for r in old.iter_mut() {
        if room <= 0 {
            break;
        }
        let n = r.spec.min(room);
        r.spec -= n;
        room -= n;
    }
}

/// `Recreate`: old ones to 0, the new one up only once no old pod is left.
pub fn recreate(replicas: i64, new: &mut Rs, old: &mut [Rs]) {
    if old.iter().any(|r| r.spec > 0) {
        for r in old.iter_mut() {
            r.spec = 0;
        }
        return;
    }
    if old.iter().all(|r| r.pods == 0) {
        new.spec = replicas;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(spec: i64, available: i64) -> Rs {
        Rs { spec, available, pods: spec }
    }

    /// Drive a rolling update to its end, every ReplicaSet's pods becoming
    /// available as soon as they are asked for; check availability and the
    /// pod total at each step.
    fn roll(replicas: i64, surge: i64, unavailable: i64) -> usize {
        let mut new = rs(0, 0);
        let mut old = vec![rs(replicas, replicas)];
        for step in 1..100 {
            rolling(replicas, surge, unavailable, &mut new, &mut old);
            let total = new.spec + old.iter().map(|r| r.spec).sum::<i64>();
            let available = new.available + old.iter().map(|r| r.available.min(r.spec)).sum::<i64>();
            assert!(total <= replicas + surge.max(0), "step {step}: {total} pods");
            assert!(available >= replicas - unavailable.max(if surge == 0 { 1 } else { 0 }), "step {step}: {available} available");
            for r in old.iter_mut() {
                r.available = r.available.min(r.spec);
                r.pods = r.spec;
            }
            new.available = new.spec;
            if new.spec == replicas && old.iter().all(|r| r.spec == 0) {
                return step;
            }
        }
        panic!("rollout did not end: {new:?} {old:?}");
    }

    #[test]
    fn rolling_updates_keep_their_bounds_and_end() {
        roll(4, 1, 1);
        roll(4, 1, 0);
        roll(4, 0, 1);
        roll(3, 0, 0);
        roll(10, 3, 2);
        roll(1, 1, 0);
    }

    #[test]
    fn old_pods_that_are_not_available_go_first() {
        // 4 pods, 1 available: room to remove one, and only an unavailable one may go.
        let mut new = rs(1, 0);
        let mut old = vec![rs(3, 1)];
        rolling(3, 1, 1, &mut new, &mut old);
        assert_eq!(old[0].spec, 2);
        // With maxUnavailable 0 nothing old goes while the new pod is not available.
        let mut old = vec![rs(3, 1)];
        rolling(3, 1, 0, &mut new, &mut old);
        assert_eq!(old[0].spec, 3);
    }

    #[test]
    fn recreate_waits_for_old_pods_to_go() {
        let mut new = rs(0, 0);
        let mut old = vec![rs(2, 2)];
        recreate(2, &mut new, &mut old);
        assert_eq!((old[0].spec, new.spec), (0, 0));
        recreate(2, &mut new, &mut old);
        assert_eq!(new.spec, 0, "old pods still there");
        old[0].pods = 0;
        recreate(2, &mut new, &mut old);
        assert_eq!(new.spec, 2);
    }
}
