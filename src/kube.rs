//! Kubernetes object helpers both roles use: times as Kubernetes writes them
//! (RFC 3339), uids, JSON merge patch, array items by JSON pointer, and the
//! `<ns>/<kind>/<name>` keys of the edge cache and the tunnel.
//!
//! Owns: these pure helpers. Must not do I/O, and must not import
//! `crate::cloud` or `crate::edge` (both wings build on it).

use serde_json::Value;

/// Now, as Kubernetes writes times (`2026-11-25T17:30:00Z`).
pub fn rfc3339_now() -> String {
    rfc3339(time::OffsetDateTime::now_utc().unix_timestamp(), None).unwrap_or_default()
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
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge(&mut t, &json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }

    #[test]
    fn keys_split_into_namespace_kind_and_name() {
        assert_eq!(split_key("default/pod/web"), ("default", "pod", "web"));
        assert_eq!(split_key("/node/e1"), ("", "node", "e1"));
        assert_eq!(split_key("odd"), ("odd", "", ""));
    }
}
