//! This node as Kubernetes shows it, from Edged's side: capacity (CPUs and
//! memory from /proc, `edged.max_pods`) and allocatable — what the
//! scheduler may hand out: capacity less `edged.reserved_cpu_millis` and
//! `edged.reserved_memory_mib` (kubelet's system-reserved plus its 100 MiB
//! eviction threshold by default) —, the runtime's name and
//! version, machine and boot ids, the OS image, the host's address, and a Ready condition that says whether
//! the container runtime answers. Reported to the cloud
//! (`/node/<name>/status`) when it changes and after each reconnect.
//!
//! Owns: reading those facts. Must not talk to the cloud itself.

use serde_json::{json, Value};

/// The first non-loopback IPv4 address this host has (from /proc), or "".
pub fn host_ip() -> String {
    let Ok(t) = std::fs::read_to_string("/proc/net/fib_trie") else { return String::new() };
    let mut last = "";
    for line in t.lines() {
        let l = line.trim_start();
        if let Some(a) = l.strip_prefix("|-- ") {
            last = a.trim();
        } else if l.starts_with("/32 host LOCAL") && !last.starts_with("127.") && !last.is_empty() {
            return last.to_string();
        }
    }
    String::new()
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn mem_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The first line of a small system file, trimmed, or "" if it cannot be read.
fn first_line(path: &str) -> String {
    std::fs::read_to_string(path).ok().and_then(|t| t.lines().next().map(|l| l.trim().to_string())).unwrap_or_default()
}

/// PRETTY_NAME from /etc/os-release (what kubelet reports as osImage), or "".
fn os_image() -> String {
    let t = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim().trim_matches('"').to_string()).unwrap_or_default()
}

/// What the node keeps for itself, and how many pods it takes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub reserved_cpu_millis: u64,
    pub reserved_memory_mib: u64,
    pub max_pods: u32,
}

/// (capacity, allocatable) for `cpus` CPUs and `mem_kib` of memory.
fn resources(cpus: usize, mem_kib: u64, l: Limits) -> (Value, Value) {
    let pods = l.max_pods.to_string();
    let capacity = json!({"cpu": cpus.to_string(), "memory": format!("{mem_kib}Ki"), "pods": pods});
    let cpu_m = (cpus as u64 * 1000).saturating_sub(l.reserved_cpu_millis);
    let cpu = if cpu_m % 1000 == 0 { (cpu_m / 1000).to_string() } else { format!("{cpu_m}m") };
    let memory = format!("{}Ki", mem_kib.saturating_sub(l.reserved_memory_mib * 1024));
    (capacity, json!({"cpu": cpu, "memory": memory, "pods": pods}))
}

/// `runtime`: Ok((name, version)) when the runtime answers, Err(why) if not.
pub fn status(runtime: &Result<(String, String), String>, limits: Limits) -> Value {
    let now = crate::kube::rfc3339_now();
    let (capacity, allocatable) = resources(cpus(), mem_kib(), limits);
    let (ready, reason, message, version) = match runtime {
        Ok((name, v)) => ("True", "KubeletReady", format!("hive edged is running pods through {name} {v}"), format!("{name}://{v}")),
        Err(why) => ("False", "ContainerRuntimeNotReady", format!("container runtime is not ready: {why}"), String::new()),
    };
    let mut st = json!({
        "capacity": capacity, "allocatable": allocatable,
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message, "lastHeartbeatTime": now}],
        "nodeInfo": {"containerRuntimeVersion": version, "kernelVersion": first_line("/proc/sys/kernel/osrelease"),
            "machineID": first_line("/etc/machine-id"), "bootID": first_line("/proc/sys/kernel/random/boot_id"),
            "systemUUID": first_line("/sys/class/dmi/id/product_uuid"), "osImage": os_image(), "kubeProxyVersion": ""},
    });
    let ip = host_ip();
    if !ip.is_empty() {
        st["addresses"] = json!([{"type": "InternalIP", "address": ip}]);
    }
    st
}

/// The part of a node status that matters for "did it change" (no heartbeat time).
pub fn fingerprint(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(c) = v.pointer_mut("/conditions/0").and_then(Value::as_object_mut) {
        c.remove("lastHeartbeatTime");
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocatable_is_capacity_less_what_the_node_keeps() {
        let l = Limits { reserved_cpu_millis: 250, reserved_memory_mib: 100, max_pods: 16 };
        let (cap, alloc) = resources(4, 1_048_576, l);
        assert_eq!(cap, json!({"cpu": "4", "memory": "1048576Ki", "pods": "16"}));
        assert_eq!(alloc, json!({"cpu": "3750m", "memory": "946176Ki", "pods": "16"}));
        let (_, none) = resources(1, 1000, Limits { reserved_cpu_millis: 5000, reserved_memory_mib: 100, max_pods: 1 });
        assert_eq!((none["cpu"].as_str(), none["memory"].as_str()), (Some("0"), Some("0Ki")), "never negative");
    }
}
