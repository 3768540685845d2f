//! The cloud API of a real `hive cloud` process over HTTP: token auth,
//! discovery, create/get/list/update/merge-patch/delete, `/status`, label
//! selectors, watch with resume and 410, the status codes, persistence
//! across a restart, and a KubeEdge Device manifest kept as written.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::api::start_cloud_with_api as start_api;
use common::Site;
use serde_json::{json, Value};

const CONFIG: &str = "[api]\nlisten = \"127.0.0.1:0\"\nwatch_history = 20\n[cloudhub]\nlisten = \"127.0.0.1:0\"";

#[test]
fn the_cloud_api_behaves_like_kubernetes() {
    let site = Site::new();
    let (mut cloud, api, _) = start_api(&site, CONFIG);
    let kc = std::fs::read_to_string(site.path().join("cloud/kubeconfig")).unwrap();
    assert!(kc.contains(&api.token) && kc.contains(&format!("https://127.0.0.1:{}", api.port)), "{kc}");
    assert!(kc.contains("certificate-authority-data:"), "{kc}");

    // Auth.
    assert_eq!(api.call("GET", "/api/v1/namespaces/default/pods", "application/json", b"", false).0, 401);
    // Discovery.
    assert_eq!(api.get("/api").1["versions"][0], "v1");
    let v1 = api.get("/api/v1").1;
    assert!(v1["resources"].as_array().unwrap().iter().any(|r| r["name"] == "pods"));
    assert_eq!(api.get("/apis").1["groups"][0]["name"], "devices.kubeedge.io");
    assert_eq!(api.get("/version").0, 200);

    // Create, get, conflict on create.
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                     "spec": {"nodeName": "edge-1", "containers": [{"name": "c", "image": "busybox"}]}});
    let (c, created) = api.send("POST", pods, &pod);
    assert_eq!(c, 201, "{created}");
    let rv1 = created["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    assert!(created["metadata"]["uid"].is_string() && created["metadata"]["namespace"] == "default");
    let (c, got) = api.get(&format!("{pods}/web"));
    assert_eq!((c, &got["spec"]["nodeName"]), (200, &json!("edge-1")));
    let (c, e) = api.send("POST", pods, &pod);
    assert_eq!((c, &e["reason"]), (409, &json!("AlreadyExists")), "{e}");

    // Watch from the creation's revision.
    let mut w = api.connect();
    write!(w, "GET {pods}?watch=true&resourceVersion={rv1} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", api.token).unwrap();

    // Update with the right revision, then a stale one.
    let mut upd = got.clone();
    upd["spec"]["containers"][0]["image"] = json!("busybox:2");
    let (c, updated) = api.send("PUT", &format!("{pods}/web"), &upd);
    assert_eq!(c, 200, "{updated}");
    let (c, e) = api.send("PUT", &format!("{pods}/web"), &upd);
    assert_eq!((c, &e["reason"]), (409, &json!("Conflict")), "stale resourceVersion: {e}");
    // Merge patch.
    let (c, patched) = api.send("PATCH", &format!("{pods}/web"), &json!({"metadata": {"labels": {"tier": "front"}}}));
    assert_eq!(c, 200, "{patched}");
    assert_eq!(patched["metadata"]["labels"], json!({"app": "web", "tier": "front"}));
    // Status only through /status; spec never through it.
    let (c, st) = api.send("PUT", &format!("{pods}/web/status"), &json!({"status": {"phase": "Running"}, "spec": {"nodeName": "evil"}}));
    assert_eq!(c, 200, "{st}");
    assert_eq!((&st["status"]["phase"], &st["spec"]["nodeName"]), (&json!("Running"), &json!("edge-1")));
    let mut again = api.get(&format!("{pods}/web")).1;
    again["status"] = json!({"phase": "Failed"});
    let (_, after) = api.send("PUT", &format!("{pods}/web"), &again);
    assert_eq!(after["status"]["phase"], "Running", "status is not changed through the main resource");

    // Label selectors.
    api.send("POST", pods, &json!({"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {"containers": []}}));
    let (_, l) = api.get(&format!("{pods}?labelSelector=app%3Dweb"));
    assert_eq!(l["kind"], "PodList");
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    assert_eq!(api.get(&format!("{pods}?labelSelector=app!=web")).1["items"][0]["metadata"]["name"], "db");

    // Delete; the watch saw it all in order.
    let (c, _) = api.send("DELETE", &format!("{pods}/web"), &json!({}));
    assert_eq!(c, 200);
    assert_eq!(api.get(&format!("{pods}/web")).0, 404);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    while !seen.contains("\"DELETED\"") {
        assert!(Instant::now() < deadline, "watch: {seen}");
        if let Ok(n) = w.read(&mut buf) {
            assert!(n > 0, "watch ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let order: Vec<usize> = ["\"MODIFIED\"", "\"ADDED\"", "\"DELETED\""].iter().map(|k| seen.find(k).unwrap_or(usize::MAX)).collect();
    assert!(order[0] < order[2] && order[1] < order[2], "{seen}");

    // Bad input: the status code and the field named.
    let (c, e) = api.call("POST", pods, "application/json", b"{not json", true);
    assert_eq!(c, 400, "{e}");
    let (c, e) = api.send("POST", pods, &json!({"metadata": {"name": "Bad_Name"}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("metadata.name"), "{e}");
    let (c, e) = api.send("POST", pods, &json!({"kind": "ConfigMap", "metadata": {"name": "x"}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("kind"), "{e}");
    let (c, e) = api.send("POST", pods, &json!({"metadata": {"name": "x", "namespace": "other"}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("metadata.namespace"), "{e}");
    let huge = vec![b' '; 4 << 20];
    assert_eq!(api.call("POST", pods, "application/json", &huge, true).0, 413);
    assert_eq!(api.get("/api/v1/namespaces/default/widgets").0, 404);
    assert_eq!(api.send("PATCH", &format!("{pods}/db"), &json!({})).0, 200);
    assert_eq!(api.call("PATCH", &format!("{pods}/db"), "application/json-patch+json", b"[]", true).0, 200);
    let (c, e) = api.call("PATCH", &format!("{pods}/db"), "application/json-patch+json", br#"[{"op":"remove","path":"/spec/nope"}]"#, true);
    assert!(c == 422 && e.contains("JSON patch"), "{c} {e}");
    assert_eq!(api.call("PATCH", &format!("{pods}/db"), "application/apply-patch+yaml", b"{}", true).0, 415);
    // Bodies must be JSON and say so; data must be strings (Secret data base64).
    let (c, e) = api.call("POST", pods, "text/plain", br#"{"metadata":{"name":"t"}}"#, true);
    assert!(c == 415 && e.contains("text/plain"), "{c} {e}");
    // Protobuf: an envelope without a kind is refused; a CRD (KubeEdge's Device) is JSON only, a 415.
    let (c, e) = api.call("POST", pods, "application/vnd.kubernetes.protobuf", b"k8s\0", true);
    assert!(c == 400 && e.contains("this URL is for v1 Pod"), "{c} {e}");
    let gv = b"devices.kubeedge.io/v1beta1";
    let tm = [&[0x0a, gv.len() as u8][..], gv, &[0x12, 6], b"Device"].concat();
    let device_pb = [&b"k8s\0"[..], &[0x0a, tm.len() as u8], &tm].concat();
    let (c, e) = api.call("POST", "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices", "application/vnd.kubernetes.protobuf", &device_pb, true);
    assert!(c == 415 && e.contains("Device is not decoded from protobuf"), "{c} {e}");
    // Struct and string-map fields of another JSON type are refused by path (the scheduler writes into spec).
    let (c, e) = api.send("POST", pods, &json!({"metadata": {"name": "s5"}, "spec": 5}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("spec: must be an object, not a number"), "{e}");
    let (c, e) = api.send("POST", pods, &json!({"metadata": {"name": "l1", "labels": {"a": 1}}, "spec": {}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("metadata.labels.a: must be a string"), "{e}");
    let (c, e) = api.send("POST", "/apis/apps/v1/namespaces/default/daemonsets", &json!({"metadata": {"name": "t"}, "spec": {"template": "x"}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("spec.template: must be an object"), "{e}");
    // A dry run is refused, not written.
    let (c, e) = api.call("POST", &format!("{pods}?dryRun=All"), "application/json", br#"{"metadata":{"name":"dry"}}"#, true);
    assert!(c == 400 && e.contains("nothing was written"), "{c} {e}");
    assert_eq!(api.get(&format!("{pods}/dry")).0, 404);
    assert_eq!(api.send("POST", "/api/v1/namespaces", &json!({"metadata": {"name": "dry-ns"}})).0, 201);
    let dry = json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]});
    for path in ["/api/v1/namespaces/dry-ns", "/api/v1/namespaces/dry-ns/configmaps"] {
        let (c, e) = api.send("DELETE", path, &dry);
        assert!(c == 400 && e["message"].as_str().unwrap().contains("nothing was deleted"), "{path}: {e}");
    }
    assert_eq!(api.get("/api/v1/namespaces/dry-ns").0, 200, "a dry run deleted nothing");
    assert_eq!(api.call("POST", pods, "application/json; charset=utf-8", br#"{"metadata":{"name":"utf"}}"#, true).0, 201);
    let cms = "/api/v1/namespaces/default/configmaps";
    let (c, e) = api.send("POST", cms, &json!({"metadata": {"name": "n"}, "data": {"k": 1}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("data.k"), "{e}");
    let (c, e) = api.send("POST", "/api/v1/namespaces/default/secrets", &json!({"metadata": {"name": "s"}, "data": {"p": "not base64!"}}));
    assert!(c == 400 && e["message"].as_str().unwrap().contains("data.p"), "{e}");
    assert_eq!(api.get(&format!("{cms}/n")).0, 404, "nothing stored");
    let (c, e) = api.get(&format!("{pods}?labelSelector=%3D"));
    assert_eq!(c, 400, "an empty selector key: {e}");

    // History overflow: an old revision is an ERROR event with a 410 Expired Status, as Kubernetes sends it.
    for i in 0..30 {
        api.send("POST", "/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": format!("c{i}")}, "data": {"k": "v"}}));
    }
    let (c, e) = api.call("GET", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv1}"), "application/json", b"", true);
    assert_eq!(c, 200, "{e}");
    let event: Value = e.lines().find(|l| l.starts_with('{')).and_then(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| panic!("no event in {e:?}"));
    assert_eq!((&event["type"], &event["object"]["code"], &event["object"]["reason"]), (&json!("ERROR"), &json!(410), &json!("Expired")), "{e}");
    assert!(e.ends_with("0\r\n\r\n"), "the watch ends after the error: {e:?}");

    // A KubeEdge Device as written, unknown fields kept.
    let device = json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "Device",
        "metadata": {"name": "thermo-1", "namespace": "default"},
        "spec": {"deviceModelRef": {"name": "thermo-model"}, "nodeName": "edge-1", "protocol": {"protocolName": "modbus"},
                 "properties": [{"name": "temperature", "desired": {"value": "25"}, "visitors": {"protocolName": "modbus"}}]}});
    let (c, d) = api.send("POST", "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices", &device);
    assert_eq!(c, 201, "{d}");
    assert_eq!(d["spec"]["properties"][0]["visitors"]["protocolName"], "modbus");

    // Everything survives a restart.
    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let (mut cloud, api, _) = start_api(&site, CONFIG);
    assert_eq!(api.get(&format!("{pods}/db")).1["metadata"]["labels"]["app"], "db");
    assert_eq!(api.get("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/thermo-1").0, 200);
    assert_eq!(api.get("/api/v1/namespaces/default/configmaps").1["items"].as_array().unwrap().len(), 30);
    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
