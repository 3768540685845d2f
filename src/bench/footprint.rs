//! `hive bench footprint`: what hive costs a board, on real processes. A
//! `hive cloud` (every module) and a connected `hive edge` (every module;
//! `--edge-bin` runs the edge from another image, e.g. the static edge-only
//! build) on loopback, measured in scenarios: cold start to ready, idle
//! with 100 cached objects and 10 devices, right after a 20,000-message
//! MQTT flood, with 1,000 devices whose twins were each updated once, and
//! with 50 running pods when a container runtime is given
//! (`ci/bench-edged.sh 50 footprint` starts one). Each row shows RSS and
//! threads (each thread's stack is resident on a board) next to its
//! budget. Edge idle and cloud idle over budget fail the run (RSS is stable
//! enough to budget; times are reported, never asserted).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::{start_cloud, Client, Conn};
use super::mqtt::{broker_run, free_port, twin_run};
use super::{rss_of, write_report};

/// Budgets, KiB (issue: firmware-sized edge).
const EDGE_IDLE: u64 = 8 << 10;
const CLOUD_IDLE: u64 = 10 << 10;
const DEVICES_1000: u64 = 16 << 10;
const PODS_50: u64 = 12 << 10;
const FLOOD_OVER_IDLE: u64 = 2 << 10;

pub struct Options {
    pub edge_bin: Option<PathBuf>,
    pub runtime_socket: PathBuf,
    pub devices: usize,
    pub pods: usize,
    pub messages: usize,
}

pub fn run(o: &Options, out: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("hive-bench-footprint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let r = measure(&dir, o, out);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

struct Edge {
    child: Child,
    ready_ms: u64,
    mqtt: u16,
    /// MetaServer, the edge's local API.
    meta: u16,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// "ready in N ms" out of a role's log line.
fn ready_ms(line: &str) -> Option<u64> {
    line.split("ready in ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// A `hive edge` named `node` (data in `<dir>/<node>`), every module on.
fn start_edge(dir: &Path, o: &Options, hub: u16, node: &str) -> Result<Edge, String> {
    super::node_credentials(dir, &dir.join(node), node)?;
    let mqtt = free_port()?;
    let cfg = format!(
        "role = \"edge\"\ndata_dir = \"{node}\"\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{hub}\"\n\
         [eventbus]\nlisten = \"127.0.0.1:{mqtt}\"\n[edged]\nruntime_socket = {:?}\n[dmi]\nsocket = \"{node}/dmi.sock\"\n",
        o.runtime_socket.display().to_string()
    );
    let cfg_file = format!("{node}.toml");
    std::fs::write(dir.join(&cfg_file), cfg).map_err(|e| e.to_string())?;
    let exe = match &o.edge_bin {
        Some(p) => p.canonicalize().map_err(|e| format!("--edge-bin {}: {e}", p.display()))?,
        None => std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let mut child = Command::new(&exe)
        .args(["edge", "--config", &cfg_file])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {} edge: {e}", exe.display()))?;
    let err = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut edge = Edge { child, ready_ms: 0, mqtt, meta: 0 };
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "hive edge did not connect to the cloud in 30 s".to_string())?;
        if let Some(ms) = ready_ms(&line) {
            edge.ready_ms = ms;
        }
        if let Some(rest) = line.split("local API on ").nth(1) {
            edge.meta = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        }
        if line.contains("connected to cloud") {
            break;
        }
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    if edge.meta == 0 {
        return Err("hive edge did not log its local API port".into());
    }
    Ok(edge)
}

/// RSS (KiB) and thread count of process `pid`.
fn sample(pid: u32) -> (u64, usize) {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0);
    (rss_of(&pid.to_string()), threads)
}

fn post(c: &Client, s: &mut Conn, path: &str, body: &Value) -> Result<(), String> {
    let (code, b) = c.call(s, "POST", path, body.to_string().as_bytes())?;
    if code != 201 && code != 409 {
        return Err(format!("POST {path}: {code} {}", String::from_utf8_lossy(&b)));
    }
    Ok(())
}

fn device(ns: &str, node: &str, i: usize) -> Value {
    serde_json::json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "Device", "metadata": {"name": format!("d{i}"), "namespace": ns},
        "spec": {"nodeName": node, "deviceModelRef": {"name": "m"}, "properties": [{"name": "temp", "desired": {"value": "20"}}]}})
}

/// Wait until the edge's MetaServer lists `want` items at `path` (at most 60 s).
fn wait_edge_has(meta_port: u16, path: &str, want: usize) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", meta_port)).ok().and_then(|mut t| {
            use std::io::Write as _;
            t.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
            let (_, body) = super::read_response(&mut BufReader::new(t)).ok()?;
            let v: Value = serde_json::from_slice(&body).ok()?;
            v["items"].as_array().map(Vec::len)
        });
        if got == Some(want) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(format!("the edge's {path} has {got:?} items after 60 s, not {want}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Row {
    scenario: String,
    role: &'static str,
    rss: u64,
    threads: usize,
    budget: Option<u64>,
    asserted: bool,
}

/// A DeviceModel `m` and devices `d<from>`..`d<to>` in `ns` on `node`.
fn devices(c: &Client, s: &mut Conn, ns: &str, node: &str, from: usize, to: usize) -> Result<(), String> {
    let base = format!("/apis/devices.kubeedge.io/v1beta1/namespaces/{ns}");
    post(
        c,
        s,
        &format!("{base}/devicemodels"),
        &serde_json::json!({"apiVersion": "devices.kubeedge.io/v1beta1",
        "kind": "DeviceModel", "metadata": {"name": "m", "namespace": ns}, "spec": {"properties": [{"name": "temp", "type": "FLOAT"}]}}),
    )?;
    for i in from..to {
        post(c, s, &format!("{base}/devices"), &device(ns, node, i))?;
    }
    Ok(())
}

fn measure(dir: &Path, o: &Options, out: &Path) -> Result<(), String> {
    let cloud = start_cloud(dir, "[\"cloudhub\", \"apiserver\", \"edgecontroller\", \"devicecontroller\", \"scheduler\", \"daemonset\"]")?;
    let cloud_ready = cloud.ready_ms;
    let cpid = cloud.child.id();
    let c = Client::of(dir, cloud.port)?;
    let mut s = c.connect()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut row = |scenario: &str, role, (rss, threads): (u64, usize), budget: Option<u64>, asserted| {
        rows.push(Row { scenario: scenario.into(), role, rss, threads, budget, asserted });
    };

    // 1. Idle: the Node, a DeviceModel, 10 Devices, a pod and the 87
    //    configmaps it references; then a flood through the broker.
    let edge = start_edge(dir, o, cloud.hub, "fp-idle")?;
    let edge_ready = edge.ready_ms;
    let epid = edge.child.id();
    std::thread::sleep(Duration::from_secs(1));
    row("connected, nothing cached", "edge", sample(epid), None, false);
    c.namespace(&mut s, "idle")?;
    devices(&c, &mut s, "idle", "fp-idle", 0, 10)?;
    let mut env_from = Vec::new();
    for i in 0..87 {
        post(
            &c,
            &mut s,
            "/api/v1/namespaces/idle/configmaps",
            &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i}")}, "data": {"key": "v".repeat(200)}}),
        )?;
        env_from.push(serde_json::json!({"configMapRef": {"name": format!("cm-{i}")}}));
    }
    post(
        &c,
        &mut s,
        "/api/v1/namespaces/idle/pods",
        &serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cached"},
        "spec": {"nodeName": "fp-idle", "hostNetwork": true, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": "localhost/hive-app:1", "command": ["sleep", "3600"], "envFrom": env_from}]}}),
    )?;
    wait_edge_has(edge.meta, "/api/v1/namespaces/idle/configmaps", 87)?;
    wait_edge_has(edge.meta, "/apis/devices.kubeedge.io/v1beta1/namespaces/idle/devices", 10)?;
    std::thread::sleep(Duration::from_secs(3));
    let idle = sample(epid);
    row("idle: 100 cached objects, 10 devices", "edge", idle, Some(EDGE_IDLE), true);
    row("idle, one edge connected", "cloud", sample(cpid), Some(CLOUD_IDLE), true);
    let (rate, delivered, _, _) = rt.block_on(broker_run(edge.mqtt, rumqttc::QoS::AtMostOnce, 10, o.messages))?;
    std::thread::sleep(Duration::from_secs(3));
    let flood = format!("same edge after a {}-message MQTT flood ({rate:.0} msg/s, {:.1}% delivered)", o.messages, delivered * 100.0);
    row(&flood, "edge", sample(epid), Some(idle.0 + FLOOD_OVER_IDLE), true);
    // Its pod's container goes before the edge does (waited for, at most 60 s).
    c.call(&mut s, "DELETE", "/api/v1/namespaces/idle/pods/cached", b"")?;
    super::edged::delete_pods(&c, &mut s, "idle", 0, &o.runtime_socket);
    drop(edge);

    // 2. Many devices on a fresh edge, each twin updated once by a mapper.
    let edge = start_edge(dir, o, cloud.hub, "fp-devices")?;
    c.namespace(&mut s, "fleet")?;
    devices(&c, &mut s, "fleet", "fp-devices", 0, o.devices)?;
    wait_edge_has(edge.meta, "/apis/devices.kubeedge.io/v1beta1/namespaces/fleet/devices", o.devices)?;
    rt.block_on(twin_run(edge.mqtt, "fleet", o.devices, o.devices))?;
    std::thread::sleep(Duration::from_secs(2));
    row(&format!("{} devices, every twin updated", o.devices), "edge", sample(edge.child.id()), Some(DEVICES_1000), false);
    row(&format!("{} devices on two edges", o.devices + 10), "cloud", sample(cpid), None, false);
    drop(edge);

    // 3. Running pods on a fresh edge, when there is a container runtime.
    let pods = if o.runtime_socket.exists() && o.pods > 0 {
        let edge = start_edge(dir, o, cloud.hub, "fp-pods")?;
        let mut lat = Vec::new();
        c.namespace(&mut s, "bench")?;
        super::edged::start_pods(&c, &mut s, "bench", "fp-pods", 0, o.pods, &mut lat)?;
        std::thread::sleep(Duration::from_secs(2));
        row(&format!("{} running pods", o.pods), "edge", sample(edge.child.id()), Some(PODS_50), false);
        super::edged::delete_pods(&c, &mut s, "bench", o.pods, &o.runtime_socket);
        format!("{} pods", o.pods)
    } else {
        format!("pods not measured: no container runtime at {}", o.runtime_socket.display())
    };
    drop(cloud);
    report(&rows, cloud_ready, edge_ready, &pods, o, out)
}

fn report(rows: &[Row], cloud_ready: u128, edge_ready: u64, pods: &str, o: &Options, out: &Path) -> Result<(), String> {
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    let edge_bin = o.edge_bin.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "this binary".into());
    let mut text = format!(
        "hive bench footprint: edge from {edge_bin}, cloud from this binary; cold start to ready: cloud {cloud_ready} ms (spawn to ready), edge {edge_ready} ms (its own log); {pods}\n"
    );
    text += &format!("{:<64} {:<6} {:>9} {:>8} {:>10}  verdict\n", "scenario", "role", "RSS", "threads", "budget");
    let mut failed = Vec::new();
    let mut json_rows = Vec::new();
    for r in rows {
        let over = r.budget.is_some_and(|b| r.rss > b);
        let verdict = match (r.budget, over, r.asserted) {
            (None, _, _) => "",
            (Some(_), false, _) => "ok",
            (Some(_), true, true) => "OVER (fails)",
            (Some(_), true, false) => "over",
        };
        if over && r.asserted {
            failed.push(format!("{} {}: {} KiB over its budget of {} KiB", r.role, r.scenario, r.rss, r.budget.unwrap_or(0)));
        }
        text += &format!("{:<64} {:<6} {:>9} {:>8} {:>10}  {verdict}\n", r.scenario, r.role, mib(r.rss), r.threads, r.budget.map(mib).unwrap_or_default());
        json_rows
            .push(serde_json::json!({"scenario": r.scenario, "role": r.role, "rss_kib": r.rss, "threads": r.threads, "budget_kib": r.budget, "over": over}));
    }
    let json = serde_json::json!({"edge_bin": edge_bin, "ready_ms": {"cloud": cloud_ready as u64, "edge": edge_ready}, "rows": json_rows, "failed": failed});
    write_report(out, "footprint", &text, &format!("{json:#}\n"))?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("over budget: {}", failed.join("; ")))
    }
}
