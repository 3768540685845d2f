//! Regression tests of defects found by probing a real `hive edge` and
//! `hive cloud` as a hostile local user would (issue: hardening): closed
//! watches leaking, an acknowledged upload lost after a database rebuild,
//! objects at rest readable by every user, idle connections held for ever.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::api::start_cloud_with_api;
use common::drivers::{app, Applied, Cmd};
use common::inproc::{cloud_config, credentials, free_port, InProc};
use common::rawmqtt::{rss_kib, Raw};
use common::{closed_within, hive_bin, http_get as get, Proc, Site};

fn start_edge(root: &Path, cloud_port: u16, mqtt: u16, metaserver: &str) -> (Proc, u16) {
    let cfg = root.join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "role = \"edge\"\ndata_dir = \"edge\"\nnode_name = \"edge-1\"\n[metaserver]\nlisten = \"127.0.0.1:0\"\n{metaserver}\n[eventbus]\nlisten = \"127.0.0.1:{mqtt}\"\n[edgehub]\nserver = \"127.0.0.1:{cloud_port}\"\nbackoff_min_ms = 100\nbackoff_max_ms = 1000\nping_interval_s = 1\n[dmi]\nsocket = \"dmi.sock\"\n"
        ),
    )
    .unwrap();
    let mut p = Proc::start(&hive_bin(), &["edge", "--config", cfg.to_str().unwrap()], root);
    let line = p.wait_for("local API on ", Duration::from_secs(20));
    let api = line.rsplit(':').next().and_then(|x| x.trim().parse().ok()).unwrap_or_else(|| panic!("no port in {line}"));
    p.wait_for("hive edge ready", Duration::from_secs(20));
    (p, api)
}

#[test]
fn closed_watches_are_freed_and_idle_connections_are_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    credentials(&cloud_dir, &dir.path().join("edge"), "edge-1");
    let port = free_port();
    let applied = std::sync::Arc::new(std::sync::Mutex::new(Applied::default()));
    let (tx, rx) = smol::channel::unbounded();
    let a = applied.clone();
    let cloud = InProc::start(cloud_config(&cloud_dir, port, ""), move |_, _| vec![app(&a, rx, "app")]);
    let filler = "x".repeat(4000);
    for i in 0..20 {
        let body = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"c{i}\",\"namespace\":\"default\"}},\"data\":{{\"k\":\"{filler}\"}}}}"
        );
        tx.send_blocking(Cmd::Upsert("edge-1".into(), format!("default/configmap/c{i}"), body.into_bytes())).unwrap();
    }
    let (mut edge, api) = start_edge(dir.path(), port, free_port(), "max_connections = 40\nidle_timeout_s = 2");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(api, "/api/v1/namespaces/default/configmaps").1.contains("\"c19\"") {
        assert!(Instant::now() < deadline, "the configmaps never reached the edge");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Rounds of 1,000 watches (each ~80 KB of ADDED events), each closed at once.
    let round = || {
        for _ in 0..1000 {
            let mut w = TcpStream::connect(("127.0.0.1", api)).unwrap();
            write!(w, "GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut b = [0u8; 64];
            let _ = w.read(&mut b);
        }
        std::thread::sleep(Duration::from_millis(300));
        // One more watch opened: closed ones are dropped then.
        let _ = get(api, "/api/v1/namespaces/default/configmaps/c0");
        rss_kib(edge.child.id())
    };
    let first = round();
    let _ = round();
    let third = round();
    // Before: +84 MB per round of 2,000 such watches.
    eprintln!("edge RSS {first} KiB after one round of closed watches, {third} KiB after three");
    assert!(third < first + (16 << 10), "RSS {first} KiB after one round, {third} KiB after three");

    // Idle connections: nothing sent, half a request line, or an idle keep-alive: closed after ~2 s.
    let mut quiet = TcpStream::connect(("127.0.0.1", api)).unwrap();
    let mut partial = TcpStream::connect(("127.0.0.1", api)).unwrap();
    write!(partial, "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost:").unwrap();
    let mut keep = TcpStream::connect(("127.0.0.1", api)).unwrap();
    write!(keep, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut b = [0u8; 256];
    assert!(keep.read(&mut b).unwrap() > 0);
    for (what, s) in [("silent", &mut quiet), ("partial headers", &mut partial), ("idle keep-alive", &mut keep)] {
        assert!(closed_within(s, 6), "{what} connection not closed after idle_timeout_s");
    }
    // At most max_connections at once: the rest are closed at once; the API serves again once they go.
    let held: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(("127.0.0.1", api)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(("127.0.0.1", api)).unwrap();
    assert!(closed_within(&mut extra, 2), "a connection over max_connections was kept");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(api, "/healthz").0, 200);
    assert!(edge.drain().iter().any(|l| l.contains("the most this listener takes")), "the refusal is logged");
    drop(cloud);
}

#[test]
fn the_cloud_api_reaps_idle_connections_after_tls() {
    let site = Site::new();
    let (_cloud, api, _) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\nidle_timeout_s = 2\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    let mut c = api.connect();
    // TLS done (a first request answered on a keep-alive connection), then silence.
    write!(c, "GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", api.token).unwrap();
    let mut b = [0u8; 512];
    assert!(c.read(&mut b).unwrap() > 0);
    c.sock.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(t.elapsed() < Duration::from_secs(5), "an idle TLS connection was kept open");
}

#[test]
fn an_upload_acknowledged_after_both_databases_were_rebuilt_reaches_the_cloud() {
    let site = Site::new();
    let cfg = "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3";
    let (mut cloud, _, hub) = start_cloud_with_api(&site, cfg);
    site.node_cert("edge-1");
    let mqtt = free_port();
    let mut edge = site.start_edge("edge-1", hub, &format!("[eventbus]\nlisten = \"127.0.0.1:{mqtt}\""));
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    // Uploads before: the cloud's mark for this node moves up.
    let (mut dev, _) = Raw::connect(mqtt, "dev", 60);
    for i in 0..5 {
        assert!(dev.publish_acked("$hw/events/upload/before", format!("b{i}").as_bytes()));
    }
    cloud.wait_for("upload from node/edge-1/$hw/events/upload/before", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    // The cloud goes away; the edge stops; both of its databases are corrupt.
    cloud.child.kill().unwrap();
    let _ = cloud.child.wait();
    edge.signal("TERM");
    edge.wait_exit(Duration::from_secs(10));
    let data = site.path().join("edge-1");
    for db in ["db", "outbox"] {
        let conf = data.join(db).join("conf");
        std::fs::write(&conf, b"garbage that is no sled config\n").unwrap();
    }
    let mut edge = site.start_edge("edge-1", hub, &format!("[eventbus]\nlisten = \"127.0.0.1:{mqtt}\""));
    edge.wait_for("hive edge ready", Duration::from_secs(20));
    assert!(edge.drain().iter().filter(|l| l.contains("moved it aside")).count() == 2, "{}", edge.seen.join("\n"));
    // Offline, a device's upload is acknowledged (QoS 1)...
    let (mut dev, _) = Raw::connect(mqtt, "dev", 60);
    assert!(dev.publish_acked("$hw/events/upload/after", b"after-rebuild"));
    std::thread::sleep(Duration::from_millis(300));
    // ...and reaches the cloud when it is back, on the same hub port.
    let cfg_path = site.path().join("cloud.toml");
    std::fs::write(
        &cfg_path,
        format!("role = \"cloud\"\ndata_dir = \"cloud\"\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:{hub}\"\nnode_timeout_s = 3\n"),
    )
    .unwrap();
    let mut cloud = Proc::start_env(&hive_bin(), &["cloud", "--config", cfg_path.to_str().unwrap()], site.path(), &[("RUST_LOG", "info")]);
    cloud.wait_for("upload from node/edge-1/$hw/events/upload/after", Duration::from_secs(30));
    edge.wait_for("renumbered above the cloud's mark", Duration::from_secs(5));
}

/// Every file under `dir` is 0600-or-tighter and every directory 0700.
fn assert_private(dir: &Path) {
    let meta = std::fs::metadata(dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{} is not 0700", dir.display());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            assert_private(&p);
        } else {
            assert_eq!(m.permissions().mode() & 0o077, 0, "{} is readable by others ({:o})", p.display(), m.permissions().mode());
        }
    }
}

#[test]
fn objects_at_rest_are_private_and_old_corrupt_copies_are_pruned() {
    let site = Site::new();
    let (mut cloud, hub) = site.start_cloud("");
    site.node_cert("edge-1");
    let data = site.path().join("edge-1");
    // Left by an older hive: world-readable files, three corrupt copies.
    for (i, ms) in [100u64, 200, 300].iter().enumerate() {
        let d = data.join(format!("db.corrupt-{ms}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("db"), format!("secret {i}")).unwrap();
        std::fs::set_permissions(d.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut edge = site.start_edge("edge-1", hub, "");
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    for d in ["db", "outbox"] {
        assert_private(&data.join(d));
    }
    assert_private(&site.path().join("cloud").join("db"));
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    let left: Vec<String> =
        std::fs::read_dir(&data).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.contains("corrupt")).collect();
    assert_eq!(left, vec!["db.corrupt-300".to_string()], "only the newest corrupt copy is kept");
    assert_private(&data.join("db.corrupt-300"));
    edge.signal("TERM");
    edge.wait_exit(Duration::from_secs(10));
    cloud.signal("TERM");
    cloud.wait_exit(Duration::from_secs(10));
}
