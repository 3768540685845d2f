//! This node as Kubernetes shows it, from Edged's side: capacity and
//! allocatable (CPUs and memory from /proc), the runtime's name and
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

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn mem_kib() -> u64 {
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

/// `runtime`: Ok((name, version)) when the runtime answers, Err(why) if not.
pub fn status(runtime: &Result<(String, String), String>) -> Value {
    let now = crate::kube::rfc3339_now();
    let capacity = json!({"cpu": cpus().to_string(), "memory": format!("{}Ki", mem_kib()), "pods": "110"});
    let (ready, reason, message, version) = match runtime {
        Ok((name, v)) => ("True", "KubeletReady", format!("hive edged is running pods through {name} {v}"), format!("{name}://{v}")),
        Err(why) => ("False", "ContainerRuntimeNotReady", format!("container runtime is not ready: {why}"), String::new()),
    };
    let mut st = json!({
        "capacity": capacity, "allocatable": capacity,
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
