//! DMI end to end with real processes: `hive cloud`, `hive edge` and a
//! mapper built with grpcio from KubeEdge's own api.proto
//! (tests/python/dmi/mapper.py, in the venv ci/setup.sh makes). The mapper
//! dials the edge's socket as mapper-framework's Go mappers do, with the
//! percent-encoded socket path as `:authority`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::Site;
use serde_json::{json, Value};

const CLOUD_CFG: &str = "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3";
const DEVICES: &str = "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices";

fn python() -> PathBuf {
    let p = std::env::var_os("HIVE_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/hive-venv/bin/python"));
    assert!(p.exists(), "python with grpcio not found at {} (ci/setup.sh creates the venv)", p.display());
    p
}

/// The grpcio mapper, driven line by line.
struct Mapper {
    child: Child,
    stdin: ChildStdin,
    out: mpsc::Receiver<String>,
}

impl Mapper {
    fn start(dir: &Path, protocol: &str) -> Mapper {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/dmi/mapper.py");
        let mut child = Command::new(python())
            .arg(script)
            .args([dir.join("dmi.sock").to_str().unwrap(), dir.join(format!("{protocol}.sock")).to_str().unwrap(), protocol, &format!("{protocol}-mapper")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Mapper { child, stdin, out }
    }

    fn ask(&mut self, line: &str) -> Value {
        writeln!(self.stdin, "{line}").unwrap();
        let l = self.out.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("mapper: no answer to `{line}`"));
        serde_json::from_str(&l).unwrap()
    }

    /// Wait until the calls the edge made to the mapper satisfy `ok`.
    fn calls_until(&mut self, secs: u64, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let calls = self.ask("calls")["calls"].as_array().unwrap().clone();
            if ok(&calls) {
                return calls;
            }
            assert!(Instant::now() < deadline, "mapper calls not as expected within {secs}s: {calls:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn names(calls: &[Value]) -> Vec<String> {
    calls.iter().map(|c| format!("{} {}", c[0].as_str().unwrap(), c[2].as_str().unwrap())).collect()
}

fn create(api: &Api, path: &str, body: Value) {
    let (c, b) = api.send("POST", path, &body);
    assert_eq!(c, 201, "{b}");
}

fn device(name: &str, protocol: &str, desired: &str) -> Value {
    json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "Device", "metadata": {"name": name},
        "spec": {"deviceModelRef": {"name": "thermo"}, "nodeName": "edge-1",
            "protocol": {"protocolName": protocol, "configData": {"slaveID": 1, "port": "/dev/ttyS0"}},
            "properties": [{"name": "temp", "desired": {"value": desired}, "visitors": {"protocolName": protocol, "configData": {"offset": 2}}, "reportToCloud": true}]}})
}

#[test]
fn a_kubeedge_mapper_registers_gets_its_devices_and_reports_over_dmi() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, CLOUD_CFG);
    site.node_cert("edge-1");
    let mut edge = site.start_edge("edge-1", hub, "[dmi]\nsocket = \"dmi.sock\"");
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    create(
        &api,
        "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicemodels",
        json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "DeviceModel",
        "metadata": {"name": "thermo"}, "spec": {"protocol": "modbus", "properties": [{"name": "temp", "type": "INT", "accessMode": "ReadWrite"}]}}),
    );
    create(&api, DEVICES, device("t1", "modbus", "20"));
    create(&api, DEVICES, device("other", "opcua", "1"));
    edge.wait_for("device default/other added", Duration::from_secs(20));

    // Registration with withData: the devices of its protocol, with their models, in lock-step.
    let mut m = Mapper::start(site.path(), "modbus");
    let r = m.ask("register");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["devices"].as_array().unwrap().len(), 1, "only the modbus device: {r}");
    let d = &r["devices"][0];
    assert_eq!((d["name"].as_str(), d["model"].as_str(), d["protocol"].as_str()), (Some("t1"), Some("thermo"), Some("modbus")));
    assert_eq!(d["config"], json!({"slaveID": 1.0, "port": "/dev/ttyS0"}), "configData as edgecore wraps it");
    assert_eq!(d["properties"][0]["desired"], "20");
    assert_eq!(r["models"], json!(["thermo"]));

    // Reports: a twin reaches the Device's status, a state too.
    assert_eq!(m.ask("status default t1 temp 21"), json!({"ok": true}));
    assert_eq!(m.ask("states default t1 online"), json!({"ok": true}));
    api.wait_until(&format!("{DEVICES}/t1"), 20, |d| {
        d["status"]["state"] == "online" && d["status"]["twins"].as_array().is_some_and(|t| t.iter().any(|t| t["reported"]["value"] == "21"))
    });

    // Bad input: named, with gRPC codes.
    let r = m.ask("status default ghost temp 1");
    assert_eq!(r["code"], "NOT_FOUND", "{r}");
    assert!(r["details"].as_str().unwrap().contains("default/ghost"), "{r}");
    let r = m.ask("states default other ok");
    assert_eq!(r["code"], "PERMISSION_DENIED", "{r}");
    assert!(r["details"].as_str().unwrap().contains("opcua"), "{r}");
    let r = m.ask("raw 0a0b");
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let r = m.ask("raw");
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    assert!(r["details"].as_str().unwrap().contains("MapperInfo"), "{r}");
    let r = m.ask("big 5000000");
    assert_eq!(r["code"], "RESOURCE_EXHAUSTED", "a request over 4 MiB: {r}");
    assert_eq!(m.ask("states default t1 online"), json!({"ok": true}), "the connection serves on after an oversize request");

    // Changes from the cloud reach the mapper: spec change, a new device (model first), a delete.
    set_desired(&api, "t1", "modbus", "25");
    let calls = m.calls_until(20, |c| !c.is_empty());
    assert_eq!(names(&calls), ["UpdateDevice t1"]);
    assert_eq!(calls[0][3]["properties"][0]["desired"], "25");
    create(&api, DEVICES, device("t2", "modbus", "5"));
    api.send("DELETE", &format!("{DEVICES}/t2"), &Value::Null);
    let calls = m.calls_until(20, |c| c.len() >= 4);
    assert_eq!(names(&calls), ["UpdateDevice t1", "CreateDeviceModel thermo", "RegisterDevice t2", "RemoveDevice t2"]);

    // The mapper vanishes: what is meant for it is retried with backoff and
    // arrives when it is back; another protocol's mapper is not held up.
    let mut o = Mapper::start(site.path(), "opcua");
    assert_eq!(o.ask("register")["devices"][0]["name"], "other");
    drop(m);
    set_desired(&api, "t1", "modbus", "26");
    set_desired(&api, "other", "opcua", "2");
    let calls = o.calls_until(20, |c| !c.is_empty());
    assert_eq!(names(&calls), ["UpdateDevice other"]);
    edge.wait_for("UpdateDevice device default/t1: ", Duration::from_secs(20));
    let mut m = Mapper::start(site.path(), "modbus");
    let calls = m.calls_until(40, |c| !c.is_empty());
    assert_eq!(names(&calls), ["UpdateDevice t1"], "the retry reaches the mapper back on its socket");
    assert_eq!(calls[0][3]["properties"][0]["desired"], "26");

    // The mapper restarts and registers again: current, each model once.
    create(&api, DEVICES, device("t3", "modbus", "7"));
    m.calls_until(20, |c| c.len() >= 3);
    drop(m);
    let mut m = Mapper::start(site.path(), "modbus");
    let r = m.ask("register");
    let devices: Vec<_> = r["devices"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(devices, ["t1", "t3"], "{r}");
    assert_eq!(r["models"], json!(["thermo"]), "one model for two devices: {r}");
    assert_eq!(r["devices"][0]["properties"][0]["desired"], "26", "{r}");

    // The edge restarts under a running mapper: it still knows the mapper,
    // so the next change reaches it without a new registration.
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    let mut edge = site.start_edge("edge-1", hub, "[dmi]\nsocket = \"dmi.sock\"");
    edge.wait_for("registered before this start", Duration::from_secs(20));
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    set_desired(&api, "t1", "modbus", "27");
    let calls = m.calls_until(20, |c| !c.is_empty());
    assert_eq!(names(&calls), ["UpdateDevice t1"], "after an edge restart");
    assert_eq!(calls[0][3]["properties"][0]["desired"], "27");

    // Cloud down: a report is kept and delivered after it is back.
    cloud.signal("TERM");
    cloud.wait_exit(Duration::from_secs(10));
    assert_eq!(m.ask("status default t1 temp 30"), json!({"ok": true}));
    let (_cloud, api2, _) = start_cloud_with_api_on(&site, hub);
    api2.wait_until(&format!("{DEVICES}/t1"), 30, |d| d["status"]["twins"].as_array().is_some_and(|t| t.iter().any(|t| t["reported"]["value"] == "30")));

    // Metrics: the mappers, and calls by method and code (this edge's since its restart).
    let line = edge.wait_for("local API on ", Duration::from_secs(5));
    let port: u16 =
        line.split("local API on ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|a| a.rsplit(':').next()).and_then(|p| p.parse().ok()).unwrap();
    let (code, text) = common::http_get(port, "/metrics");
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("\nhive_dmi_mappers 2\n"), "{text}");
    assert!(text.contains("\nhive_dmi_requests_total{method=\"ReportDeviceStatus\",code=\"OK\"} 1\n"), "{text}");
}

fn set_desired(api: &Api, name: &str, protocol: &str, value: &str) {
    let (c, b) = api.send(
        "PATCH",
        &format!("{DEVICES}/{name}"),
        &json!({"spec": {"properties": [{"name": "temp", "desired": {"value": value}, "visitors": {"protocolName": protocol, "configData": {"offset": 2}}}]}}),
    );
    assert_eq!(c, 200, "{b}");
}

/// The cloud again on the same hub port (its data dir is kept).
fn start_cloud_with_api_on(site: &Site, hub: u16) -> (common::Proc, Api, u16) {
    start_cloud_with_api(site, &format!("[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:{hub}\"\nnode_timeout_s = 3"))
}
