//! The edge-local API (MetaServer) of a real `hive edge` process: objects
//! from the cloud appear, change and go; watches stream the changes; with
//! the cloud gone — and after a kill -9 and restart with the cloud still
//! gone — everything cached is served at once.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::drivers::{app, Applied, Cmd};
use common::inproc::{cloud_config, credentials, free_port, InProc};
use common::{hive_bin, Proc};

fn get(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the local API");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn api_port(p: &mut Proc) -> u16 {
    let line = p.wait_for("local API on ", Duration::from_secs(20));
    line.rsplit(':').next().and_then(|x| x.trim().parse().ok()).unwrap_or_else(|| panic!("no port in {line}"))
}

fn wait_status(port: u16, path: &str, want: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = get(port, "GET", path);
        if code == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: still {code}, want {want}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_edge(root: &std::path::Path, cloud_port: u16) -> Proc {
    let cfg = root.join("edge.toml");
    std::fs::write(
        &cfg,
        format!("role = \"edge\"\ndata_dir = \"edge\"\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{cloud_port}\"\nbackoff_min_ms = 100\nbackoff_max_ms = 1000\nping_interval_s = 1\n[dmi]\nsocket = \"dmi.sock\"\n"),
    )
    .unwrap();
    Proc::start(&hive_bin(), &["edge", "--config", cfg.to_str().unwrap()], root)
}

fn obj(kind: &str, name: &str, extra: &str) -> Vec<u8> {
    format!("{{\"apiVersion\":\"v1\",\"kind\":\"{kind}\",\"metadata\":{{\"name\":\"{name}\",\"namespace\":\"default\"}}{extra}}}").into_bytes()
}

#[test]
fn local_api_serves_the_cache_online_offline_and_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    credentials(&cloud_dir, &dir.path().join("edge"), "api-1");
    let port = free_port();
    let applied = std::sync::Arc::new(std::sync::Mutex::new(Applied::default()));
    let start_cloud = |applied: &std::sync::Arc<std::sync::Mutex<Applied>>| {
        let (tx, rx) = smol::channel::unbounded();
        let a = applied.clone();
        (InProc::start(cloud_config(&cloud_dir, port, ""), move |_, _| vec![app(&a, rx, "app")]), tx)
    };
    let (cloud, cmds) = start_cloud(&applied);
    let up = |cmds: &smol::channel::Sender<Cmd>, key: &str, body: Vec<u8>| cmds.send_blocking(Cmd::Upsert("api-1".into(), key.into(), body)).unwrap();
    up(&cmds, "default/pod/web", obj("Pod", "web", ",\"spec\":{\"nodeName\":\"api-1\"}"));
    up(&cmds, "default/configmap/cfg", obj("ConfigMap", "cfg", ",\"data\":{\"k\":\"1\"}"));
    up(&cmds, "default/secret/s", obj("Secret", "s", ",\"data\":{\"password\":\"aHVudGVyMg==\"}"));
    up(&cmds, "/node/api-1", b"{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"api-1\"}}".to_vec());

    let mut edge = start_edge(dir.path(), port);
    let api = api_port(&mut edge);
    // Online: objects from the cloud appear.
    let pod = wait_status(api, "/api/v1/namespaces/default/pods/web", 200);
    assert!(pod.contains("\"nodeName\":\"api-1\""), "{pod}");
    let list = wait_status(api, "/api/v1/namespaces/default/configmaps", 200);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["kind"], "ConfigMapList");
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert!(wait_status(api, "/api/v1/nodes/api-1", 200).contains("\"kind\":\"Node\""));
    assert!(wait_status(api, "/api/v1/namespaces/default/secrets/s", 200).contains("password"));
    let all: serde_json::Value = serde_json::from_str(&wait_status(api, "/api/v1/pods", 200)).unwrap();
    assert_eq!(all["items"][0]["metadata"]["name"], "web");

    // A watch sees the current object, then a change and a deletion.
    let mut w = TcpStream::connect(("127.0.0.1", api)).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(w, "GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = String::new();
    let read_until = |w: &mut TcpStream, needle: &str, seen: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            assert!(Instant::now() < deadline, "watch never showed {needle}: {seen}");
            match w.read(&mut buf) {
                Ok(0) => panic!("watch ended early: {seen}"),
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
    };
    read_until(&mut w, "\"type\":\"ADDED\"", &mut seen);
    up(&cmds, "default/configmap/cfg", obj("ConfigMap", "cfg", ",\"data\":{\"k\":\"2\"}"));
    read_until(&mut w, "\"type\":\"MODIFIED\"", &mut seen);
    assert!(seen.contains("\"k\":\"2\""), "{seen}");
    cmds.send_blocking(Cmd::Delete("api-1".into(), "default/configmap/cfg".into())).unwrap();
    read_until(&mut w, "\"type\":\"DELETED\"", &mut seen);
    wait_status(api, "/api/v1/namespaces/default/configmaps/cfg", 404);

    // Bad requests get Status errors naming what is wrong.
    let (c, b) = get(api, "GET", "/api/v1/namespaces/default/widgets");
    assert_eq!(c, 404, "{b}");
    assert!(b.contains("\"kind\":\"Status\"") && b.contains("widgets"), "{b}");
    let (c, b) = get(api, "GET", "/api/v1/namespaces/Not_Valid/pods");
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("Not_Valid"), "{b}");
    assert_eq!(get(api, "POST", "/api/v1/namespaces/default/pods").0, 405);
    assert_eq!(get(api, "GET", "/api/v1/namespaces/default/pods/nothere").0, 404);

    // Offline: the cloud goes away; the cache is still served.
    assert_eq!(cloud.stop(), 0);
    edge.wait_for("connection to cloud lost", Duration::from_secs(10));
    assert_eq!(get(api, "GET", "/api/v1/namespaces/default/pods/web").0, 200);

    // kill -9, restart with the cloud still down: served right after "ready".
    edge.child.kill().unwrap();
    let _ = edge.child.wait();
    let mut edge = start_edge(dir.path(), port);
    let api = api_port(&mut edge);
    edge.wait_for("hive edge ready", Duration::from_secs(20));
    let t0 = Instant::now();
    let (code, body) = get(api, "GET", "/api/v1/namespaces/default/pods/web");
    let took = t0.elapsed();
    assert_eq!(code, 200, "{body}");
    assert!(took < Duration::from_millis(100), "first answer after ready took {took:?}");
    assert!(!edge.drain().iter().any(|l| l.contains("password") || l.contains("aHVudGVyMg")), "secret content in the log");

    // Changes made while the edge is down (a delete, a new object) arrive
    // when it comes back, and nothing stale is left.
    edge.signal("TERM");
    assert_eq!(edge.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let (cloud, cmds) = start_cloud(&applied);
    cmds.send_blocking(Cmd::Delete("api-1".into(), "default/pod/web".into())).unwrap();
    up(&cmds, "default/pod/api", obj("Pod", "api", ""));
    let mut edge = start_edge(dir.path(), port);
    let api = api_port(&mut edge);
    wait_status(api, "/api/v1/namespaces/default/pods/web", 404);
    let pods: serde_json::Value = serde_json::from_str(&wait_status(api, "/api/v1/namespaces/default/pods/api", 200)).unwrap();
    assert_eq!(pods["metadata"]["name"], "api");
    let list: serde_json::Value = serde_json::from_str(&wait_status(api, "/api/v1/pods", 200)).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    edge.signal("TERM");
    assert_eq!(edge.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(cloud.stop(), 0);
}
