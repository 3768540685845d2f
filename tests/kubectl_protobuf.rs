//! The machine's kubectl 1.32 (/usr/bin/kubectl, or $HIVE_KUBECTL_NEW)
//! against a real `hive cloud`: its `create configmap|secret|namespace` send
//! protobuf bodies (application/vnd.kubernetes.protobuf); each object read
//! back equals the one `kubectl apply` of the same manifest gives. (Bodies
//! hive cannot carry are refused: tests/cloud_api.rs and the unit tests of
//! src/cloud/api/protobuf/.)

mod common;

use std::time::Duration;

use common::{hive_bin, Proc, Site};
use serde_json::Value;

fn ok(site: &Site, args: &[&str]) -> String {
    common::kubectl::ok(&common::kubectl::new(), site.path(), args)
}

/// The object as stored, without what the server assigns or apply records.
fn content(site: &Site, kind: &str, name: &str) -> Value {
    let mut v: Value = serde_json::from_str(&ok(site, &["get", kind, name, "-o", "json"])).unwrap();
    let m = v["metadata"].as_object_mut().unwrap();
    for k in ["uid", "resourceVersion", "creationTimestamp", "name"] {
        m.remove(k);
    }
    // Kubernetes labels every namespace with its own name.
    if let Some(l) = m.get_mut("labels").and_then(Value::as_object_mut) {
        l.remove("kubernetes.io/metadata.name");
        if l.is_empty() {
            m.remove("labels");
        }
    }
    if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        if a.is_empty() {
            m.remove("annotations");
        }
    }
    v
}

#[test]
fn kubectl_132_create_sends_protobuf_and_hive_stores_what_apply_would() {
    let site = Site::new();
    let cfg = site.path().join("cloud.toml");
    std::fs::write(&cfg, "role = \"cloud\"\ndata_dir = \"cloud\"\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut cloud = Proc::start(&hive_bin(), &["cloud", "--config", cfg.to_str().unwrap()], site.path());
    cloud.wait_for("hive cloud ready", Duration::from_secs(20));

    let cases: [(&str, &[&str]); 5] = [
        ("configmap", &["create", "configmap", "NAME", "--from-literal=mode=fast", "--from-literal=empty=", "--from-literal=multi=a\nb"]),
        ("secret", &["create", "secret", "generic", "NAME", "--from-literal=password=hunter2", "--type=example.com/custom"]),
        ("secret", &["create", "secret", "docker-registry", "NAME", "--docker-server=r.example", "--docker-username=u", "--docker-password=p"]),
        ("configmap", &["create", "configmap", "NAME", "--from-literal=a=1", "--from-literal=b=2"]),
        ("namespace", &["create", "namespace", "NAME"]),
    ];
    for (i, (kind, args)) in cases.iter().enumerate() {
        let (created, applied) = (format!("made-{i}"), format!("applied-{i}"));
        let with = |name: &str| args.iter().map(|a| if *a == "NAME" { name.to_string() } else { a.to_string() }).collect::<Vec<_>>();
        let create = with(&created);
        let out = ok(&site, &create.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.contains("created"), "{out}");
        // The same object as a manifest (client-side dry run), applied as JSON.
        let mut dry = with(&applied);
        dry.extend(["--dry-run=client".to_string(), "-o".to_string(), "json".to_string()]);
        let manifest = ok(&site, &dry.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::write(site.path().join("m.json"), manifest).unwrap();
        assert!(ok(&site, &["apply", "-f", "m.json"]).contains("created"));
        assert_eq!(content(&site, kind, &created), content(&site, kind, &applied), "case {i}: {args:?}");
    }
    let v: Value = serde_json::from_str(&ok(&site, &["get", "configmap", "made-0", "-o", "json"])).unwrap();
    assert_eq!(v["data"], serde_json::json!({"mode": "fast", "empty": "", "multi": "a\nb"}));
    assert_eq!(ok(&site, &["get", "secret", "made-1", "-o", "jsonpath={.type} {.data.password}"]), "example.com/custom aHVudGVyMg==");

    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

/// `kubectl debug node/…` creates its pod through protobuf (host
/// namespaces, a hostPath volume, tolerations); `kubectl drain
/// --disable-eviction` cordons by patch and deletes each pod with a
/// protobuf DeleteOptions.
#[test]
fn kubectl_132_debug_node_and_drain_send_protobuf_pods_and_delete_options() {
    let site = Site::new();
    let cfg = site.path().join("cloud.toml");
    std::fs::write(&cfg, "role = \"cloud\"\ndata_dir = \"cloud\"\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut cloud = Proc::start(&hive_bin(), &["cloud", "--config", cfg.to_str().unwrap()], site.path());
    cloud.wait_for("hive cloud ready", Duration::from_secs(20));
    let node = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"edge-1"},"status":{"conditions":[{"type":"Ready","status":"True"}],"allocatable":{"cpu":"2","memory":"1Gi","pods":"110"}}}"#;
    std::fs::write(site.path().join("node.json"), node).unwrap();
    ok(&site, &["apply", "-f", "node.json"]);

    let out = ok(&site, &["debug", "node/edge-1", "--image=busybox", "--profile=general"]);
    assert!(out.contains("Creating debugging pod node-debugger-edge-1-"), "{out}");
    let pods: Value = serde_json::from_str(&ok(&site, &["get", "pods", "-o", "json"])).unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pods}");
    let spec = &items[0]["spec"];
    assert_eq!(spec["nodeName"], "edge-1");
    assert_eq!((&spec["hostPID"], &spec["hostNetwork"], &spec["hostIPC"]), (&Value::Bool(true), &Value::Bool(true), &Value::Bool(true)), "{spec}");
    assert_eq!(spec["volumes"][0]["hostPath"]["path"], "/", "{spec}");
    assert_eq!(spec["containers"][0]["volumeMounts"][0]["mountPath"], "/host", "{spec}");
    assert_eq!(spec["tolerations"], serde_json::json!([{"operator": "Exists"}]));

    let out = ok(&site, &["drain", "edge-1", "--disable-eviction", "--force", "--timeout=30s"]);
    assert!(out.contains("drained"), "{out}");
    assert_eq!(ok(&site, &["get", "pods", "-o", "name"]), "");
    assert_eq!(ok(&site, &["get", "node", "edge-1", "-o", "jsonpath={.spec.unschedulable}"]), "true");

    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
