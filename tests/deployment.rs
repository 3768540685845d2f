//! Deployments and ReplicaSets in a real `hive cloud`, driven by kubectl
//! 1.20 and 1.32 as a user would: create, scale, set image (a rolling
//! update that keeps maxSurge and maxUnavailable at every observed moment),
//! rollout status / history / undo / pause / resume, Recreate, cascading
//! deletion (background, foreground, orphan) and bad specs refused.
//!
//! Nodes are Node objects written through the API (as in tests/scheduler.rs)
//! and a "kubelet" thread here marks each pod bound to one of them Running
//! and Ready a little after it appears; tests/edged.rs runs a Deployment on
//! a real containerd edge.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::kubectl;
use common::Site;
use serde_json::{json, Value};

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";
const RS: &str = "/apis/apps/v1/namespaces/default/replicasets";

fn node(api: &Api, name: &str) {
    let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    assert_eq!(api.send("POST", "/api/v1/nodes", &n).0, 201);
    let st = json!({"status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"}, "capacity": {"cpu": "4", "memory": "4Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(api.send("PATCH", &format!("/api/v1/nodes/{name}/status"), &st).0, 200);
}

fn clone(api: &Api) -> Api {
    Api { port: api.port, token: api.token.clone(), tls: api.tls.clone() }
}

/// A pod as the tests look at it.
#[derive(Clone, Debug)]
struct Pod {
    name: String,
    node: String,
    image: String,
    hash: String,
    ready: bool,
}

fn pods(api: &Api, app: &str) -> Vec<Pod> {
    let (_, list) = api.get(&format!("/api/v1/namespaces/default/pods?labelSelector=app%3D{app}"));
    let s = |p: &Value, path: &str| p.pointer(path).and_then(Value::as_str).unwrap_or("").to_string();
    list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| Pod {
                    name: s(p, "/metadata/name"),
                    node: s(p, "/spec/nodeName"),
                    image: s(p, "/spec/containers/0/image"),
                    hash: s(p, "/metadata/labels/pod-template-hash"),
                    ready: hive::kube::items(p, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_pods(api: &Api, app: &str, secs: u64, want: impl Fn(&[Pod]) -> bool) -> Vec<Pod> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let p = pods(api, app);
        if want(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "pods of {app}: {p:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Marks every pod bound to a node Running and Ready `delay` after it is
/// first seen, as the edges would; stops when the flag is set.
fn kubelet(api: Api, delay: Duration, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen: BTreeMap<String, Instant> = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            let (_, list) = api.get("/api/v1/namespaces/default/pods");
            for p in list["items"].as_array().into_iter().flatten() {
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                let bound = p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
                let ready = hive::kube::items(p, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True");
                if !bound || ready {
                    continue;
                }
                let first = *seen.entry(name.clone()).or_insert_with(Instant::now);
                if first.elapsed() >= delay {
                    let st = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": hive::kube::rfc3339_now()}]}});
                    api.send("PATCH", &format!("/api/v1/namespaces/default/pods/{name}/status"), &st);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Samples the pods of `app` until stopped: (most pods at once, fewest Ready at once, samples).
fn sampler(api: Api, app: &'static str, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<Vec<Pod>>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let p = pods(&api, app);
            seen.lock().unwrap().push(p);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

fn header(out: &str) -> Vec<String> {
    out.lines().next().unwrap_or("").split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
}

#[test]
fn deployments_roll_scale_undo_and_cascade_with_kubectl() {
    let site = Site::new();
    let (mut cloud, api, _) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n");
    for n in ["n-1", "n-2", "n-3"] {
        node(&api, n);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let kl = kubelet(clone(&api), Duration::from_millis(300), stop.clone());
    let (old, new) = (kubectl::old(), kubectl::new());
    let dir = site.path();

    // kubectl 1.20 creates it; the scheduler spreads the four pods over the three nodes.
    kubectl::ok(&old, dir, &["create", "deployment", "web", "--image=busybox:1", "--replicas=4"]);
    let p = wait_pods(&api, "web", 30, |p| p.len() == 4 && p.iter().all(|p| p.ready));
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for x in &p {
        *per_node.entry(&x.node).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "spread over every node: {p:?}");
    assert!(p.iter().all(|x| x.name.starts_with("web-") && x.name.len() == "web-".len() + x.hash.len() + 6), "{p:?}");
    // What the controllers did is in events, as kubectl describe shows them.
    let d = kubectl::ok(&new, dir, &["describe", "deployment", "web"]);
    assert!(d.contains("ScalingReplicaSet") && d.contains(&format!("Scaled up replica set web-{} from 0 to 4", p[0].hash)), "{d}");
    let r = kubectl::ok(&new, dir, &["describe", "rs", &format!("web-{}", p[0].hash)]);
    assert!(r.contains("SuccessfulCreate") && r.contains(&format!("Created pod: {}", p[0].name)), "{r}");
    let out = kubectl::ok(&new, dir, &["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = kubectl::ok(&new, dir, &["get", "deploy", "web"]);
    assert_eq!(header(&out), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{out}");
    assert!(out.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>()[..4] == ["web", "4/4", "4", "4"], "{out}");
    let out = kubectl::ok(&old, dir, &["get", "rs"]);
    assert_eq!(header(&out), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], "{out}");

    // kubectl scale, both versions (the /scale subresource).
    kubectl::ok(&new, dir, &["scale", "deployment", "web", "--replicas=5"]);
    wait_pods(&api, "web", 30, |p| p.len() == 5 && p.iter().all(|p| p.ready));
    kubectl::ok(&old, dir, &["scale", "deployment/web", "--replicas=4"]);
    wait_pods(&api, "web", 30, |p| p.len() == 4);
    api.wait_until(&format!("{DEPLOY}/web"), 30, |d| d["status"]["availableReplicas"] == 4 && d["status"]["replicas"] == 4);

    // set image rolls: never more than 4 + 1 (maxSurge 25%, rounded up) pods, never fewer than 4 - 1 Ready.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(false));
    let s = sampler(clone(&api), "web", sampling.clone(), seen.clone());
    kubectl::ok(&new, dir, &["set", "image", "deployment/web", "busybox=busybox:2"]);
    let out = kubectl::ok(&new, dir, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    sampling.store(true, Ordering::Relaxed);
    s.join().unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "{} samples", seen.len());
    for p in seen.iter() {
        assert!(p.len() <= 5, "more than replicas + maxSurge: {p:?}");
        assert!(p.iter().filter(|x| x.ready).count() >= 3, "fewer than replicas - maxUnavailable Ready: {p:?}");
    }
    let p = wait_pods(&api, "web", 30, |p| p.len() == 4 && p.iter().all(|x| x.image == "busybox:2" && x.ready));
    let rolled_hash = p[0].hash.clone();
    let d = api.get(&format!("{DEPLOY}/web")).1;
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2", "{d}");
    let conds: Vec<&str> = hive::kube::items(&d, "/status/conditions").filter_map(|c| c["reason"].as_str()).collect();
    assert_eq!(conds, ["MinimumReplicasAvailable", "NewReplicaSetAvailable"], "{d}");
    // The container kept everything but its image (a strategic merge patch).
    let c = &d["spec"]["template"]["spec"]["containers"];
    assert_eq!((c.as_array().map(Vec::len), &c[0]["name"], &c[0]["resources"]), (Some(1), &json!("busybox"), &json!({})), "{d}");

    // History and undo (kubectl 1.20 sends a JSON patch).
    let out = kubectl::ok(&new, dir, &["rollout", "history", "deployment/web"]);
    let revs: Vec<&str> = out.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| w.parse::<u32>().is_ok()).collect();
    assert_eq!(revs, ["1", "2"], "{out}");
    kubectl::ok(&old, dir, &["rollout", "undo", "deployment/web"]);
    kubectl::ok(&new, dir, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    let p = wait_pods(&api, "web", 30, |p| p.len() == 4 && p.iter().all(|x| x.image == "busybox:1" && x.ready));
    assert_ne!(p[0].hash, rolled_hash);
    let d = api.get(&format!("{DEPLOY}/web")).1;
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3", "the old template is revision 3 now: {d}");
    let (_, rs) = api.get(RS);
    assert_eq!(rs["items"].as_array().unwrap().len(), 2, "two ReplicaSets, one per template: {rs}");

    // Paused: a new image does not roll until resumed.
    kubectl::ok(&new, dir, &["rollout", "pause", "deployment/web"]);
    kubectl::ok(&new, dir, &["set", "image", "deployment/web", "busybox=busybox:3"]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(pods(&api, "web").iter().all(|x| x.image == "busybox:1"), "rolled while paused");
    assert_eq!(api.get(RS).1["items"].as_array().unwrap().len(), 2);
    kubectl::ok(&old, dir, &["rollout", "resume", "deployment/web"]);
    kubectl::ok(&new, dir, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    wait_pods(&api, "web", 30, |p| p.len() == 4 && p.iter().all(|x| x.image == "busybox:3"));

    // Bad specs: 422 naming the field, nothing stored.
    let bad = |spec: Value| {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
            "spec": {"selector": {"matchLabels": {"app": "bad"}}, "template": {"metadata": {"labels": {"app": "bad"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        hive::kube::merge(&mut d["spec"], &spec);
        let (code, e) = api.send("POST", DEPLOY, &d);
        assert_eq!(code, 422, "{e}");
        assert_eq!(api.get(&format!("{DEPLOY}/bad")).0, 404);
        e["message"].as_str().unwrap_or("").to_string()
    };
    assert!(bad(json!({"replicas": -1})).starts_with("spec.replicas: Invalid value: -1"));
    assert!(bad(json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}})).contains("may not be 0 when `maxSurge` is 0"));
    assert!(bad(json!({"selector": {"matchLabels": {"app": "other"}}})).contains("`selector` does not match template `labels`"));
    let (code, e) = api.send("PATCH", &format!("{DEPLOY}/web/scale"), &json!({"spec": {"replicas": -2}}));
    assert_eq!(code, 422, "{e}");
    let moved = json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}});
    let (code, e) = api.send("PATCH", &format!("{DEPLOY}/web"), &moved);
    assert!(code == 422 && e["message"].as_str().unwrap_or("").contains("field is immutable"), "{code} {e}");

    // Cascades: orphan keeps the ReplicaSets and pods; background (the default) deletes them after.
    let mut again = api.get(&format!("{DEPLOY}/web")).1;
    kubectl::ok(&new, dir, &["delete", "deployment", "web", "--cascade=orphan"]);
    std::thread::sleep(Duration::from_millis(500));
    let (_, rs) = api.get(RS);
    let items = rs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{rs}");
    assert!(items.iter().all(|r| r["metadata"]["ownerReferences"].is_null()), "{rs}");
    let before: Vec<String> = pods(&api, "web").into_iter().map(|p| p.name).collect();
    assert_eq!(before.len(), 4);
    // The same Deployment made again adopts its orphaned ReplicaSets: no new one, no pod replaced.
    for f in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
        again["metadata"].as_object_mut().unwrap().remove(f);
    }
    again.as_object_mut().unwrap().remove("status");
    assert_eq!(api.send("POST", DEPLOY, &again).0, 201);
    let uid = api.get(&format!("{DEPLOY}/web")).1["metadata"]["uid"].as_str().unwrap().to_string();
    let rs = api.wait_until(RS, 30, |v| {
        v["items"].as_array().is_some_and(|a| a.len() == 3 && a.iter().all(|r| r["metadata"]["ownerReferences"][0]["uid"] == uid.as_str()))
    });
    assert_eq!(rs["items"].as_array().unwrap().len(), 3, "adopted, not remade: {rs}");
    api.wait_until(&format!("{DEPLOY}/web"), 30, |d| d["status"]["availableReplicas"] == 4);
    let after: Vec<String> = pods(&api, "web").into_iter().map(|p| p.name).collect();
    assert_eq!(after, before, "the pods were kept");
    // A pod relabelled out of the selector is released and replaced; it stays, owned by nobody.
    kubectl::ok(&new, dir, &["label", "pod", &before[0], "app=debug", "--overwrite"]);
    wait_pods(&api, "web", 30, |p| p.len() == 4 && p.iter().all(|p| p.name != before[0]));
    let debug = api
        .wait_until(&format!("/api/v1/namespaces/default/pods/{}", before[0]), 30, |p| p["metadata"]["ownerReferences"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(debug["metadata"]["labels"]["app"], "debug");
    kubectl::ok(&old, dir, &["delete", "deployment", "web"]);
    wait_pods(&api, "web", 30, |p| p.is_empty());
    kubectl::ok(&old, dir, &["delete", "pod", &before[0]]);

    kubectl::ok(&old, dir, &["create", "deployment", "fg", "--image=busybox:1", "--replicas=2"]);
    wait_pods(&api, "fg", 30, |p| p.len() == 2);
    kubectl::ok(&new, dir, &["delete", "deployment", "fg", "--cascade=foreground"]);
    assert!(pods(&api, "fg").is_empty(), "foreground: the pods went before the Deployment");
    assert!(api.get(RS).1["items"].as_array().unwrap().is_empty());

    // kubectl 1.32 sends this one as protobuf.
    kubectl::ok(&new, dir, &["create", "deployment", "bg", "--image=busybox:1", "--replicas=2", "--port=8080", "--", "sleep", "3600"]);
    wait_pods(&api, "bg", 30, |p| p.len() == 2);
    let c = api.get(&format!("{DEPLOY}/bg")).1["spec"]["template"]["spec"]["containers"][0].clone();
    assert_eq!((&c["ports"][0]["containerPort"], &c["command"]), (&json!(8080), &json!(["sleep", "3600"])), "{c}");
    kubectl::ok(&new, dir, &["delete", "deployment", "bg"]);
    wait_pods(&api, "bg", 30, |p| p.is_empty());
    api.wait_until(RS, 30, |v| v["items"].as_array().is_some_and(Vec::is_empty));

    stop.store(true, Ordering::Relaxed);
    kl.join().unwrap();
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn recreate_removes_every_old_pod_before_new_ones_and_replicasets_keep_their_count() {
    let site = Site::new();
    let (mut cloud, api, _) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n");
    node(&api, "n-1");
    node(&api, "n-2");
    let stop = Arc::new(AtomicBool::new(false));
    let kl = kubelet(clone(&api), Duration::from_millis(200), stop.clone());
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "rc"},
        "spec": {"replicas": 3, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"app": "rc"}},
            "template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}});
    assert_eq!(api.send("POST", DEPLOY, &d).0, 201);
    wait_pods(&api, "rc", 30, |p| p.len() == 3 && p.iter().all(|x| x.ready));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(false));
    let s = sampler(clone(&api), "rc", sampling.clone(), seen.clone());
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}});
    assert_eq!(api.send("PATCH", &format!("{DEPLOY}/rc"), &patch).0, 200);
    wait_pods(&api, "rc", 30, |p| p.len() == 3 && p.iter().all(|x| x.image == "busybox:2" && x.ready));
    sampling.store(true, Ordering::Relaxed);
    s.join().unwrap();
    for p in seen.lock().unwrap().iter() {
        let images: std::collections::BTreeSet<&str> = p.iter().map(|x| x.image.as_str()).collect();
        assert!(images.len() <= 1, "old and new pods at once under Recreate: {p:?}");
    }

    // A ReplicaSet on its own: a deleted pod is replaced, /scale (PUT, as kubectl 1.20 does with --current-replicas) shrinks it.
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "solo"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "solo"}},
            "template": {"metadata": {"labels": {"app": "solo"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}});
    std::fs::write(site.path().join("rs.json"), rs.to_string()).unwrap();
    kubectl::ok(&kubectl::new(), site.path(), &["apply", "-f", "rs.json"]);
    let p = wait_pods(&api, "solo", 30, |p| p.len() == 3 && p.iter().all(|x| x.ready));
    assert!(p.iter().all(|x| x.name.starts_with("solo-") && x.name.len() == 10), "{p:?}");
    assert_eq!(api.send("DELETE", &format!("/api/v1/namespaces/default/pods/{}", p[0].name), &json!({})).0, 200);
    wait_pods(&api, "solo", 30, |q| q.len() == 3 && q.iter().all(|x| x.name != p[0].name));
    let v = api.wait_until(&format!("{RS}/solo"), 30, |v| v["status"]["readyReplicas"] == 3 && v["status"]["availableReplicas"] == 3);
    assert_eq!(v["status"]["fullyLabeledReplicas"], 3);
    kubectl::ok(&kubectl::old(), site.path(), &["scale", "rs", "solo", "--current-replicas=3", "--replicas=1"]);
    wait_pods(&api, "solo", 30, |p| p.len() == 1);
    let (code, sc) = api.get(&format!("{RS}/solo/scale"));
    assert_eq!((code, &sc["kind"], &sc["spec"]["replicas"], &sc["status"]["selector"]), (200, &json!("Scale"), &json!(1), &json!("app=solo")), "{sc}");
    // A precondition that no longer holds is refused.
    let (ok, out) = kubectl::run(&kubectl::old(), site.path(), &["scale", "rs", "solo", "--current-replicas=3", "--replicas=2"]);
    assert!(!ok && out.contains("3"), "{out}");

    stop.store(true, Ordering::Relaxed);
    kl.join().unwrap();
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(20)).success());
}

/// Edge autonomy: an edge killed for real goes unreachable; its pods stay
/// (marked Unknown) — except those whose toleration of
/// `node.kubernetes.io/unreachable` has a `tolerationSeconds`: they are
/// evicted once it runs out and their ReplicaSet remakes them on the edge
/// that is still there.
#[test]
fn an_unreachable_edge_keeps_its_pods_unless_they_tolerate_less() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(
        &site,
        "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 2\n[edgecontroller]\npod_unknown_grace_s = 1\n",
    );
    let mut edges = Vec::new();
    for name in ["edge-a", "edge-b"] {
        site.node_cert(name);
        let mut e = site.start_edge(name, hub, "modules = [\"edgehub\", \"metamanager\"]");
        e.wait_for("hive edge ready", Duration::from_secs(20));
        api.wait_until(&format!("/api/v1/nodes/{name}"), 20, |n| {
            hive::kube::items(n, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        let st = json!({"status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"}}});
        assert_eq!(api.send("PATCH", &format!("/api/v1/nodes/{name}/status"), &st).0, 200);
        edges.push(e);
    }
    // Everything starts on edge-a (edge-b cordoned meanwhile).
    assert_eq!(api.send("PATCH", "/api/v1/nodes/edge-b", &json!({"spec": {"unschedulable": true}})).0, 200);
    let tol = json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "tol"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "tol"}},
            "template": {"metadata": {"labels": {"app": "tol"}}, "spec": {"tolerations": tol, "containers": [{"name": "c", "image": "busybox"}]}}}});
    assert_eq!(api.send("POST", DEPLOY, &d).0, 201);
    let stay = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stay", "labels": {"app": "stay"}},
        "spec": {"nodeName": "edge-a", "containers": [{"name": "c", "image": "busybox"}]}});
    assert_eq!(api.send("POST", "/api/v1/namespaces/default/pods", &stay).0, 201);
    let first = wait_pods(&api, "tol", 20, |p| p.len() == 2 && p.iter().all(|x| x.node == "edge-a"));
    assert_eq!(api.send("PATCH", "/api/v1/nodes/edge-b", &json!({"spec": {"unschedulable": false}})).0, 200);

    edges[0].signal("KILL");
    let moved = wait_pods(&api, "tol", 40, |p| p.len() == 2 && p.iter().all(|x| x.node == "edge-b"));
    assert!(moved.iter().all(|m| first.iter().all(|f| f.name != m.name)), "replacements, not the same pods: {moved:?}");
    let v = api.wait_until("/api/v1/namespaces/default/pods/stay", 20, |v| v["status"]["phase"] == "Unknown");
    assert_eq!(v["spec"]["nodeName"], "edge-a", "a pod without a bounded toleration stays on its edge: {v}");
    let (_, evs) = api.get("/api/v1/namespaces/default/events?fieldSelector=reason%3DTaintManagerEviction");
    assert_eq!(evs["items"].as_array().map(Vec::len), Some(2), "{evs}");

    let _ = edges[0].wait_exit(Duration::from_secs(5));
    edges[1].signal("TERM");
    assert!(edges[1].wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(20)).success());
}
