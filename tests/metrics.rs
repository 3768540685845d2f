//! Metrics and health as an operator sees them (issue 21), with real
//! processes: a real Prometheus (Debian's) scrapes a cloud, through its
//! authorized API and its open metrics listener, and two edges; PromQL sees
//! two connected nodes, then one after an edge is killed; promtool accepts
//! every exposition; the outbox depth follows a cloud outage and drains
//! after it; the messages a lagging MQTT subscriber lost are counted
//! exactly; health answers and the periodic summary line follow reality.

mod common;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::inproc::free_port;
use common::rawmqtt::Raw;
use common::{http_get, Proc, Site};
use serde_json::Value;

/// The port in a log line `... listening on 127.0.0.1:P ...` / `... on 127.0.0.1:P`.
fn port_in(line: &str, after: &str) -> u16 {
    let rest = line.split(after).nth(1).unwrap_or_else(|| panic!("no `{after}` in {line}"));
    let addr = rest.split(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == ')').next().unwrap();
    addr.rsplit(':').next().unwrap().parse().unwrap_or_else(|_| panic!("no port in {line}"))
}

/// Start edge `name`; returns it with its local API and MQTT ports.
fn start_edge(site: &Site, name: &str, hub: u16, extra: &str) -> (Proc, u16, u16) {
    if !site.path().join(name).join("node.pem").exists() {
        site.node_cert(name);
    }
    let mut p = site.start_edge(name, hub, extra);
    let api = port_in(&p.wait_for("local API on", Duration::from_secs(20)), "local API on ");
    let mqtt = port_in(&p.wait_for("MQTT broker listening on", Duration::from_secs(20)), "listening on ");
    p.wait_for("hive edge ready", Duration::from_secs(20));
    (p, api, mqtt)
}

/// A metric's value in a text exposition (the first series matching `series` exactly, or by name when no labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| l.rsplit_once(' ').filter(|(s, _)| *s == series).and_then(|(_, v)| v.parse().ok()))
}

fn edge_metrics(port: u16) -> String {
    let (code, body) = http_get(port, "/metrics");
    assert_eq!(code, 200, "edge /metrics: {body}");
    body
}

/// Poll `f` every 200 ms until it gives Some, for at most `secs`.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// promtool (from Debian's prometheus package) accepts `text`.
fn promtool_accepts(what: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian prometheus; ci/setup.sh installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics on {what}: {said}");
}

/// A Prometheus server of the test's own, stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(dir: &std::path::Path, config: &str) -> Prometheus {
        let port = free_port();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus (Debian prometheus; ci/setup.sh installs it)");
        let p = Prometheus { child, port };
        wait_for("prometheus ready", 30, || (std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && http_get(port, "/-/ready").0 == 200).then_some(()));
        p
    }

    /// An instant query's result vector.
    fn query(&self, q: &str) -> Vec<Value> {
        let enc: String =
            q.bytes().map(|b| if b.is_ascii_alphanumeric() || b"_.-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let (code, body) = http_get(self.port, &format!("/api/v1/query?query={enc}"));
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(code, 200, "query {q}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of a query that returns one series, if it does.
    fn scalar(&self, q: &str) -> Option<f64> {
        let r = self.query(q);
        (r.len() == 1).then(|| r[0]["value"][1].as_str().and_then(|s| s.parse().ok())).flatten()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cloud_metrics(api: &Api) -> String {
    let (code, body) = api.call("GET", "/metrics", "", b"", true);
    assert_eq!(code, 200, "cloud /metrics: {body}");
    body
}

#[test]
fn prometheus_scrapes_a_cloud_and_two_edges_and_follows_a_killed_edge() {
    let site = Site::new();
    let open = free_port();
    let (_cloud, api, hub) = start_cloud_with_api(
        &site,
        &format!("[api]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:{open}\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3\n"),
    );
    let (_e1, e1, _) = start_edge(&site, "e1", hub, "");
    let (mut e2p, e2, _) = start_edge(&site, "e2", hub, "");
    for n in ["e1", "e2"] {
        api.wait_until(&format!("/api/v1/nodes/{n}"), 20, |v| v["metadata"]["name"] == n);
    }

    // /metrics on the API port needs the token; the open listener serves only metrics and health.
    assert_eq!(api.call("GET", "/metrics", "", b"", false).0, 401);
    assert_eq!(http_get(open, "/api/v1/nodes").0, 404);
    let (code, ready) = http_get(open, "/readyz?verbose");
    assert!(code == 200 && ready.contains("[+]module-cloudhub ok") && ready.contains("readyz check passed"), "{code} {ready}");
    let (code, ready) = http_get(e1, "/readyz?verbose");
    assert!(code == 200 && ready.contains("[+]module-edgehub ok") && ready.contains("[+]cache ok"), "{code} {ready}");
    assert_eq!(http_get(e1, "/healthz"), (200, "ok".to_string()));

    // Every exposition passes Prometheus' own checker.
    promtool_accepts("the cloud's /metrics", &cloud_metrics(&api));
    promtool_accepts("the open listener's /metrics", &http_get(open, "/metrics").1);
    promtool_accepts("an edge's /metrics", &edge_metrics(e1));

    let ca = site.path().join("cloud/ca.pem");
    let token = site.path().join("cloud/admin.token");
    let prom = Prometheus::start(
        site.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: cloud\n  scheme: https\n  authorization:\n    credentials_file: {}\n  tls_config:\n    ca_file: {}\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n\
             - job_name: cloud-open\n  static_configs:\n  - targets: ['127.0.0.1:{open}']\n\
             - job_name: edge\n  static_configs:\n  - targets: ['127.0.0.1:{e1}', '127.0.0.1:{e2}']\n",
            token.display(),
            ca.display(),
            api.port
        ),
    );
    // All four targets up (a bad exposition or a refused scrape would keep one at 0).
    wait_for("all four targets up", 60, || (prom.scalar("count(up == 1)") == Some(4.0)).then_some(()));
    wait_for("two nodes connected", 30, || (prom.scalar("hive_cloudhub_nodes_connected{job=\"cloud\"}") == Some(2.0)).then_some(()));
    assert_eq!(prom.scalar("sum(hive_edgehub_connected)"), Some(2.0));
    assert_eq!(prom.scalar("hive_cloudhub_nodes_ready{job=\"cloud-open\"}"), Some(2.0));

    // Kill an edge for real: the fleet view changes.
    e2p.child.kill().unwrap();
    let _ = e2p.child.wait();
    wait_for("one node connected", 30, || (prom.scalar("hive_cloudhub_nodes_connected{job=\"cloud\"}") == Some(1.0)).then_some(()));
    wait_for("the killed edge's target down", 30, || (prom.scalar(&format!("up{{instance=\"127.0.0.1:{e2}\"}}")) == Some(0.0)).then_some(()));
    wait_for("the node NotReady", 30, || (prom.scalar("hive_cloudhub_nodes_not_ready{job=\"cloud\"}") == Some(1.0)).then_some(()));
    let closed = prom.scalar("sum(hive_cloudhub_sessions_closed_total{job=\"cloud\"})").unwrap_or(0.0);
    assert!(closed >= 1.0, "a closed session is counted: {closed}");
    // The dashboard and the alerting rules in contrib/ are valid against this Prometheus.
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/hive.json")).unwrap()).unwrap();
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(exprs.len() >= 14, "{exprs:?}");
    for e in &exprs {
        prom.query(e);
    }
    let nodes = prom.query("hive_cloudhub_nodes_by_backlog");
    assert_eq!(nodes.len(), 10, "five ranges from each of two cloud jobs: {nodes:?}");
    let rules = Command::new("promtool").args(["check", "rules", concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus/alerts.yml")]).output().unwrap();
    assert!(rules.status.success(), "promtool check rules: {}", String::from_utf8_lossy(&rules.stdout));
    // The API's own requests are counted by verb and resource.
    let text = cloud_metrics(&api);
    assert!(value(&text, "hive_apiserver_requests_total{verb=\"GET\",resource=\"nodes\",code=\"200\"}").unwrap_or(0.0) >= 2.0, "{text}");
}

#[test]
fn outbox_depth_follows_a_cloud_outage_and_lagging_subscribers_losses_are_counted() {
    let site = Site::new();
    let hub = free_port();
    let cloud_cfg = format!("[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:{hub}\"\nnode_timeout_s = 3\n");
    let (mut cloud, api, _) = start_cloud_with_api(&site, &cloud_cfg);
    let (mut edge, port, mqtt) =
        start_edge(&site, "e1", hub, "[runtime]\nsummary_interval_s = 1\n[eventbus]\nlisten = \"127.0.0.1:0\"\nmax_backlog_bytes = 65536\n");
    wait_for("edge connected", 20, || (value(&edge_metrics(port), "hive_edgehub_connected") == Some(1.0)).then_some(()));
    edge.wait_for("edge: connected", Duration::from_secs(10));

    // A subscriber that stops reading while 20,000 messages of 1 KiB go by
    // (far more than socket buffers and the 64 KiB backlog hold): what it
    // gets afterwards plus what is counted lost is exactly what was published.
    let (mut sub, code) = Raw::connect(mqtt, "lagging", 60);
    assert_eq!(code, 0);
    assert_eq!(sub.subscribe(&["flood/#".to_string()]), vec![true]);
    let n = 20_000;
    let mut publisher = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &mqtt.to_string(), "-q", "1", "-t", "flood/t", "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub (Debian mosquitto-clients)");
    {
        let mut stdin = publisher.stdin.take().unwrap();
        let line = "x".repeat(1000);
        for i in 0..n {
            writeln!(stdin, "{i:05}{line}").unwrap();
        }
    }
    assert!(publisher.wait().unwrap().success(), "mosquitto_pub failed");
    let received = value(&edge_metrics(port), "hive_eventbus_messages_received_total").unwrap_or(0.0);
    assert_eq!(received, n as f64, "every publish reached the broker");
    sub.tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = 0u64;
    while let Some(p) = sub.read() {
        if matches!(p, rumqttc::mqttbytes::v4::Packet::Publish(ref m) if m.topic == "flood/t") {
            got += 1;
        }
    }
    let text = edge_metrics(port);
    let lost = value(&text, "hive_eventbus_dropped_total{reason=\"backlog\"}").unwrap_or(0.0) as u64;
    eprintln!("lagging subscriber: got {got}, counted lost {lost}, published {n}");
    assert!(lost > 0, "the subscriber lagged past the backlog, yet nothing was counted lost; it got {got} of {n}");
    assert_eq!(got + lost, n as u64, "received {got} + counted lost {lost} must be the {n} published");

    // The cloud goes away: uploads wait in the outbox, and its depth shows it.
    cloud.child.kill().unwrap();
    let _ = cloud.child.wait();
    wait_for("edge offline", 20, || (value(&edge_metrics(port), "hive_edgehub_connected") == Some(0.0)).then_some(()));
    for i in 0..5 {
        common::mqtt::publish(mqtt, &format!("$hw/events/upload/sensor-{i}"), "{\"reading\":1}");
    }
    let text = wait_for("five events in the outbox", 20, || {
        let t = edge_metrics(port);
        (value(&t, "hive_edgehub_outbox_messages{kind=\"event\"}") == Some(5.0)).then_some(t)
    });
    assert!(value(&text, "hive_edgehub_outbox_bytes").unwrap_or(0.0) > 0.0, "{text}");
    // The periodic summary says so too (runtime.summary_interval_s = 1 here).
    let line = edge.wait_for("+ 5 events", Duration::from_secs(10));
    assert!(line.contains("edge: offline"), "{line}");
    let acked_before = value(&text, "hive_edgehub_upstream_acked_total").unwrap_or(0.0);

    // The cloud is back: the outbox drains and the acknowledgements are counted.
    let (_cloud, api2, _) = start_cloud_with_api(&site, &cloud_cfg);
    let text = wait_for("the outbox drained", 30, || {
        let t = edge_metrics(port);
        (value(&t, "hive_edgehub_outbox_messages{kind=\"event\"}") == Some(0.0) && value(&t, "hive_edgehub_connected") == Some(1.0)).then_some(t)
    });
    assert!(value(&text, "hive_edgehub_upstream_acked_total").unwrap_or(0.0) >= acked_before + 5.0, "{text}");
    assert_eq!(value(&text, "hive_edgehub_connects_total"), Some(2.0), "{text}");
    let applied = value(&cloud_metrics(&api2), "hive_cloudhub_upstream_applied_total").unwrap_or(0.0);
    assert!(applied >= 5.0, "the new cloud applied the five uploads: {applied}");
    drop(api);
}
