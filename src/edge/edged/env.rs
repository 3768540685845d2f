//! Environment values a kubelet computes itself: the downward API
//! (`fieldRef`: the pod's name, namespace, uid, labels, annotations, node,
//! service account, host and pod IP; `resourceFieldRef`: a container's cpu
//! and memory requests and limits, the node's capacity standing in for an
//! unset limit) and `$(VAR)` references in env values, command and args
//! (a variable defined earlier is substituted, `$$` is a literal `$`, an
//! unknown reference stays as written).
//!
//! Owns: those rules. Must not do I/O.

use std::collections::BTreeMap;

use super::spec::Container;

/// Field paths `fieldRef` may name (labels and annotations by key too).
const FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Whether `path` is a field `fieldRef` can name; Err says what can.
pub fn check_field(path: &str, at: &str) -> Result<(), String> {
    let keyed = ["metadata.labels['", "metadata.annotations['"].iter().any(|p| path.starts_with(p) && path.ends_with("']") && path.len() > p.len() + 2);
    if FIELDS.contains(&path) || keyed {
        Ok(())
    } else {
        Err(format!("{at}.fieldPath: `{path}` is not supported (one of {}, metadata.labels['KEY'], metadata.annotations['KEY'])", FIELDS.join(", ")))
    }
}

/// Whether `resource` is one `resourceFieldRef` can name.
pub fn check_resource(resource: &str, at: &str) -> Result<(), String> {
    match resource {
        "limits.cpu" | "limits.memory" | "requests.cpu" | "requests.memory" => Ok(()),
        other => Err(format!("{at}.resource: `{other}` is not supported (limits.cpu, limits.memory, requests.cpu, requests.memory)")),
    }
}

/// The value of field `path` from the pod's `fields` (metadata and spec,
/// flattened at parse time) and the addresses known now.
pub fn field(fields: &BTreeMap<String, String>, path: &str, pod_ip: &str, host_ip: &str) -> String {
    match path {
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        _ => fields.get(path).cloned().unwrap_or_default(),
    }
}

/// `resource` of container `c` divided by `divisor` (rounded up, as
/// kubelet); `node` = (CPUs, memory bytes) for a limit that is not set.
pub fn resource(c: &Container, resource: &str, divisor: &str, node: (u64, u64)) -> Result<String, String> {
    let r = &c.resources;
    let cpu = resource.ends_with(".cpu");
    let value: i128 = match resource {
        "limits.cpu" => r.cpu_limit.map_or(node.0 as i128 * 1000, i128::from),
        "requests.cpu" => r.cpu_request.map_or(0, i128::from),
        "limits.memory" => r.memory_limit.map_or(node.1 as i128, i128::from),
        _ => r.memory_request.map_or(0, i128::from),
    };
    let d = if divisor.is_empty() { 1000 } else { crate::quantity::milli(divisor).ok_or_else(|| format!("divisor `{divisor}` is not a quantity"))? };
    if d <= 0 {
        return Err(format!("divisor `{divisor}` must be positive"));
    }
    // cpu is counted in millicores, memory in bytes; the divisor in milli-units.
    let numerator = if cpu { value } else { value * 1000 };
    Ok(((numerator + d - 1) / d).to_string())
}

/// `$(VAR)` expansion with the variables defined so far.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(name_end) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=name_end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&rest[i..i + 3 + name_end]),
            }
            rest = &after[name_end + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_as_kubelet_does() {
        let vars = BTreeMap::from([("A".to_string(), "1".to_string()), ("POD".to_string(), "web".to_string())]);
        assert_eq!(expand("--name=$(POD) $(A)$(A)", &vars), "--name=web 11");
        assert_eq!(expand("$$(POD) $(NOPE) $ end $", &vars), "$(POD) $(NOPE) $ end $");
        assert_eq!(expand("$(unclosed", &vars), "$(unclosed");
    }

    #[test]
    fn fields_and_resources_are_checked_and_computed() {
        assert!(check_field("metadata.labels['app']", "env[0].valueFrom.fieldRef").is_ok());
        assert!(check_field("spec.containers", "env[0].valueFrom.fieldRef").unwrap_err().contains("env[0].valueFrom.fieldRef.fieldPath"));
        assert!(check_resource("limits.ephemeral-storage", "r").is_err());
        let fields = BTreeMap::from([("metadata.name".to_string(), "web".to_string())]);
        assert_eq!(field(&fields, "metadata.name", "10.0.0.2", "192.0.2.1"), "web");
        assert_eq!(field(&fields, "status.podIP", "10.0.0.2", "192.0.2.1"), "10.0.0.2");
        let mut c = super::super::spec::parse(&serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}]}}))
        .unwrap()
        .containers
        .remove(0);
        assert_eq!(resource(&c, "requests.cpu", "", (4, 1 << 30)).unwrap(), "1", "250m rounds up to 1 core");
        assert_eq!(resource(&c, "requests.cpu", "1m", (4, 1 << 30)).unwrap(), "250");
        assert_eq!(resource(&c, "limits.cpu", "", (4, 1 << 30)).unwrap(), "4", "no limit: the node's CPUs");
        assert_eq!(resource(&c, "limits.memory", "1Mi", (4, 1 << 30)).unwrap(), "128");
        assert_eq!(resource(&c, "requests.memory", "", (4, 1 << 30)).unwrap(), (64u64 << 20).to_string());
        c.resources.memory_limit = None;
        assert_eq!(resource(&c, "limits.memory", "1Gi", (4, 1 << 30)).unwrap(), "1", "no limit: the node's memory");
    }
}
