//! Edged's lifecycle hooks with a real containerd + runc (issue: pods
//! behave as on a kubelet): postStart runs once the container started and
//! a failing one kills it (restartPolicy brings it back); preStop runs
//! before a deleted pod's containers are stopped, inside the grace period.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::containerd::{Containerd, APP};
use common::Site;
use serde_json::{json, Value};

fn create(api: &Api, v: &Value) {
    let (c, b) = api.send("POST", "/api/v1/namespaces/default/pods", v);
    assert_eq!(c, 201, "{b}");
}

fn wait_file(p: &Path, secs: u64) -> String {
    let t0 = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(p) {
            return s;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn post_start_and_pre_stop_hooks_run_and_a_failing_post_start_restarts_the_container() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    site.node_cert("edge-1");
    let extra =
        format!("[edged]\nruntime_socket = \"{}\"\nsync_period_ms = 300\nbackoff_base_ms = 300\n[eventbus]\nlisten = \"127.0.0.1:0\"", ctrd.socket.display());
    let mut edge = site.start_edge("edge-1", hub, &extra);
    edge.wait_for("container runtime containerd", Duration::from_secs(20));
    let marks = site.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let mount = json!([{"name": "marks", "mountPath": "/marks"}]);
    let volumes = json!([{"name": "marks", "hostPath": {"path": marks.display().to_string()}}]);
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hooked"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 10, "volumes": volumes,
                "containers": [{"name": "main", "image": APP, "command": ["sh", "-c", "exec sleep 1000"], "volumeMounts": mount,
                    "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo started > /marks/post-start"]}},
                        "preStop": {"exec": {"command": ["sh", "-c", "sleep 1 && echo stopping > /marks/pre-stop"]}}}}]}}),
    );
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "badhook"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": APP, "command": ["sh", "-c", "exec sleep 1000"],
                    "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}}}]}}),
    );
    assert_eq!(wait_file(&marks.join("post-start"), 30), "started\n");
    let st = api.wait_until("/api/v1/namespaces/default/pods/hooked", 30, |v| v["status"]["phase"] == "Running")["status"].clone();
    assert_eq!(st["containerStatuses"][0]["restartCount"], 0, "{st}");
    assert!(!marks.join("pre-stop").exists(), "preStop ran before any stop");

    // A failing postStart: killed and restarted, the log says why.
    let st = api.wait_until("/api/v1/namespaces/default/pods/badhook", 40, |v| v["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 1);
    eprintln!("badhook: {}", st["status"]);
    edge.wait_for("postStart hook failed", Duration::from_secs(5));

    // Deleting the pod runs preStop (it takes 1 s) before the container is stopped.
    let (c, b) = api.send("DELETE", "/api/v1/namespaces/default/pods/hooked", &json!({}));
    assert_eq!(c, 200, "{b}");
    assert_eq!(wait_file(&marks.join("pre-stop"), 30), "stopping\n");
    let t0 = Instant::now();
    while ctrd.tasks().iter().filter(|(_, s)| s == "RUNNING").count() > 2 {
        assert!(t0.elapsed() < Duration::from_secs(30), "hooked's container still runs: {:?}", ctrd.tasks());
        std::thread::sleep(Duration::from_millis(200));
    }
}
