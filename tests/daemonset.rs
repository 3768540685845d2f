//! DaemonSets in a real `hive cloud`, driven by kubectl 1.32 and the API:
//! one pod per eligible node (taints, nodeSelector; a NotReady node keeps
//! its pod), a node that joins gets one, a node that stops matching loses
//! it, a new template rolls out one node at a time (each waits for the
//! pods before it to be Ready), a bad selector is a 422, and deleting the
//! DaemonSet deletes its pods.
//!
//! Nodes are Node objects written through the API, as in tests/scheduler.rs.

mod common;

use std::collections::BTreeMap;

use common::api::{start_cloud_with_api, Api};
use common::Site;
use serde_json::{json, Value};

const DS: &str = "/apis/apps/v1/namespaces/default/daemonsets";

fn node(api: &Api, name: &str, labels: Value, taints: Value, ready: bool) {
    let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}});
    assert_eq!(api.send("POST", "/api/v1/nodes", &n).0, 201);
    let st = json!({"status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    assert_eq!(api.send("PATCH", &format!("/api/v1/nodes/{name}/status"), &st).0, 200);
}

/// node → (pod name, image) of the pods DaemonSet `ds` owns.
fn pods_of(api: &Api, ds: &str) -> BTreeMap<String, (String, String)> {
    let (_, list) = api.get("/api/v1/namespaces/default/pods");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| hive::kube::items(p, "/metadata/ownerReferences").any(|o| o["kind"] == "DaemonSet" && o["name"] == ds && o["controller"] == true))
        .map(|p| {
            (
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                (p["metadata"]["name"].as_str().unwrap().to_string(), p["spec"]["containers"][0]["image"].as_str().unwrap_or("").to_string()),
            )
        })
        .collect()
}

fn wait_pods(api: &Api, ds: &str, want: impl Fn(&BTreeMap<String, (String, String)>) -> bool) -> BTreeMap<String, (String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let p = pods_of(api, ds);
        if want(&p) {
            return p;
        }
        assert!(std::time::Instant::now() < deadline, "pods of {ds}: {p:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn set_ready(api: &Api, pod: &str) {
    let st = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(api.send("PATCH", &format!("/api/v1/namespaces/default/pods/{pod}/status"), &st).0, 200);
}

fn daemonset(name: &str, image: &str, node_selector: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": node_selector, "containers": [{"name": "main", "image": image}]}}}})
}

#[test]
fn a_daemonset_runs_one_pod_per_eligible_node_and_rolls_one_at_a_time() {
    let site = Site::new();
    let (mut cloud, api, _) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n");
    node(&api, "n-a", json!({"zone": "a"}), json!([]), true);
    node(&api, "n-b", json!({"zone": "b"}), json!([{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]), true);
    node(&api, "n-c", json!({"zone": "c"}), json!([]), false);

    // kubectl apply; the tainted node is left out, the NotReady one is not.
    std::fs::write(site.path().join("ds.json"), daemonset("agent", "busybox:1", json!({})).to_string()).unwrap();
    let k = common::kubectl::new();
    common::kubectl::ok(&k, site.path(), &["apply", "-f", "ds.json"]);
    let p = wait_pods(&api, "agent", |p| p.len() == 2);
    assert_eq!(p.keys().collect::<Vec<_>>(), ["n-a", "n-c"]);
    let v = api.wait_until(&format!("{DS}/agent"), 20, |v| v["status"]["desiredNumberScheduled"] == 2 && v["status"]["currentNumberScheduled"] == 2);
    assert_eq!(v["status"]["numberReady"], 0);
    let out = common::kubectl::ok(&k, site.path(), &["get", "ds", "agent"]);
    let header: Vec<&str> = out.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"], "{out}");
    let d = common::kubectl::ok(&k, site.path(), &["describe", "ds", "agent"]);
    assert!(d.contains("SuccessfulCreate") && d.contains(&format!("Created pod: {}", p["n-a"].0)), "{d}");

    // A node that joins gets its pod; a pod deleted by hand comes back.
    node(&api, "n-d", json!({"zone": "d"}), json!([]), true);
    let p = wait_pods(&api, "agent", |p| p.len() == 3);
    let (gone, _) = &p["n-a"];
    assert_eq!(api.send("DELETE", &format!("/api/v1/namespaces/default/pods/{gone}"), &json!({})).0, 200);
    wait_pods(&api, "agent", |p| p.get("n-a").is_some_and(|(n, _)| n != gone));

    // A nodeSelector: a node relabelled out of it loses its pod.
    assert_eq!(api.send("POST", DS, &daemonset("zoned", "busybox:1", json!({"zone": "a"}))).0, 201);
    wait_pods(&api, "zoned", |p| p.keys().collect::<Vec<_>>() == ["n-a"]);
    assert_eq!(api.send("PATCH", "/api/v1/nodes/n-a", &json!({"metadata": {"labels": {"zone": "x"}}})).0, 200);
    wait_pods(&api, "zoned", |p| p.is_empty());

    // A new image rolls out one node at a time: the next waits for every pod to be Ready.
    for (pod, _) in pods_of(&api, "agent").values() {
        set_ready(&api, pod);
    }
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}}});
    assert_eq!(api.send("PATCH", &format!("{DS}/agent"), &patch).0, 200);
    for updated in 1..=3 {
        wait_pods(&api, "agent", |p| p.len() == 3 && p.values().filter(|(_, i)| i == "busybox:2").count() == updated);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = pods_of(&api, "agent");
        assert_eq!(now.values().filter(|(_, i)| i == "busybox:2").count(), updated, "no further pod replaced while a new one is not Ready: {now:?}");
        for (pod, image) in now.values() {
            if image == "busybox:2" {
                set_ready(&api, pod);
            }
        }
    }
    let v = api.wait_until(&format!("{DS}/agent"), 20, |v| v["status"]["updatedNumberScheduled"] == 3 && v["status"]["observedGeneration"] == 2);
    assert_eq!(v["metadata"]["generation"], 2, "{v}");

    // Bad input: a selector that does not select the template is 422 naming the field; nothing stored.
    let mut bad = daemonset("bad", "busybox:1", json!({}));
    bad["spec"]["selector"]["matchLabels"]["app"] = json!("other");
    let (code, e) = api.send("POST", DS, &bad);
    assert!(code == 422 && e["message"].as_str().unwrap().contains("`selector` does not match template `labels`"), "{code} {e}");
    assert_eq!(api.get(&format!("{DS}/bad")).0, 404);

    // Orphaned (--cascade=orphan) and made again, the DaemonSet adopts its pods: none is replaced.
    let before = pods_of(&api, "agent");
    let mut again = api.get(&format!("{DS}/agent")).1;
    for f in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
        again["metadata"].as_object_mut().unwrap().remove(f);
    }
    again.as_object_mut().unwrap().remove("status");
    common::kubectl::ok(&k, site.path(), &["delete", "ds", "agent", "--cascade=orphan"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_, all) = api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dagent");
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3), "orphaned, not deleted: {all}");
    assert_eq!(api.send("POST", DS, &again).0, 201);
    let after = wait_pods(&api, "agent", |p| p.len() == 3);
    assert_eq!(after, before, "adopted as they were");
    api.wait_until(&format!("{DS}/agent"), 20, |v| v["status"]["currentNumberScheduled"] == 3 && v["status"]["updatedNumberScheduled"] == 3);

    // Deleting the DaemonSet deletes its pods.
    common::kubectl::ok(&k, site.path(), &["delete", "ds", "agent"]);
    wait_pods(&api, "agent", |p| p.is_empty());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(std::time::Duration::from_secs(20)).success());
}
