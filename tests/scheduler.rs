//! The scheduler in a real `hive cloud`, driven by kubectl 1.32 and the
//! API: pods without `spec.nodeName` are bound by node readiness, taints
//! and tolerations, nodeSelector, affinity, resources and owner spread; a
//! pod that fits nowhere says why per filter and is bound once a node fits.
//!
//! The nodes here are Node objects written through the API with the status
//! an edge would report (Ready, allocatable): scheduling reads only the
//! store, and a real edge's pod is scheduled in tests/edged.rs.

mod common;

use common::api::{start_cloud_with_api, Api};
use common::Site;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn kubectl(site: &Site, args: &[&str]) -> String {
    common::kubectl::ok(&common::kubectl::new(), site.path(), args)
}

/// A Node as an edge reports it: Ready or not, 2 CPUs, 2 GiB, 110 pods.
fn node(api: &Api, name: &str, labels: Value, taints: Value, ready: bool) {
    let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}});
    assert_eq!(api.send("POST", "/api/v1/nodes", &n).0, 201);
    let st = json!({"status": {"allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"}, "capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    assert_eq!(api.send("PATCH", &format!("/api/v1/nodes/{name}/status"), &st).0, 200);
}

fn pod(api: &Api, name: &str, spec: Value) {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    hive::kube::merge(&mut p, &spec);
    let (code, body) = api.send("POST", PODS, &p);
    assert_eq!(code, 201, "{body}");
}

fn bound_to(api: &Api, name: &str) -> String {
    let v = api.wait_until(&format!("{PODS}/{name}"), 20, |v| v.pointer("/spec/nodeName").is_some());
    v["spec"]["nodeName"].as_str().unwrap().to_string()
}

const TOLERATE: &str = r#"{"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]}}"#;

fn tolerating(extra: Value) -> Value {
    let mut v: Value = serde_json::from_str(TOLERATE).unwrap();
    hive::kube::merge(&mut v, &extra);
    v
}

#[test]
fn pods_without_a_node_are_bound_by_the_filters_and_spread() {
    let site = Site::new();
    let (mut cloud, api, _) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n");
    node(&api, "n-a", json!({"zone": "a"}), json!([]), true);
    node(&api, "n-b", json!({"zone": "b", "gpu": "4"}), json!([{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]), true);
    node(&api, "n-c", json!({"zone": "c"}), json!([]), false);

    // kubectl run: only n-a is Ready and untainted.
    kubectl(&site, &["run", "p1", "--image=busybox"]);
    assert_eq!(bound_to(&api, "p1"), "n-a");
    let p1 = api.get(&format!("{PODS}/p1")).1;
    assert!(hive::kube::items(&p1, "/status/conditions").any(|c| c["type"] == "PodScheduled" && c["status"] == "True"), "{p1}");
    let wide = kubectl(&site, &["get", "pod", "p1", "-o", "wide"]);
    assert!(wide.contains("n-a"), "{wide}");
    let described = kubectl(&site, &["describe", "pod", "p1"]);
    assert!(described.contains("Scheduled") && described.contains("Successfully assigned default/p1 to n-a"), "{described}");

    // A toleration opens n-b; a selector or affinity picks it.
    pod(&api, "ml", tolerating(json!({"spec": {"nodeSelector": {"zone": "b"}}})));
    assert_eq!(bound_to(&api, "ml"), "n-b");
    let gpu = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "gpu", "operator": "Gt", "values": ["2"]}]}]}}}}});
    pod(&api, "gpu", tolerating(gpu));
    assert_eq!(bound_to(&api, "gpu"), "n-b");

    // Too big for every node: Unschedulable with the count per reason, then bound once a node grows.
    pod(&api, "big", tolerating(json!({"spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "3"}}}]}})));
    let v = api.wait_until(&format!("{PODS}/big"), 20, |v| hive::kube::items(v, "/status/conditions").any(|c| c["reason"] == "Unschedulable"));
    let cond = hive::kube::items(&v, "/status/conditions").find(|c| c["type"] == "PodScheduled").unwrap().clone();
    assert_eq!(cond["message"], "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were not ready.", "{v}");
    assert!(v["spec"].get("nodeName").is_none());
    let (_, evs) = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dbig,reason%3DFailedScheduling");
    assert_eq!(evs["items"].as_array().map(Vec::len), Some(1), "{evs}");
    let grow = json!({"status": {"allocatable": {"cpu": "8"}}});
    assert_eq!(api.send("PATCH", "/api/v1/nodes/n-a/status", &grow).0, 200);
    assert_eq!(bound_to(&api, "big"), "n-a");

    // One owner's pods spread over the nodes that fit (a Job: a kind hive
    // does not serve, so the garbage collector leaves its pods alone).
    let mut placed = Vec::new();
    for i in 0..4 {
        let name = format!("s{i}");
        pod(&api, &name, tolerating(json!({"metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "job", "uid": "job-uid-1"}]}})));
        placed.push(bound_to(&api, &name));
    }
    let on_a = placed.iter().filter(|n| *n == "n-a").count();
    assert_eq!(on_a, 2, "spread evenly over n-a and n-b: {placed:?}");

    // A cordoned node takes no new pods.
    assert_eq!(api.send("PATCH", "/api/v1/nodes/n-a", &json!({"spec": {"unschedulable": true}})).0, 200);
    pod(&api, "after-cordon", json!({}));
    let v = api.wait_until(&format!("{PODS}/after-cordon"), 20, |v| hive::kube::items(v, "/status/conditions").any(|c| c["reason"] == "Unschedulable"));
    assert!(v.to_string().contains("1 node(s) were unschedulable"), "{v}");

    // pods/binding, as another scheduler places a pod: spec.nodeName and PodScheduled=True; a second binding is a 409.
    let bind = |node: &str, kind: &str| {
        let b =
            json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "after-cordon"}, "target": {"apiVersion": "v1", "kind": kind, "name": node}});
        api.send("POST", &format!("{PODS}/after-cordon/binding"), &b)
    };
    assert_eq!(bind("n-a", "Pod").0, 400);
    let (c, st) = bind("n-a", "Node");
    assert_eq!((c, &st["status"]), (201, &json!("Success")), "{st}");
    let v = api.get(&format!("{PODS}/after-cordon")).1;
    assert_eq!(v["spec"]["nodeName"], "n-a");
    assert!(hive::kube::items(&v, "/status/conditions").any(|c| c["type"] == "PodScheduled" && c["status"] == "True"), "{v}");
    let (c, e) = bind("n-b", "Node");
    assert!(c == 409 && e["message"].as_str().unwrap().contains("already assigned to node \"n-a\""), "{c} {e}");
    assert_eq!(api.get(&format!("{PODS}/after-cordon/binding")).0, 405);
    cloud.signal("TERM");
    assert!(cloud.wait_exit(std::time::Duration::from_secs(20)).success());
}
