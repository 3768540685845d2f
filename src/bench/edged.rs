//! `hive bench edged --runtime-socket SOCK [--count 50]`: a `hive cloud`
//! and a `hive edge` (Edged on the given containerd, which must have the
//! image `localhost/hive-app:1` and a local sandbox image; `ci/bench-edged.sh`
//! sets that up). Pods are created through the cloud API ten at a time;
//! for each, the time from its create to the cloud showing it Running
//! and ready (container started on the edge, status up through the
//! tunnel): p50, p99, max; the edge's RSS with 20 pods running. Then the
//! same pods again, each with three probes at a 1 s period (startup
//! tcpSocket, liveness httpGet, readiness exec against a busybox httpd):
//! create to Ready, the edge's RSS, and CPU over 20 s — the edge's own and
//! the whole host's (exec probes cost runc and containerd more than hive) —
//! next to the same without probes. Everything is deleted at the end.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::{start_cloud, Client};
use super::{pct, rss_of, write_report};

const IMAGE: &str = "localhost/hive-app:1";

/// A fresh scratch directory for bench `name`, once `socket` is known to exist.
pub(super) fn scratch(name: &str, socket: &Path) -> Result<std::path::PathBuf, String> {
    if !socket.exists() {
        return Err(format!("no container runtime socket at {} (ci/bench-edged.sh starts one)", socket.display()));
    }
    let dir = std::env::temp_dir().join(format!("hive-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

pub fn run(socket: &Path, count: usize, out: &Path) -> Result<(), String> {
    let dir = scratch("edged", socket)?;
    let r = measure(&dir, socket, count.max(1), out);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// A connection to the cloud once bench-edge is registered (at most 30 s).
pub(super) fn registered(c: &Client) -> Result<std::io::BufReader<super::api::Tls>, String> {
    let mut s = c.connect()?;
    let t0 = Instant::now();
    while c.call(&mut s, "GET", "/api/v1/nodes/bench-edge", b"")?.0 != 200 {
        if t0.elapsed() > Duration::from_secs(30) {
            return Err("the edge did not connect within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(s)
}

/// A `hive edge` named bench-edge (EdgeHub, MetaManager, Edged on `socket`)
/// under `dir`, connected to the cloud hub on 127.0.0.1:`hub`.
pub(super) fn start_edge(dir: &Path, hub: u16, socket: &Path) -> Result<std::process::Child, String> {
    super::node_credentials(dir, &dir.join("edge"), "bench-edge")?;
    let cfg = dir.join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "role = \"edge\"\ndata_dir = \"edge\"\nmodules = [\"edgehub\", \"metamanager\", \"edged\"]\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{}\"\n[edged]\nruntime_socket = \"{}\"\nsync_period_ms = 1000\n",
            hub,
            socket.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut edge = Command::new(exe)
        .args(["edge", "--config", "edge.toml"])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start hive edge: {e}"))?;
    if let Some(err) = edge.stderr.take() {
        std::thread::spawn(move || for _ in std::io::BufReader::new(err).lines() {});
    }
    Ok(edge)
}

fn phase_of(list: &Value, name: &str) -> Option<bool> {
    let p = list["items"].as_array()?.iter().find(|p| p["metadata"]["name"] == name)?;
    Some(p["status"]["phase"] == "Running" && p["status"]["containerStatuses"][0]["ready"] == true)
}

fn measure(dir: &Path, socket: &Path, count: usize, out: &Path) -> Result<(), String> {
    let cloud = start_cloud(dir, "[\"cloudhub\", \"apiserver\", \"edgecontroller\"]")?;
    let c = Client::of(dir, cloud.port)?;
    let mut edge = start_edge(dir, cloud.hub, socket)?;
    let pid = edge.id().to_string();
    type Phase = (Vec<u64>, u64, (f64, f64));
    let result = (|| -> Result<(Phase, Phase, u64), String> {
        let mut s = registered(&c)?;
        c.namespace(&mut s, "bench")?;
        let mut lat = Vec::new();
        start_pods(&c, &mut s, "bench", "bench-edge", 0, 20.min(count), &mut lat)?;
        std::thread::sleep(Duration::from_secs(2));
        let rss20 = rss_of(&pid);
        start_pods(&c, &mut s, "bench", "bench-edge", 20.min(count), count, &mut lat)?;
        let rss_all = rss_of(&pid);
        let plain = (lat, rss_all, cpu_window(&pid));
        delete_pods(&c, &mut s, "bench", count, socket);
        let mut lat = Vec::new();
        start_probed(&c, &mut s, count, &mut lat)?;
        let probed = (lat, rss_of(&pid), cpu_window(&pid));
        delete_pods(&c, &mut s, "bench", count, socket);
        Ok((plain, probed, rss20))
    })();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = edge.wait();
    drop(cloud);
    let ((mut lat, rss_all, cpu), (mut plat, prss, pcpu), rss20) = result?;
    lat.sort_unstable();
    plat.sort_unstable();
    let text = format!(
        "hive bench edged: {count} pods (host network, busybox) created through the cloud API ten at a time, on containerd via CRI\n\
         create -> Running and ready in the cloud: p50 {} ms, p99 {} ms, max {} ms\n\
         edge RSS: {:.1} MiB with {} pods running, {:.1} MiB with {count}\n\
         CPU over {CPU_WINDOW_S} s with {count} pods running: edge {:.1}% of a core, host {:.1}% of its {} cores\n\
         the same {count} pods with three probes each at a 1 s period (startup tcpSocket, liveness httpGet, readiness exec):\n\
         create -> Ready: p50 {} ms, p99 {} ms, max {} ms\n\
         edge RSS {:.1} MiB; CPU over {CPU_WINDOW_S} s: edge {:.1}% of a core, host {:.1}% of its cores\n",
        pct(&lat, 50),
        pct(&lat, 99),
        lat.last().copied().unwrap_or(0),
        rss20 as f64 / 1024.0,
        20.min(count),
        rss_all as f64 / 1024.0,
        cpu.0,
        cpu.1,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        pct(&plat, 50),
        pct(&plat, 99),
        plat.last().copied().unwrap_or(0),
        prss as f64 / 1024.0,
        pcpu.0,
        pcpu.1,
    );
    let json = serde_json::json!({"pods": count, "create_to_running_ms": {"p50": pct(&lat, 50), "p99": pct(&lat, 99), "max": lat.last()},
        "edge_rss_kib": {"pods_20": rss20, "all": rss_all}, "cpu_percent": {"edge": cpu.0, "host": cpu.1},
        "probed": {"create_to_ready_ms": {"p50": pct(&plat, 50), "p99": pct(&plat, 99), "max": plat.last()}, "edge_rss_kib": prss,
            "cpu_percent": {"edge": pcpu.0, "host": pcpu.1}}});
    write_report(out, "edged", &text, &format!("{json:#}\n"))
}

const CPU_WINDOW_S: u64 = 20;

/// Busy and total jiffies of the whole host (/proc/stat's cpu line).
fn host_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = f.iter().sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// (edge % of one core, host % of all cores) over CPU_WINDOW_S.
fn cpu_window(pid: &str) -> (f64, f64) {
    let (e0, h0) = (super::cpu_ms_of(pid), host_jiffies());
    std::thread::sleep(Duration::from_secs(CPU_WINDOW_S));
    let (e1, h1) = (super::cpu_ms_of(pid), host_jiffies());
    let edge = (e1 - e0) as f64 / (CPU_WINDOW_S * 10) as f64;
    let host = if h1.1 > h0.1 { (h1.0 - h0.0) as f64 * 100.0 / (h1.1 - h0.1) as f64 } else { 0.0 };
    (edge, host)
}

/// `count` pods with three probes each at a 1 s period, each waited for until Ready.
fn start_probed(c: &Client, s: &mut super::api::Conn, count: usize, lat: &mut Vec<u64>) -> Result<(), String> {
    let mut created = 0;
    while created < count {
        let batch: Vec<usize> = (created..(created + 10).min(count)).collect();
        let mut started = Vec::new();
        for i in &batch {
            let port = 21000 + i;
            let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("bench-{i}")},
                "spec": {"nodeName": "bench-edge", "hostNetwork": true, "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": IMAGE,
                        "command": ["sh", "-c", format!("mkdir -p /www && echo ok > /www/ok && httpd -p 127.0.0.1:{port} -h /www && exec sleep 3600")],
                        "startupProbe": {"tcpSocket": {"host": "127.0.0.1", "port": port}, "periodSeconds": 1, "failureThreshold": 30},
                        "livenessProbe": {"httpGet": {"host": "127.0.0.1", "port": port, "path": "/ok"}, "periodSeconds": 1},
                        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}]}});
            let (code, body) = c.call(s, "POST", "/api/v1/namespaces/bench/pods", pod.to_string().as_bytes())?;
            if code != 201 {
                return Err(format!("create bench-{i}: {code} {}", String::from_utf8_lossy(&body)));
            }
            started.push((format!("bench-{i}"), Instant::now()));
        }
        created += batch.len();
        wait_ready(c, s, "bench", started, lat)?;
    }
    Ok(())
}

/// Wait (at most 120 s) until every pod in `started` (in `ns`) is Running
/// and ready; each one's time since its create (ms) is pushed to `lat`.
fn wait_ready(c: &Client, s: &mut super::api::Conn, ns: &str, mut started: Vec<(String, Instant)>, lat: &mut Vec<u64>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !started.is_empty() {
        let (_, body) = c.call(s, "GET", &format!("/api/v1/namespaces/{ns}/pods"), b"")?;
        let list: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        started.retain(|(name, t)| {
            let running = phase_of(&list, name) == Some(true);
            if running {
                lat.push(t.elapsed().as_millis() as u64);
            }
            !running
        });
        if Instant::now() > deadline {
            return Err(format!("{} pods not Running and ready after 120 s", started.len()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Create pods `bench-<from>`..`bench-<to>` on `node` in `ns` ten at a time,
/// each batch waited for until Running and ready; each pod's create to
/// Running time (ms) is pushed to `lat`.
pub(super) fn start_pods(c: &Client, s: &mut super::api::Conn, ns: &str, node: &str, from: usize, to: usize, lat: &mut Vec<u64>) -> Result<(), String> {
    let mut created = from;
    while created < to {
        let mut started = Vec::new();
        for i in created..(created + 10).min(to) {
            let pod = format!(
                r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"bench-{i}"}},"spec":{{"nodeName":"{node}","hostNetwork":true,"terminationGracePeriodSeconds":0,"containers":[{{"name":"main","image":"{IMAGE}","command":["sleep","3600"]}}]}}}}"#
            );
            let (code, body) = c.call(s, "POST", &format!("/api/v1/namespaces/{ns}/pods"), pod.as_bytes())?;
            if code != 201 {
                return Err(format!("create bench-{i}: {code} {}", String::from_utf8_lossy(&body)));
            }
            started.push((format!("bench-{i}"), Instant::now()));
        }
        created += started.len();
        wait_ready(c, s, ns, started, lat)?;
    }
    Ok(())
}

/// Delete pods `bench-0`..`bench-<count>` in `ns` and wait (at most 60 s)
/// until the runtime at `socket` has no containers left.
pub(super) fn delete_pods(c: &Client, s: &mut super::api::Conn, ns: &str, count: usize, socket: &Path) {
    for i in 0..count {
        let _ = c.call(s, "DELETE", &format!("/api/v1/namespaces/{ns}/pods/bench-{i}"), b"");
    }
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        let left = Command::new("ctr")
            .args(["--address", &socket.display().to_string(), "-n", "k8s.io", "containers", "list", "-q"])
            .output()
            .map(|o| o.stdout.len())
            .unwrap_or(0);
        if left == 0 {
            break;
        }
    }
}
