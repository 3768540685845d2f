//! The official Kubernetes Python client (PyPI `kubernetes`, installed by
//! ci/setup.sh into /var/cache/hive-venv, or $HIVE_PYTHON) against a real
//! `hive cloud` and a real `hive edge`: tests/python/client.py reads and
//! writes every served kind with the typed models, and deletes a namespace
//! whose objects the edge holds; the edge's own cache must drop them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::api::start_cloud_with_api;
use common::{http_get, Site};

fn python() -> PathBuf {
    let p = std::env::var_os("HIVE_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/hive-venv/bin/python"));
    assert!(p.exists(), "python with the kubernetes client not found at {} (ci/setup.sh creates the venv)", p.display());
    p
}

/// Poll the edge-local API until `path` answers `want`.
fn edge_has(port: u16, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = http_get(port, path);
        if code == want {
            return;
        }
        assert!(Instant::now() < deadline, "edge {path}: still {code}, want {want}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn python_client_reads_writes_and_watches_every_kind() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n");
    site.node_cert("py-edge");
    // No container runtime: the node reports NotReady with its system info, which is what is read here.
    let mut edge = site.start_edge("py-edge", hub, "[edged]\nruntime_socket = \"/nonexistent/containerd.sock\"\n");
    let line = edge.wait_for("local API on ", Duration::from_secs(20));
    let local: u16 = line.rsplit(':').next().and_then(|x| x.trim().parse().ok()).unwrap_or_else(|| panic!("no port in {line}"));
    api.wait_until("/api/v1/nodes/py-edge", 30, |v| v.pointer("/status/nodeInfo/kernelVersion").and_then(|k| k.as_str()).is_some_and(|k| !k.is_empty()));

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client.py");
    let mut py = Command::new("timeout")
        .arg("120")
        .arg(python())
        .arg(&script)
        .arg(site.path().join("cloud/kubeconfig"))
        .arg("py-edge")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let (tx, rx) = mpsc::channel();
    let out = py.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut said = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(l) if l == "ready-for-cascade" => break,
            Ok(l) => said.push(l),
            Err(_) => {
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(py.stderr.as_mut().unwrap(), &mut err);
                panic!("python stopped before the namespace delete; it said {said:?}\n{err}");
            }
        }
    }
    // The namespace's pod and the ConfigMap it uses reached the edge.
    edge_has(local, "/api/v1/namespaces/py/pods/web", 200);
    edge_has(local, "/api/v1/namespaces/py/configmaps/cfg", 200);
    py.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let status = py.wait().unwrap();
    said.extend(rx.try_iter());
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(py.stderr.as_mut().unwrap(), &mut err);
    assert!(status.success(), "python client failed ({status}); it said {said:?}\n{err}");
    assert!(said.iter().any(|l| l == "python client: all steps passed"), "{said:?}");
    // ...and the cascade emptied the edge's cache of them.
    edge_has(local, "/api/v1/namespaces/py/pods/web", 404);
    edge_has(local, "/api/v1/namespaces/py/configmaps/cfg", 404);
    edge.signal("TERM");
    cloud.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(20)).success());
    assert!(cloud.wait_exit(Duration::from_secs(20)).success());
}
