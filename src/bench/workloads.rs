//! `hive bench workloads`: the cloud's control plane at scale, in a real
//! `hive cloud` through its HTTPS API. For each node count (`--edges`,
//! simulated nodes: Node objects with Ready status and allocatable, as an
//! edge reports them): registering the nodes, the scheduler binding
//! `--count` pods without a node (pods bound per second; kube-scheduler's
//! published figure is in the low hundreds per second), a Deployment of
//! `--count` replicas until it reports them all, and a DaemonSet until
//! every node holds its pod object — with the cloud's RSS after each.
//!
//! Owns: this driver. Must not be started by any role.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::api::{start_cloud, Client, Tls};
use super::{rss_of, write_report};

const MODULES: &str = r#"["cloudhub", "apiserver", "edgecontroller", "scheduler", "daemonset", "replicaset", "deployment", "garbagecollector"]"#;

/// Parallel API connections used to write.
const CONNS: usize = 4;

fn call(c: &Client, s: &mut BufReader<Tls>, method: &str, path: &str, body: &Value) -> Result<Value, String> {
    let (code, b) = c.call(s, method, path, body.to_string().as_bytes())?;
    if !(200..300).contains(&code) {
        return Err(format!("{method} {path}: {code} {}", String::from_utf8_lossy(&b)));
    }
    serde_json::from_slice(&b).map_err(|e| format!("{method} {path}: {e}"))
}

/// Run `f(i)` for i in 0..n over CONNS connections.
fn parallel(c: &Arc<Client>, n: usize, f: fn(&Client, &mut BufReader<Tls>, usize) -> Result<(), String>) -> Result<(), String> {
    let hs: Vec<_> = (0..CONNS)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut s = c.connect()?;
                for i in (t..n).step_by(CONNS) {
                    f(&c, &mut s, i)?;
                }
                Ok(())
            })
        })
        .collect();
    for h in hs {
        h.join().map_err(|_| "writer thread panicked".to_string())??;
    }
    Ok(())
}

fn node(c: &Client, s: &mut BufReader<Tls>, i: usize) -> Result<(), String> {
    let name = format!("sim-{i}");
    call(c, s, "POST", "/api/v1/nodes", &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"bench": "yes"}}}))?;
    let st = json!({"status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}]}});
    call(c, s, "PATCH", &format!("/api/v1/nodes/{name}/status"), &st).map(|_| ())
}

fn pod(c: &Client, s: &mut BufReader<Tls>, i: usize) -> Result<(), String> {
    let p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p-{i}")},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}});
    call(c, s, "POST", "/api/v1/namespaces/default/pods", &p).map(|_| ())
}

/// Poll `path` until `done` holds; the time it took from `t0`.
fn until(c: &Client, path: &str, t0: Instant, limit: Duration, done: impl Fn(&Value) -> bool) -> Result<Duration, String> {
    let mut s = c.connect()?;
    loop {
        let v = call(c, &mut s, "GET", path, &Value::Null)?;
        if done(&v) {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return Err(format!("{path}: not done after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn items(v: &Value) -> usize {
    v["items"].as_array().map_or(0, Vec::len)
}

fn workload(kind: &str, name: &str, replicas: Option<usize>) -> Value {
    let mut w = json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "1m"}}}]}}}});
    if let Some(r) = replicas {
        w["spec"]["replicas"] = json!(r);
    }
    w
}

/// One node count: (report lines, JSON).
fn one(dir: &Path, nodes: usize, pods: usize) -> Result<(Vec<String>, Value), String> {
    let cloud = start_cloud(dir, MODULES)?;
    let pid = cloud.child.id().to_string();
    let c = Arc::new(Client::of(dir, cloud.port)?);
    let t0 = Instant::now();
    parallel(&c, nodes, node)?;
    let reg = t0.elapsed();
    let rss_nodes = rss_of(&pid);
    eprintln!("hive bench workloads: {nodes} nodes registered in {:.1} s", reg.as_secs_f64());

    let t0 = Instant::now();
    parallel(&c, pods, pod)?;
    let unbound = "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D";
    let bound = until(&c, unbound, t0, Duration::from_secs(600), |v| items(v) == 0)?;
    eprintln!("hive bench workloads: {nodes} nodes: {pods} pods bound in {:.2} s", bound.as_secs_f64());
    // A fresh connection for each phase: an idle one is closed by the API after idle_timeout_s.
    call(&c, &mut c.connect()?, "DELETE", "/api/v1/namespaces/default/pods", &Value::Null)?;

    let t0 = Instant::now();
    call(&c, &mut c.connect()?, "POST", "/apis/apps/v1/namespaces/default/deployments", &workload("Deployment", "web", Some(pods)))?;
    let deployed = until(&c, "/apis/apps/v1/namespaces/default/deployments/web", t0, Duration::from_secs(600), |v| v["status"]["replicas"] == pods)?;
    eprintln!("hive bench workloads: {nodes} nodes: Deployment of {pods} in {:.2} s", deployed.as_secs_f64());
    call(&c, &mut c.connect()?, "DELETE", "/apis/apps/v1/namespaces/default/deployments/web", &json!({"propagationPolicy": "Foreground"}))?;

    let t0 = Instant::now();
    call(&c, &mut c.connect()?, "POST", "/apis/apps/v1/namespaces/default/daemonsets", &workload("DaemonSet", "agent", None))?;
    let ds = until(&c, "/apis/apps/v1/namespaces/default/daemonsets/agent", t0, Duration::from_secs(900), |v| v["status"]["currentNumberScheduled"] == nodes)?;
    let rss = rss_of(&pid);
    let per_s = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-6);
    let lines = vec![
        format!(
            "{nodes} nodes registered (create + status)  {:>8.1} s   {:>8.0} nodes/s   cloud RSS {:.1} MiB",
            reg.as_secs_f64(),
            per_s(nodes, reg),
            rss_nodes as f64 / 1024.0
        ),
        format!(
            "{pods} pods bound by the scheduler          {:>8.2} s   {:>8.0} pods/s (from the first create to the last bind)",
            bound.as_secs_f64(),
            per_s(pods, bound)
        ),
        format!("Deployment of {pods} replicas created     {:>8.2} s   {:>8.0} pods/s", deployed.as_secs_f64(), per_s(pods, deployed)),
        format!(
            "DaemonSet on every one of {nodes} nodes    {:>8.2} s   {:>8.0} pods/s   cloud RSS {:.1} MiB",
            ds.as_secs_f64(),
            per_s(nodes, ds),
            rss as f64 / 1024.0
        ),
    ];
    let j = json!({"nodes": nodes, "pods": pods, "register_s": reg.as_secs_f64(), "bind_s": bound.as_secs_f64(), "bind_per_s": per_s(pods, bound),
        "deployment_s": deployed.as_secs_f64(), "daemonset_s": ds.as_secs_f64(), "rss_kib_nodes": rss_nodes, "rss_kib_daemonset": rss});
    Ok((lines, j))
}

pub fn run(node_counts: &[usize], pods: usize, out: &Path) -> Result<(), String> {
    let mut text = String::from("hive bench workloads: a real hive cloud, simulated nodes written through its API\n\n");
    let mut js = Vec::new();
    for &n in node_counts {
        let dir = std::env::temp_dir().join(format!("hive-bench-workloads-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let r = one(&dir, n, pods);
        let _ = std::fs::remove_dir_all(&dir);
        let (lines, j) = r?;
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        text.push('\n');
        js.push(j);
    }
    write_report(out, "workloads", &text, &Value::Array(js).to_string())
}
