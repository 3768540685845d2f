//! Joining with bootstrap tokens, rotation and revocation, with real
//! processes: `hive cloud`, `hive token …` through the API, `hive edge join`
//! from working directories of their own (nothing copied), kubectl, curl
//! and openssl as a hostile client would use them.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::inproc::free_port;
use common::{hive_bin, kubectl, run, Proc, Site};
use serde_json::json;

/// The join endpoint's port, from the cloud's log.
fn join_port(cloud: &mut Proc) -> u16 {
    let l = cloud.wait_for("join endpoint on", Duration::from_secs(20));
    l.split("join endpoint on ").nth(1).unwrap().split_whitespace().next().unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

/// `hive token create …` in the site (its kubeconfig): stdout.
fn token(site: &Site, args: &[&str]) -> String {
    let mut a = vec!["token", "create", "--kubeconfig", "cloud/kubeconfig"];
    a.extend_from_slice(args);
    let (code, out, err) = run(&hive_bin(), &a, site.path());
    assert_eq!(code, 0, "hive token create: {err}");
    out.trim().to_string()
}

/// A board's own directory with an edge config of its own.
fn home(site: &Site, name: &str, hub: u16, top: &str, extra: &str) -> PathBuf {
    let dir = site.path().join(format!("{name}-home"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("edge.toml"),
        format!(
            "role = \"edge\"\ndata_dir = \"data\"\nmodules = [\"edgehub\", \"metamanager\", \"eventbus\", \"devicetwin\"]\n{top}[metaserver]\nlisten = \"127.0.0.1:0\"\n[eventbus]\nlisten = \"127.0.0.1:{}\"\n[edgehub]\nserver = \"127.0.0.1:{hub}\"\nbackoff_min_ms = 100\nbackoff_max_ms = 1000\nping_interval_s = 1\n{extra}",
            free_port()
        ),
    )
    .unwrap();
    dir
}

/// `hive edge join` arguments from a printed join command.
fn join_args(cmd: &str) -> Vec<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(&words[..3], ["hive", "edge", "join"], "{cmd}");
    let mut a = vec!["edge".to_string(), "--config".into(), "edge.toml".into(), "join".into()];
    a.extend(words[3..].iter().map(|w| w.to_string()));
    a
}

fn start_join(dir: &Path, cmd: &str, extra: &[&str]) -> Proc {
    let mut a = join_args(cmd);
    a.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    Proc::start(&hive_bin(), &a, dir)
}

/// A join that must be refused: hive exits non-zero; its stderr.
fn refused(dir: &Path, cmd: &str, extra: &[&str]) -> String {
    let mut p = start_join(dir, cmd, extra);
    let st = p.wait_exit(Duration::from_secs(20));
    assert!(!st.success(), "join should have been refused:\n{}", p.seen.join("\n"));
    p.seen.join("\n")
}

fn join_cmd(site: &Site, port: u16, extra: &[&str]) -> String {
    let server = format!("127.0.0.1:{port}");
    let mut a = vec!["--print-join-command", "--server", server.as_str()];
    a.extend_from_slice(extra);
    token(site, &a)
}

fn ready(api: &Api, node: &str) -> serde_json::Value {
    api.wait_until(&format!("/api/v1/nodes/{node}"), 20, |n| {
        n["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    })
}

/// POST /join by curl (optionally from another loopback address): (HTTP code, body).
fn curl_join(port: u16, from: &str, body: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "10",
            "--interface",
            from,
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ])
        .arg(format!("https://127.0.0.1:{port}/join"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn a_board_joins_with_a_token_and_every_bad_join_is_refused_clearly() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    let port = join_port(&mut cloud);
    let cmd = join_cmd(&site, port, &["--max-uses", "1", "--description", "batch 7"]);
    let secret = cmd.split_whitespace().nth(6).unwrap().split('.').nth(1).unwrap().to_string();

    // Joined from its own directory: Ready, labelled like a kubelet's node.
    let b1 = home(&site, "b1", hub, "", "");
    let mut edge = start_join(&b1, &cmd, &["--node-name", "board-1"]);
    edge.wait_for("joined as node board-1", Duration::from_secs(20));
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    let n = ready(&api, "board-1");
    assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], "board-1");
    assert_eq!(n["metadata"]["labels"]["kubernetes.io/arch"], hive::kube::goarch(std::env::consts::ARCH));
    assert!(b1.join("data/node.key").exists() && !site.path().join("cloud/node.key").exists());
    // Visible to kubectl as kubeadm keeps them, and counted.
    let secrets = kubectl::ok(&kubectl::new(), site.path(), &["get", "secrets", "-n", "kube-system"]);
    assert!(secrets.contains("bootstrap.kubernetes.io/token"), "{secrets}");
    let (_, list, _) = run(&hive_bin(), &["token", "list", "--kubeconfig", "cloud/kubeconfig"], site.path());
    assert!(list.contains("1/1") && list.contains("batch 7"), "{list}");

    // Refusals, each said on the edge and in the cloud log.
    let b2 = home(&site, "b2", hub, "", "");
    let used_up = refused(&b2, &cmd, &["--node-name", "board-2"]);
    assert!(used_up.contains("used its 1 allowed times"), "{used_up}");
    let good = join_cmd(&site, port, &[]);
    let id = good.split_whitespace().nth(6).unwrap().split('.').next().unwrap().to_string();
    let wrong_secret = good.replace(&good.split_whitespace().nth(6).unwrap().to_string(), &format!("{id}.{}", "0".repeat(16)));
    assert!(refused(&b2, &wrong_secret, &["--node-name", "board-2"]).contains("secret part does not match"));
    let unknown = good.replace(&id, "zzzzzz");
    assert!(refused(&b2, &unknown, &["--node-name", "board-2"]).contains("not known to the cloud"));
    let dup = refused(&b2, &good, &["--node-name", "board-1"]);
    assert!(dup.contains("node board-1 has already joined"), "{dup}");
    let short = join_cmd(&site, port, &["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    assert!(refused(&b2, &short, &["--node-name", "board-2"]).contains("expired at"));
    let deleted = join_cmd(&site, port, &[]);
    let did = deleted.split_whitespace().nth(6).unwrap().split('.').next().unwrap().to_string();
    let (code, _, err) = run(&hive_bin(), &["token", "delete", &did, "--kubeconfig", "cloud/kubeconfig"], site.path());
    assert_eq!(code, 0, "{err}");
    assert!(refused(&b2, &deleted, &["--node-name", "board-2"]).contains("not known to the cloud"));
    // Another cloud's CA: nothing secret is sent.
    let joins_before = cloud.drain().iter().filter(|l| l.contains("join from")).count();
    let pin = good.split_whitespace().nth(8).unwrap().to_string();
    let other = good.replace(&pin, &format!("sha256:{}", "ab".repeat(32)));
    let mitm = refused(&b2, &other, &["--node-name", "board-2"]);
    assert!(mitm.contains("not sending the token"), "{mitm}");
    assert_eq!(cloud.drain().iter().filter(|l| l.contains("join from")).count(), joins_before, "the token reached the cloud");
    assert!(!b2.join("data/node.pem").exists());

    // Requests a careful edge would never send.
    let fresh = join_cmd(&site, port, &[]);
    let t = fresh.split_whitespace().nth(6).unwrap();
    let (code, body) = curl_join(port, "127.0.0.3", &json!({"token": t, "nodeName": "board-9", "csr": "garbage"}).to_string());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("not a PEM CERTIFICATE REQUEST"), "{body}");
    let weak = site.path().join("weak");
    let gen = std::process::Command::new("openssl")
        .args(["req", "-new", "-newkey", "rsa:1024", "-nodes", "-subj", "/CN=x", "-keyout"])
        .arg(weak.with_extension("key"))
        .arg("-out")
        .arg(weak.with_extension("csr"))
        .output()
        .expect("openssl");
    assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
    let csr = std::fs::read_to_string(weak.with_extension("csr")).unwrap();
    let (code, body) = curl_join(port, "127.0.0.3", &json!({"token": t, "nodeName": "board-9", "csr": csr}).to_string());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("RSA key of 1024 bits is too weak"), "{body}");
    let ed = std::process::Command::new("openssl")
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp521r1", "-nodes", "-subj", "/CN=x", "-keyout"])
        .arg(weak.with_extension("k2"))
        .arg("-out")
        .arg(weak.with_extension("c2"))
        .output()
        .expect("openssl");
    assert!(ed.status.success());
    let csr = std::fs::read_to_string(weak.with_extension("c2")).unwrap();
    let (code, body) = curl_join(port, "127.0.0.4", &json!({"token": t, "nodeName": "board-9", "csr": csr}).to_string());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("elliptic curve the cloud does not accept"), "{body}");

    // A flood of bad attempts from one address is cut off; others are still served.
    let bad = json!({"token": format!("{id}.{}", "1".repeat(16)), "nodeName": "x", "csr": "x"}).to_string();
    let codes: Vec<u16> = (0..13).map(|_| curl_join(port, "127.0.0.5", &bad).0).collect();
    assert_eq!(&codes[..10], [401; 10], "{codes:?}");
    assert!(codes[10..].iter().all(|c| *c == 429), "{codes:?}");
    let (c, body) = curl_join(port, "127.0.0.5", &json!({"token": t, "nodeName": "board-9", "csr": "x"}).to_string());
    assert_eq!(c, 429, "even a good token waits out the window: {body}");
    assert!(body.contains("too many failed join attempts from 127.0.0.5"), "{body}");
    let b3 = home(&site, "b3", hub, "", "");
    let mut e3 = start_join(&b3, &fresh, &["--node-name", "board-3"]);
    e3.wait_for("connected to cloud", Duration::from_secs(20));
    ready(&api, "board-3");

    let log = cloud.drain().join("\n");
    assert!(log.contains("join from 127.0.0.1") && log.contains("refused: token"), "{log}");
    assert!(!log.contains(&secret), "a token's secret reached the cloud log");
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    // A restart does not join again.
    let mut again = Proc::start(&hive_bin(), &["edge", "--config", "edge.toml"], &b1);
    again.wait_for("connected to cloud", Duration::from_secs(20));
    assert!(!again.drain().iter().any(|l| l.contains("joining")));
}

/// Serials of node certificates the cloud has seen in sessions, in order.
fn session_serials(cloud: &mut Proc, node: &str) -> Vec<String> {
    let key = format!("node {node} connected from");
    cloud
        .drain()
        .iter()
        .filter(|l| l.contains(&key))
        .filter_map(|l| l.rsplit("certificate serial ").next())
        .map(|s| s.trim_end_matches(')').to_string())
        .collect()
}

#[test]
fn certificates_rotate_under_load_and_deleting_the_node_revokes_them() {
    let site = Site::new();
    let (mut cloud, api, hub) =
        start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3\nnode_cert_lifetime_s = 10");
    let port = join_port(&mut cloud);
    let b = home(&site, "rot", hub, "", "");
    let mut edge = start_join(&b, &join_cmd(&site, port, &[]), &["--node-name", "rot-1"]);
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    let mqtt: u16 = std::fs::read_to_string(b.join("edge.toml")).unwrap().split("127.0.0.1:").nth(2).unwrap().split('"').next().unwrap().parse().unwrap();
    let local: u16 = {
        let l = edge.wait_for("local API on", Duration::from_secs(5));
        l.rsplit(':').next().unwrap().trim().parse().unwrap()
    };
    ready(&api, "rot-1");
    let model = json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "DeviceModel", "metadata": {"name": "m"},
        "spec": {"protocol": "modbus", "properties": [{"name": "n", "type": "INT", "accessMode": "ReadWrite"}]}});
    assert_eq!(api.send("POST", "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicemodels", &model).0, 201);
    let dev = json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "Device", "metadata": {"name": "counter"},
        "spec": {"deviceModelRef": {"name": "m"}, "nodeName": "rot-1", "protocol": {"protocolName": "modbus"}, "properties": [{"name": "n"}]}});
    assert_eq!(api.send("POST", "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices", &dev).0, 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::http_get(local, "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/counter").0 != 200 {
        assert!(Instant::now() < deadline, "the device never reached the edge");
        std::thread::sleep(Duration::from_millis(100));
    }

    // ~26 s: three rotations while pods are placed and the twin is reported.
    let start = Instant::now();
    let mut pods = 0;
    while start.elapsed() < Duration::from_secs(26) {
        pods += 1;
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{pods}")},
            "spec": {"nodeName": "rot-1", "containers": [{"name": "c", "image": "busybox"}]}});
        assert_eq!(api.send("POST", "/api/v1/namespaces/default/pods", &pod).0, 201);
        let twin = format!(r#"{{"event_id":"e{pods}","twin":{{"n":{{"actual":{{"value":"{pods}"}}}}}}}}"#);
        common::mqtt::publish(mqtt, "$hw/events/device/default/counter/twin/update", &twin);
        std::thread::sleep(Duration::from_millis(300));
    }
    let want = pods.to_string();
    api.wait_until("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/counter", 20, |d| {
        d["status"]["twins"].as_array().is_some_and(|t| t.iter().any(|t| t["reported"]["value"] == want.as_str()))
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = common::http_get(local, "/api/v1/namespaces/default/pods");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["items"].as_array().map(Vec::len) == Some(pods) {
            break;
        }
        assert!(Instant::now() < deadline, "the edge holds {} of {pods} pods", v["items"].as_array().map(Vec::len).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The newest certificate is the one in use (its session may still be coming).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rotated: Vec<String> = cloud.drain().iter().filter(|l| l.contains("rot-1: certificate rotated (new serial")).cloned().collect();
        assert!(rotated.len() >= 3, "rotations: {rotated:?}");
        let newest = rotated.last().unwrap().split("new serial ").nth(1).unwrap().split(',').next().unwrap().to_string();
        let serials = session_serials(&mut cloud, "rot-1");
        if serials.last() == Some(&newest) {
            let distinct: std::collections::HashSet<_> = serials.iter().collect();
            assert!(distinct.len() >= 4, "one serial per certificate: {serials:?}");
            break;
        }
        assert!(Instant::now() < deadline, "newest {newest}, sessions {serials:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = cloud.drain().join("\n");
    assert!(!log.contains("rejected upstream"), "{log}");

    // Revocation: the node's session ends at once; its old certificate is refused.
    let key = std::fs::read_to_string(b.join("data/node.key")).unwrap();
    let cert = std::fs::read_to_string(b.join("data/node.pem")).unwrap();
    let ca = std::fs::read_to_string(b.join("data/ca.pem")).unwrap();
    kubectl::ok(&kubectl::new(), site.path(), &["delete", "node", "rot-1", "--wait=false"]);
    let t0 = Instant::now();
    edge.wait_for("was deleted: its certificates are revoked", Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(1), "session ended {:?} after kubectl returned", t0.elapsed());
    edge.wait_for("has revoked this node's certificate", Duration::from_secs(10));
    cloud.wait_for("invalid peer certificate: Revoked", Duration::from_secs(10));
    let cfg = hive::tls::client_config(&ca, &cert, &key).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", hub)).unwrap();
    let mut conn = rustls::StreamOwned::new(rustls::ClientConnection::new(cfg, hive::tls::server_name("127.0.0.1").unwrap()).unwrap(), tcp);
    use std::io::{Read as _, Write as _};
    let _ = conn.write_all(b"GET /tunnel HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    let r = conn.read(&mut buf);
    assert!(r.is_err() || r.unwrap() == 0, "a revoked certificate got a session");
    // A new token (created after the revocation; times are in seconds) brings it back as a fresh node.
    edge.signal("TERM");
    edge.wait_exit(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1100));
    let back_cmd = join_cmd(&site, port, &[]);
    let mut back = start_join(&b, &back_cmd, &["--node-name", "rot-1"]);
    back.wait_for("joined as node rot-1", Duration::from_secs(20));
    // Its session first (a Ready Node alone may predate it), then revoke.
    back.wait_for("connected to cloud", Duration::from_secs(20));
    ready(&api, "rot-1");

    // `hive cert revoke`: the session ends, the Node stays.
    let (code, out, err) = run(&hive_bin(), &["cert", "revoke", "rot-1", "--kubeconfig", "cloud/kubeconfig"], site.path());
    assert_eq!(code, 0, "{out}{err}");
    back.wait_for("its certificates are revoked", Duration::from_secs(5));
    back.wait_for("has revoked this node's certificate", Duration::from_secs(10));
    assert_eq!(api.get("/api/v1/nodes/rot-1").0, 200);
    back.signal("TERM");
    back.wait_exit(Duration::from_secs(10));
    assert!(b.join("data/node.revoked").exists() && b.join("data/node.pem").exists(), "marked, not destroyed");
    // The token it joined with predates the revocation: refused; a newer one works.
    let old = refused(&b, &back_cmd, &["--node-name", "rot-1"]);
    assert!(old.contains("was revoked at") && old.contains("token created after"), "{old}");
    std::thread::sleep(Duration::from_millis(1100));
    let mut again = start_join(&b, &join_cmd(&site, port, &[]), &["--node-name", "rot-1"]);
    again.wait_for("joined as node rot-1", Duration::from_secs(20));
    again.wait_for("connected to cloud", Duration::from_secs(20));
    assert!(!b.join("data/node.revoked").exists());
}

#[test]
fn a_firmware_image_joins_on_first_boot_only_and_survives_a_kill_mid_join() {
    let site = Site::new();
    let (mut cloud, api, hub) =
        start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3\nnode_cert_lifetime_s = 8");
    let port = join_port(&mut cloud);
    let cmd = join_cmd(&site, port, &["--max-uses", "2"]);
    let w: Vec<&str> = cmd.split_whitespace().collect();
    let top = "node_name = \"fw-1\"\n";
    let section = |server: &str| format!("[join]\nserver = \"{server}\"\ntoken = \"{}\"\nca_cert_hash = \"{}\"\n", w[6], w[8]);

    // First boot against a join endpoint that never answers: killed mid-join.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = home(&site, "fw", hub, top, &section(&hole.local_addr().unwrap().to_string()));
    let mut e = Proc::start(&hive_bin(), &["edge", "--config", "edge.toml"], &dir);
    e.wait_for("joining the cloud at", Duration::from_secs(10));
    let _held = hole.accept().unwrap();
    e.signal("KILL");
    e.wait_exit(Duration::from_secs(5));
    assert!(!dir.join("data/node.pem").exists() && !dir.join("data/node.key").exists());
    // A half-finished install left behind (as a crash between writes would) is dropped.
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/node.key.new"), "half").unwrap();
    std::fs::write(dir.join("data/node.pem.new"), "half").unwrap();

    // Second boot, the real endpoint: joins, no half pair used.
    let dir = home(&site, "fw", hub, top, &section(&format!("127.0.0.1:{port}")));
    let mut e = Proc::start(&hive_bin(), &["edge", "--config", "edge.toml"], &dir);
    e.wait_for("unfinished key/certificate install was dropped", Duration::from_secs(10));
    e.wait_for("joined as node fw-1", Duration::from_secs(20));
    e.wait_for("connected to cloud", Duration::from_secs(20));
    ready(&api, "fw-1");
    assert!(!dir.join("data/node.key.new").exists());
    e.signal("TERM");
    assert!(e.wait_exit(Duration::from_secs(10)).success());

    // Third boot: no join.
    let mut e = Proc::start(&hive_bin(), &["edge", "--config", "edge.toml"], &dir);
    e.wait_for("connected to cloud", Duration::from_secs(20));
    assert!(!e.drain().iter().any(|l| l.contains("joining")), "joined again: {:?}", e.seen);
    e.signal("TERM");
    e.wait_exit(Duration::from_secs(10));

    // Offline past the certificate's lifetime: it says so and joins again with the token.
    std::thread::sleep(Duration::from_secs(9));
    let mut e = Proc::start(&hive_bin(), &["edge", "--config", "edge.toml"], &dir);
    e.wait_for("the node certificate expired at", Duration::from_secs(10));
    e.wait_for("joined as node fw-1", Duration::from_secs(20));
    e.wait_for("connected to cloud", Duration::from_secs(20));
    ready(&api, "fw-1");
}
