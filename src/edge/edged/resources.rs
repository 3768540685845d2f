//! A container's cpu and memory requests and limits, and the cgroup
//! settings kubelet derives from them for CRI: cpu shares from the request
//! (1024 per cpu, at least 2), a CFS quota from the limit (period 100 ms,
//! at least 1 ms), the memory limit in bytes. A request without a limit is
//! only a share; a limit without a request is also the request (as the API
//! server defaults it).
//!
//! Owns: that arithmetic. Must not do I/O.

use serde_json::Value;

use super::cri::api::LinuxContainerResources;

/// CFS period kubelet uses, µs.
const CPU_PERIOD: i64 = 100_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Milli-cpus.
    pub cpu_request: Option<i64>,
    pub cpu_limit: Option<i64>,
    /// Bytes.
    pub memory_request: Option<i64>,
    pub memory_limit: Option<i64>,
}

/// `resources` of the container at `at` (e.g. `spec.containers[0]`).
pub fn parse(c: &Value, at: &str) -> Result<Resources, String> {
    let q = |section: &str, name: &str, unit_milli: bool| -> Result<Option<i64>, String> {
        let Some(v) = c.pointer(&format!("/resources/{section}/{name}")) else { return Ok(None) };
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("{at}.resources.{section}.{name}: {v} is not a quantity")),
        };
        let milli = crate::quantity::milli(&text).ok_or_else(|| format!("{at}.resources.{section}.{name}: `{text}` is not a quantity (e.g. 250m, 1, 64Mi)"))?;
        if milli < 0 {
            return Err(format!("{at}.resources.{section}.{name}: `{text}` is negative"));
        }
        let v = if unit_milli { milli } else { milli / 1000 };
        Ok(Some(v.min(i64::MAX as i128) as i64))
    };
    let mut r = Resources {
        cpu_request: q("requests", "cpu", true)?,
        cpu_limit: q("limits", "cpu", true)?,
        memory_request: q("requests", "memory", false)?,
        memory_limit: q("limits", "memory", false)?,
    };
    r.cpu_request = r.cpu_request.or(r.cpu_limit);
    r.memory_request = r.memory_request.or(r.memory_limit);
    for (what, req, lim) in [("cpu", r.cpu_request, r.cpu_limit), ("memory", r.memory_request, r.memory_limit)] {
        if let (Some(req), Some(lim)) = (req, lim) {
            if req > lim {
                return Err(format!("{at}.resources.requests.{what}: must be less than or equal to the {what} limit"));
            }
        }
    }
    Ok(r)
}

/// What CRI is asked to set.
pub fn linux(r: &Resources) -> LinuxContainerResources {
    // kubelet's bounds: shares 2..=262144, quota at least 1 ms (and no overflow for absurd limits).
    let shares = r.cpu_request.map(|m| (m.saturating_mul(1024) / 1000).clamp(2, 262_144)).unwrap_or(2);
    let (period, quota) = match r.cpu_limit {
        Some(m) => (CPU_PERIOD, (m.saturating_mul(CPU_PERIOD) / 1000).max(1000)),
        None => (0, 0),
    };
    LinuxContainerResources { cpu_period: period, cpu_quota: quota, cpu_shares: shares, memory_limit_in_bytes: r.memory_limit.unwrap_or(0), oom_score_adj: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absurd_quantities_saturate_instead_of_overflowing() {
        let r = parse(&json!({"resources": {"requests": {"cpu": "1e11"}, "limits": {"cpu": "1e11"}}}), "c").unwrap();
        let l = linux(&r);
        assert_eq!(l.cpu_shares, 262_144);
        assert!(l.cpu_quota > 0, "{}", l.cpu_quota);
    }

    #[test]
    fn requests_and_limits_become_shares_quota_and_a_memory_limit() {
        let r = parse(&json!({"resources": {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}), "c").unwrap();
        let l = linux(&r);
        assert_eq!((l.cpu_shares, l.cpu_period, l.cpu_quota, l.memory_limit_in_bytes), (256, 100_000, 50_000, 64 << 20));
        // A limit alone is the request too; nothing at all is the minimum share and no limits.
        let l = linux(&parse(&json!({"resources": {"limits": {"cpu": 2}}}), "c").unwrap());
        assert_eq!((l.cpu_shares, l.cpu_quota), (2048, 200_000));
        let l = linux(&parse(&json!({}), "c").unwrap());
        assert_eq!((l.cpu_shares, l.cpu_quota, l.memory_limit_in_bytes), (2, 0, 0));
        assert_eq!(linux(&parse(&json!({"resources": {"limits": {"cpu": "1m"}}}), "c").unwrap()).cpu_quota, 1000);
    }

    #[test]
    fn bad_quantities_are_refused_naming_the_field() {
        for (c, want) in [
            (json!({"resources": {"limits": {"memory": "lots"}}}), "spec.containers[1].resources.limits.memory: `lots` is not a quantity"),
            (json!({"resources": {"requests": {"cpu": "-1"}}}), "is negative"),
            (json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}), "requests.cpu: must be less than or equal"),
            (json!({"resources": {"limits": {"cpu": true}}}), "is not a quantity"),
        ] {
            let e = parse(&c, "spec.containers[1]").unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
