//! Kubernetes object helpers both roles use: the clock in Unix seconds, times
//! as Kubernetes writes them (RFC 3339), uids, JSON merge patch, array items by JSON pointer, and the
//! `<ns>/<kind>/<name>` keys of the edge cache and the tunnel.
//!
//! Owns: these pure helpers. Must not do I/O, and must not import
//! `crate::cloud` or `crate::edge` (both wings build on it).

use serde_json::Value;

/// Now, as Kubernetes writes times (`2026-11-25T17:30:00Z`).
pub fn rfc3339_now() -> String {
    rfc3339(unix_now(), None).unwrap_or_default()
}

/// Now, in seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0)
}

/// A Unix time in Kubernetes' RFC 3339 form: `2006-01-02T15:04:05Z`
/// (metav1.Time), or with `micros` `2006-01-02T15:04:05.000000Z`
/// (metav1.MicroTime). None outside the years 0–9999.
pub fn rfc3339(secs: i64, micros: Option<u32>) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok().filter(|t| (0..=9999).contains(&t.year()))?;
    let base = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second());
    Some(match micros {
        Some(us) => format!("{base}.{us:06}Z"),
        None => format!("{base}Z"),
    })
}

/// The Unix time of a Kubernetes time (`2006-01-02T15:04:05Z`, optionally
/// with a fraction of a second and a `+hh:mm` offset); None if it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r).filter(|d| d.bytes().all(|c| c.is_ascii_digit())).and_then(|d| d.parse().ok()) };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(num(0..4)?).ok()?, month, u8::try_from(num(8..10)?).ok()?).ok()?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let (oh, om): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let day_secs = h * 3600 + m * 60 + sec;
    Some(date.midnight().assume_utc().unix_timestamp() + day_secs - offset)
}

/// Fields of a NodeSystemInfo that typed clients require (the official
/// Python client refuses a node without them).
pub const NODE_INFO_FIELDS: &[&str] = &[
    "architecture",
    "bootID",
    "containerRuntimeVersion",
    "kernelVersion",
    "kubeProxyVersion",
    "kubeletVersion",
    "machineID",
    "operatingSystem",
    "osImage",
    "systemUUID",
];

/// Give a node status's `nodeInfo` every required field (empty where
/// nothing was reported yet), keeping what is there.
pub fn complete_node_info(status: &mut Value) {
    let Some(st) = status.as_object_mut() else { return };
    let info = st.entry("nodeInfo").or_insert_with(|| Value::Object(Default::default()));
    if !info.is_object() {
        *info = Value::Object(Default::default());
    }
    if let Some(info) = info.as_object_mut() {
        for f in NODE_INFO_FIELDS {
            if !info.get(*f).is_some_and(Value::is_string) {
                info.insert((*f).to_string(), Value::String(String::new()));
            }
        }
    }
}

/// Kubernetes' name for an architecture (Go's GOARCH): `amd64`, `arm64`, …
pub fn goarch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" | "armv7" => "arm",
        other => other,
    }
}

/// A pod's QoS class from its containers' resources, as Kubernetes decides
/// it: BestEffort without any request or limit, Guaranteed when every
/// container limits CPU and memory and requests (where given) equal the
/// limits, else Burstable.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"].iter().filter_map(|f| spec.get(*f).and_then(Value::as_array)).flatten().collect();
    // Only CPU and memory count, and a zero quantity is none (as Kubernetes decides).
    let get = |c: &Value, which: &str, r: &str| {
        c.pointer(&format!("/resources/{which}/{r}")).and_then(Value::as_str).and_then(crate::quantity::milli).filter(|q| *q != 0)
    };
    let any = containers.iter().any(|c| ["requests", "limits"].iter().any(|w| ["cpu", "memory"].iter().any(|r| get(c, w, r).is_some())));
    if !any {
        return "BestEffort";
    }
    let guaranteed = !containers.is_empty()
        && containers.iter().all(|c| {
            ["cpu", "memory"].iter().all(|r| {
                let lim = get(c, "limits", r);
                lim.is_some() && get(c, "requests", r).is_none_or(|q| Some(q) == lim)
            })
        });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A random (version 4) UUID for `metadata.uid`.
pub fn new_uid() -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..) & 0x0fff | 0x4000,
        fastrand::u16(..) & 0x3fff | 0x8000,
        fastrand::u64(..) & 0xffff_ffff_ffff
    )
}

/// Merge `patch` into `target` as JSON merge patch (RFC 7386) does.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (None, Some(_)) => {
            *target = Value::Object(Default::default());
            merge(target, patch);
        }
        _ => *target = patch.clone(),
    }
}

/// FNV-1a, 64 bits, over `runs` fed one after another: stable across
/// builds and architectures (event names, template hashes).
pub fn fnv64<'a>(runs: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in runs.into_iter().flatten() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a, 32 bits (the pod-template-hash).
pub fn fnv32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Whether a metav1.LabelSelector (`matchLabels`, `matchExpressions` with
/// In / NotIn / Exists / DoesNotExist) selects an object with `labels`. An
/// empty or malformed selector selects nothing (a controller adopting by
/// it must never take everything).
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let exprs: Vec<&Value> = items(selector, "/matchExpressions").collect();
    let wanted = selector.get("matchLabels").and_then(Value::as_object);
    if wanted.is_none_or(|m| m.is_empty()) && exprs.is_empty() {
        return false;
    }
    let labels_ok = wanted.into_iter().flatten().all(|(k, v)| v.as_str().is_some_and(|v| label(k) == Some(v)));
    labels_ok
        && exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let mut values = items(e, "/values").filter_map(Value::as_str);
            match e["operator"].as_str().unwrap_or("") {
                "In" => label(key).is_some_and(|h| values.any(|v| v == h)),
                "NotIn" => !label(key).is_some_and(|h| values.any(|v| v == h)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
}

/// Items of the array at `path`, if any.
pub fn items<'a>(v: &'a Value, path: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(path).and_then(Value::as_array).into_iter().flatten()
}

/// Split an edge cache key into (namespace, kind, name).
pub fn split_key(key: &str) -> (&str, &str, &str) {
    let mut p = key.splitn(3, '/');
    (p.next().unwrap_or(""), p.next().unwrap_or(""), p.next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_times_parse_back() {
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_rfc3339("2026-01-01T01:00:00.123456+01:00"), Some(1_767_225_600));
        for secs in [0, 1_767_225_600, 253_402_300_799] {
            assert_eq!(parse_rfc3339(&rfc3339(secs, Some(7)).unwrap()), Some(secs));
        }
        for bad in ["", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00.Z", "２026-01-01T00:00:00Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn qos_classes_compare_quantities_of_cpu_and_memory_only() {
        let pod = |res: Value| json!({"containers": [{"name": "c", "resources": res}]});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(qos_class(&pod(json!({"requests": {"ephemeral-storage": "1Gi"}}))), "BestEffort");
        assert_eq!(qos_class(&pod(json!({"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1024Mi"}}))), "Guaranteed");
        assert_eq!(qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "64Mi"}}))), "Guaranteed");
        assert_eq!(qos_class(&pod(json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "64Mi"}}))), "Burstable");
        assert_eq!(qos_class(&pod(json!({"requests": {"cpu": "100m"}}))), "Burstable");
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge(&mut t, &json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }

    #[test]
    fn fnv_matches_its_published_vectors() {
        assert_eq!(fnv64([&b""[..]]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64([&b"a"[..]]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv64([&b"fo"[..], b"obar"]), fnv64([&b"foobar"[..]]));
        assert_eq!(fnv32(b"a"), 0xe40c_292c);
    }

    #[test]
    fn label_selectors_select_as_kubernetes_does() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selects(&json!({"matchLabels": {"app": "web"}}), &labels));
        assert!(!selects(&json!({"matchLabels": {"app": "db"}}), &labels));
        let expr = |op: &str, values: Value| json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]});
        assert!(selects(&expr("In", json!(["front", "back"])), &labels));
        assert!(!selects(&expr("NotIn", json!(["front"])), &labels));
        assert!(selects(&expr("Exists", json!([])), &labels));
        assert!(!selects(&expr("DoesNotExist", json!([])), &labels));
        assert!(!selects(&json!({}), &labels), "an empty selector selects nothing here");
        assert!(!selects(&json!({"matchLabels": {"app": "web"}}), &Value::Null));
    }

    #[test]
    fn keys_split_into_namespace_kind_and_name() {
        assert_eq!(split_key("default/pod/web"), ("default", "pod", "web"));
        assert_eq!(split_key("/node/e1"), ("", "node", "e1"));
        assert_eq!(split_key("odd"), ("odd", "", ""));
    }
}
