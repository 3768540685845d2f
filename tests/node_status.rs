//! Status up, node authorization and node lifecycle, with a real `hive
//! cloud` process and two edges (embedded, each with a driver module that
//! sends what an Edged or DeviceTwin would): an edge writes the status of
//! its own node, pods and devices — and nothing of another node's, nor any
//! spec; it can read only its own set; a node that goes away turns
//! NotReady and its pods Unknown after the grace period.

mod common;

use std::time::Duration;

use common::api::start_cloud_with_api;
use common::drivers::Say;
use common::inproc::{edge_config, InProc};
use common::Site;
use serde_json::{json, Value};

fn edge(site: &Site, name: &str, hub: u16) -> (InProc, Say) {
    site.node_cert(name);
    let (say, sayer) = Say::new();
    let p = InProc::start(edge_config(&site.path().join(name), hub, ""), move |_, _| vec![Box::new(sayer) as Box<dyn hive::core::Module>]);
    (p, say)
}

fn ready(node: &Value) -> &str {
    node["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready")).and_then(|c| c["status"].as_str()).unwrap_or("")
}

#[test]
fn edges_write_only_their_own_status_and_lost_nodes_pods_go_unknown() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(
        &site,
        "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 2\n[edgecontroller]\npod_unknown_grace_s = 1",
    );
    for (path, obj) in [
        (
            "/api/v1/namespaces/default/pods",
            json!({"metadata": {"name": "web"}, "spec": {"nodeName": "e1", "containers": [{"name": "c", "image": "busybox"}]}}),
        ),
        (
            "/api/v1/namespaces/default/pods",
            json!({"metadata": {"name": "own"}, "spec": {"nodeName": "e2", "containers": [{"name": "c", "image": "busybox"}]}}),
        ),
        (
            "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices",
            json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "Device", "metadata": {"name": "thermo"},
                   "spec": {"nodeName": "e1", "properties": [{"name": "temp", "desired": {"value": "25"}}]}}),
        ),
    ] {
        let (code, body) = api.send("POST", path, &obj);
        assert_eq!(code, 201, "{body}");
    }
    let (e1, s1) = edge(&site, "e1", hub);
    let (e2, s2) = edge(&site, "e2", hub);

    // Both register as Ready nodes, as kubelets do.
    for n in ["e1", "e2"] {
        let v = api.wait_until(&format!("/api/v1/nodes/{n}"), 20, |v| ready(v) == "True");
        assert_eq!(v["metadata"]["labels"]["node-role.kubernetes.io/edge"], "");
        assert!(v["status"]["nodeInfo"]["kubeletVersion"].as_str().unwrap().starts_with("hive-v"), "{v}");
    }

    // e1 reports its pod, node and device.
    s1.report("edgecontroller", "default/pod/web/status", r#"{"phase":"Running","podIP":"127.0.0.1"}"#);
    s1.report("edgecontroller", "/node/e1/status", r#"{"capacity":{"cpu":"2","memory":"1Gi"}}"#);
    s1.report("devicecontroller", "default/device/thermo/twin/temp", r#"{"reported":{"value":"23.5","metadata":{"timestamp":"1717000000123"}}}"#);
    api.wait_until("/api/v1/namespaces/default/pods/web", 20, |v| v["status"]["phase"] == "Running");
    api.wait_until("/api/v1/nodes/e1", 20, |v| v["status"]["capacity"]["cpu"] == "2" && ready(v) == "True");
    let d = api.wait_until("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/thermo", 20, |v| !v["status"]["twins"].is_null());
    assert_eq!(d["status"]["twins"][0], json!({"propertyName": "temp", "reported": {"value": "23.5", "metadata": {"timestamp": "1717000000123"}}}));
    assert_eq!(d["spec"]["properties"][0]["desired"]["value"], "25", "the spec is untouched");

    // e2 tries to write e1's pod, node and device, and a spec; then reports
    // its own pod. Upstream is in order per node, so once its own report
    // shows, the earlier ones were judged.
    s2.report("edgecontroller", "default/pod/web/status", r#"{"phase":"Failed"}"#);
    s2.report("edgecontroller", "/node/e1/status", r#"{"capacity":{"cpu":"64"}}"#);
    s2.report("devicecontroller", "default/device/thermo/twin/temp", r#"{"reported":{"value":"-1"}}"#);
    s2.report("edgecontroller", "default/pod/web", r#"{"spec":{"nodeName":"e2"}}"#);
    s2.report("edgecontroller", "default/pod/own/status", r#"{"phase":"Running"}"#);
    api.wait_until("/api/v1/namespaces/default/pods/own", 20, |v| v["status"]["phase"] == "Running");
    let (_, web) = api.get("/api/v1/namespaces/default/pods/web");
    assert_eq!((web["status"]["phase"].as_str(), web["spec"]["nodeName"].as_str()), (Some("Running"), Some("e1")), "{web}");
    assert_eq!(api.get("/api/v1/nodes/e1").1["status"]["capacity"]["cpu"], "2");
    assert_eq!(api.get("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/thermo").1["status"]["twins"][0]["reported"]["value"], "23.5");

    // Reads: each edge gets its own objects from the cloud, never another's.
    let q = |s: &Say, key: &str| s.say("edgehub", "hub", key, "query", b"").expect("query");
    assert!(!q(&s1, "default/pod/web").starts_with(b"error"));
    let r = q(&s2, "default/pod/web");
    assert!(String::from_utf8_lossy(&r).contains("not in node e2's set"), "{}", String::from_utf8_lossy(&r));
    assert!(q(&s2, "default/device/thermo").starts_with(b"error"));
    // ... and cannot change the hub's sets.
    let r = s2.say("edgehub", "hub", "default/pod/web", "upsert", b"{}").expect("an answer, not a timeout");
    assert!(String::from_utf8_lossy(&r).starts_with("error: refused"), "{}", String::from_utf8_lossy(&r));
    assert!(q(&s2, "default/pod/web").starts_with(b"error"));

    // e2 goes away: NotReady after node_timeout_s, its pods Unknown after the grace.
    assert_eq!(e2.stop(), 0);
    api.wait_until("/api/v1/nodes/e2", 20, |v| ready(v) == "Unknown");
    let own = api.wait_until("/api/v1/namespaces/default/pods/own", 20, |v| v["status"]["phase"] == "Unknown");
    assert_eq!(own["status"]["reason"], "NodeLost");
    assert_eq!(api.get("/api/v1/namespaces/default/pods/web").1["status"]["phase"], "Running", "e1's pods stay");
    assert_eq!(ready(&api.get("/api/v1/nodes/e1").1), "True");

    assert_eq!(e1.stop(), 0);
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
    let log = cloud.drain().join("\n");
    assert!(log.contains("may not write the status of node e1") && log.contains("bound to e1, not to node e2"), "refusals are logged");
}
