//! Edged end to end with real processes and a real containerd + runc:
//! pods created through the cloud API run on the edge, report Running,
//! restart with backoff when they fail, show clear reasons when they
//! cannot run, and go away when deleted; an edge restart adopts what runs;
//! after a "reboot" with the cloud down, pods run again and their status
//! reaches the cloud when it is back.

mod common;

use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::containerd::{Containerd, APP};
use common::inproc::free_port;
use common::{Proc, Site};
use serde_json::{json, Value};

fn edge(site: &Site, hub: u16, ctrd: &Containerd) -> Proc {
    let extra =
        format!("[edged]\nruntime_socket = \"{}\"\nsync_period_ms = 300\nbackoff_base_ms = 300\n[eventbus]\nlisten = \"127.0.0.1:0\"", ctrd.socket.display());
    let mut e = site.start_edge("edge-1", hub, &extra);
    e.wait_for("hive edge ready", Duration::from_secs(20));
    e
}

fn pod(name: &str, container: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1, "containers": [container],
                 "volumes": [{"name": "conf", "configMap": {"name": "web-config"}}]}})
}

fn create(api: &Api, v: &Value) {
    let path = if v["kind"] == "Pod" { "/api/v1/namespaces/default/pods" } else { "/api/v1/namespaces/default/configmaps" };
    let (c, b) = api.send("POST", path, v);
    assert_eq!(c, 201, "{b}");
}

fn status(api: &Api, name: &str) -> Value {
    api.get(&format!("/api/v1/namespaces/default/pods/{name}")).1["status"].clone()
}

fn wait_status(api: &Api, name: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    api.wait_until(&format!("/api/v1/namespaces/default/pods/{name}"), secs, |v| ok(&v["status"]))["status"].clone()
}

fn container_id(st: &Value) -> String {
    st["containerStatuses"][0]["containerID"].as_str().unwrap_or("").trim_start_matches("containerd://").to_string()
}

fn running_tasks(ctrd: &Containerd) -> Vec<String> {
    ctrd.tasks().into_iter().filter(|(_, s)| s == "RUNNING").map(|(id, _)| id).collect()
}

#[test]
fn pods_run_restart_report_and_go_away() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (mut cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    site.node_cert("edge-1");
    let mut edge = edge(&site, hub, &ctrd);
    edge.wait_for("container runtime containerd", Duration::from_secs(20));
    api.wait_until("/api/v1/nodes/edge-1", 20, |n| n["status"]["nodeInfo"]["containerRuntimeVersion"].as_str().unwrap_or("").starts_with("containerd://"));

    create(&api, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"greeting": "hello-from-configmap"}}));
    create(
        &api,
        &pod(
            "web",
            json!({"name": "main", "image": APP, "command": ["sh", "-c", "echo env=$GREETING; cat /etc/conf/greeting; echo; exec sleep 1000"],
        "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "greeting"}}}],
        "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]}),
        ),
    );
    let t0 = Instant::now();
    let st = wait_status(&api, "web", 30, |s| s["phase"] == "Running" && s["containerStatuses"][0]["ready"] == true);
    eprintln!("web Running in the cloud {} ms after create", t0.elapsed().as_millis());
    let id = container_id(&st);
    assert!(running_tasks(&ctrd).contains(&id), "container {id} runs in containerd: {:?}", ctrd.tasks());
    let logs = site.path().join("edge-1/pods/logs");
    let log_file =
        std::fs::read_dir(&logs).unwrap().flatten().find(|d| d.file_name().to_string_lossy().starts_with("default_web_")).unwrap().path().join("main/0.log");
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("env=hello-from-configmap") && log.contains("stdout F hello-from-configmap") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "env and volume from the ConfigMap: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // kubectl logs (both versions) reads the container's log from the edge, with its options.
    for k in [common::kubectl::old(), common::kubectl::new()] {
        let all = common::kubectl::ok(&k, site.path(), &["logs", "web"]);
        assert_eq!(all, "env=hello-from-configmap\nhello-from-configmap\n", "{}", k.display());
        assert_eq!(common::kubectl::ok(&k, site.path(), &["logs", "web", "--tail=1"]), "hello-from-configmap\n");
        let stamped = common::kubectl::ok(&k, site.path(), &["logs", "web", "--timestamps", "--limit-bytes=200"]);
        assert!(stamped.starts_with("20") && stamped.contains("Z env=hello-from-configmap\n"), "{stamped}");
        let (found, text) = common::kubectl::run(&k, site.path(), &["logs", "web", "-c", "nope"]);
        assert!(!found && text.contains("container nope is not valid for pod web"), "{text}");
    }

    // A pod without a node: the scheduler binds it to the one Ready edge, where it runs.
    let mut free = pod("free", json!({"name": "main", "image": APP, "command": ["sleep", "1000"]}));
    free["spec"].as_object_mut().unwrap().remove("nodeName");
    create(&api, &free);
    let st = wait_status(&api, "free", 30, |s| s["phase"] == "Running");
    assert_eq!(api.get("/api/v1/namespaces/default/pods/free").1["spec"]["nodeName"], "edge-1", "{st}");

    // A container that exits 1 is restarted with backoff; restartCount grows.
    create(&api, &pod("crash", json!({"name": "main", "image": APP, "command": ["sh", "-c", "exit 1"]})));
    let st = wait_status(&api, "crash", 40, |s| s["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 2);
    let c = &st["containerStatuses"][0];
    let exit = c["lastState"]["terminated"]["exitCode"].as_i64().or(c["state"]["terminated"]["exitCode"].as_i64());
    assert_eq!(exit, Some(1), "{st}");
    wait_status(&api, "crash", 20, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff");

    // Bad input: clear reasons, and the good pod keeps running.
    create(&api, &pod("noimage", json!({"name": "main", "image": "localhost/absent:1"})));
    create(&api, &pod("nocmd", json!({"name": "main", "image": APP, "command": ["/no/such/command"]})));
    create(&api, &pod("nocm", json!({"name": "main", "image": APP, "command": ["sleep", "1000"], "envFrom": [{"configMapRef": {"name": "missing-config"}}]})));
    let st = wait_status(&api, "noimage", 30, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull");
    assert!(st["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap().contains("localhost/absent:1"), "{st}");
    let st = wait_status(&api, "nocmd", 30, |s| {
        let w = &s["containerStatuses"][0];
        w["state"]["waiting"]["reason"] == "RunContainerError" || w["lastState"]["terminated"]["exitCode"].as_i64().is_some_and(|c| c != 0)
    });
    eprintln!("nocmd: {st}");
    let st = wait_status(&api, "nocm", 30, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError");
    assert!(st["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap().contains("missing-config"), "{st}");
    assert!(running_tasks(&ctrd).contains(&id), "web still runs");

    // Events, derived from the reports, as `kubectl describe pod` reads them.
    let reasons = |name: &str| -> Vec<String> {
        let (_, v) = api.get(&format!("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{name},involvedObject.kind%3DPod"));
        v["items"].as_array().map(|a| a.iter().filter_map(|e| e["reason"].as_str().map(String::from)).collect()).unwrap_or_default()
    };
    for (pod, want) in [("web", &["Pulled", "Created", "Started"][..]), ("crash", &["Started", "BackOff"]), ("noimage", &["Failed"])] {
        let got = reasons(pod);
        assert!(want.iter().all(|w| got.iter().any(|g| g == w)), "events of {pod}: {got:?}, want {want:?}");
    }
    let (_, node_events) = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind%3DNode,involvedObject.uid%3Dedge-1");
    let got: Vec<&str> = node_events["items"].as_array().unwrap().iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(got.contains(&"RegisteredNode") && got.contains(&"NodeReady"), "node events: {got:?}");

    // Delete: its containers go within the grace period.
    for name in ["web", "free", "crash", "noimage", "nocmd", "nocm"] {
        let (c, _) = api.call("DELETE", &format!("/api/v1/namespaces/default/pods/{name}"), "application/json", b"", true);
        assert_eq!(c, 200);
    }
    let t0 = Instant::now();
    while !ctrd.container_ids().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "containers left: {:?}", ctrd.container_ids());
        std::thread::sleep(Duration::from_millis(100));
    }
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn an_edge_restart_adopts_and_a_reboot_offline_brings_pods_back() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let hub = free_port();
    let cfg = format!("[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:{hub}\"");
    let (mut cloud, api, _) = start_cloud_with_api(&site, &cfg);
    site.node_cert("edge-1");
    let mut e = edge(&site, hub, &ctrd);
    create(&api, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"greeting": "hi"}}));
    create(&api, &pod("web", json!({"name": "main", "image": APP, "command": ["sh", "-c", "exec sleep 1000"]})));
    let st = wait_status(&api, "web", 30, |s| s["phase"] == "Running");
    let id = container_id(&st);
    let before = ctrd.container_ids();

    // Adoption: a restarted edge creates nothing new.
    e.signal("TERM");
    assert!(e.wait_exit(Duration::from_secs(10)).success());
    let mut e = edge(&site, hub, &ctrd);
    e.wait_for("connected to cloud", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ctrd.container_ids(), before, "no new containers after an edge restart");
    assert_eq!(container_id(&status(&api, "web")), id);

    // "Reboot" with the cloud down: cloud killed, edge killed, containers stopped (not removed).
    cloud.signal("KILL");
    cloud.wait_exit(Duration::from_secs(10));
    e.signal("KILL");
    e.wait_exit(Duration::from_secs(10));
    for (task, _) in ctrd.tasks() {
        let _ = ctrd.ctr(&["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", &task]);
    }
    let t0 = Instant::now();
    while !running_tasks(&ctrd).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "tasks did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let mut e = edge(&site, hub, &ctrd);
    // The pod's container runs again (a new one, in a new sandbox), without the cloud:
    // two new tasks (the sandbox and the container).
    loop {
        let running = running_tasks(&ctrd);
        if running.iter().filter(|t| !before.contains(t)).count() >= 2 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "pod not running again: {:?}", ctrd.tasks());
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t0.elapsed();
    eprintln!("pod running again {} ms after the edge started, cloud down", took.as_millis());
    assert!(took < Duration::from_secs(5) + Duration::from_millis(500), "within 5 s of the edge start: {took:?}");
    // The cloud comes back: the new status arrives, naming the new container.
    let (mut cloud, api, _) = start_cloud_with_api(&site, &cfg);
    let st = wait_status(&api, "web", 30, |s| container_id(s) != id && s["phase"] == "Running");
    assert!(running_tasks(&ctrd).contains(&container_id(&st)), "{st}");
    assert_eq!(st["containerStatuses"][0]["ready"], true);
    e.signal("TERM");
    assert!(e.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}

/// A Deployment on a real edge: its pods are placed by the scheduler, run
/// on containerd, report Ready, and `kubectl set env` rolls them (a new
/// ReplicaSet, maxUnavailable 0) until `kubectl rollout status` is done and
/// only the new containers run; deleting it removes every container.
#[test]
fn a_deployment_rolls_out_on_a_real_edge() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (mut cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    site.node_cert("edge-1");
    let mut edge = edge(&site, hub, &ctrd);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"hostNetwork": true, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": APP, "command": ["sh", "-c", "exec sleep 1000"], "env": [{"name": "V", "value": "1"}]}]}}}});
    let (c, b) = api.send("POST", "/apis/apps/v1/namespaces/default/deployments", &d);
    assert_eq!(c, 201, "{b}");
    let deploy = "/apis/apps/v1/namespaces/default/deployments/web";
    api.wait_until(deploy, 60, |v| v["status"]["availableReplicas"] == 2);
    let ids = || -> Vec<String> {
        let (_, pods) = api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
        pods["items"].as_array().unwrap().iter().map(|p| container_id(&p["status"])).collect()
    };
    let first = ids();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|id| running_tasks(&ctrd).contains(id)), "{first:?} run in containerd: {:?}", ctrd.tasks());
    let k = common::kubectl::new();
    common::kubectl::ok(&k, site.path(), &["set", "env", "deployment/web", "V=2"]);
    let out = common::kubectl::ok(&k, site.path(), &["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let v = api.get(deploy).1;
    let env = &v["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env, &json!([{"name": "V", "value": "2"}]), "{v}");
    let (_, pods) = api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
    let items = pods["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{pods}");
    assert!(items.iter().all(|p| p["spec"]["containers"][0]["env"][0]["value"] == "2" && p["status"]["phase"] == "Running"), "{pods}");
    let second = ids();
    assert!(second.iter().all(|id| !first.contains(id) && running_tasks(&ctrd).contains(id)), "{second:?}: {:?}", ctrd.tasks());
    let t0 = Instant::now();
    while first.iter().any(|id| ctrd.container_ids().contains(id)) {
        assert!(t0.elapsed() < Duration::from_secs(30), "old containers left: {:?}", ctrd.tasks());
        std::thread::sleep(Duration::from_millis(100));
    }
    common::kubectl::ok(&k, site.path(), &["delete", "deployment", "web"]);
    let t0 = Instant::now();
    while !ctrd.container_ids().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "containers left: {:?}", ctrd.container_ids());
        std::thread::sleep(Duration::from_millis(100));
    }
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}
