//! Edged's lifecycle hooks and security contexts with a real containerd +
//! runc (issue: pods behave as on a kubelet): postStart runs once the
//! container started and a failing one kills it (restartPolicy brings it
//! back); preStop runs before a deleted pod's containers are stopped,
//! inside the grace period; a container runs as the user, groups and
//! capabilities its securityContext says, privileged only where allowed;
//! the downward API, $(VAR) references, hostPID, ConfigMap volume items
//! with their modes and subPath mounts reach the container.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::api::Api;
use common::containerd::{cloud_and_edge, main_log_with, Containerd, APP};
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
    let (_cloud, api, mut edge) = cloud_and_edge(&site, &ctrd);
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

#[test]
fn a_container_runs_as_its_security_context_says_and_privileged_is_refused() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    let script = "id -u; id -g; id -G; touch /probe 2>/dev/null && echo rw || echo ro; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; exec sleep 1000";
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "locked"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1,
                "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
                "containers": [{"name": "main", "image": APP, "command": ["sh", "-c", script],
                    "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}}),
    );
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "containers": [{"name": "main", "image": APP, "securityContext": {"privileged": true}}]}}),
    );
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nonroot"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "securityContext": {"runAsNonRoot": true}, "containers": [{"name": "main", "image": APP}]}}),
    );
    let log = main_log_with(&site, "locked", "NoNewPrivs");
    let lines: Vec<&str> = log.lines().map(|l| l.splitn(4, ' ').nth(3).unwrap_or("")).collect();
    assert_eq!(&lines[..2], ["1000", "3000"], "{log}");
    assert!(lines[2].split(' ').any(|g| g == "2000"), "fsGroup is one of its groups: {log}");
    assert_eq!(lines[3], "ro", "readOnlyRootFilesystem: {log}");
    // Only CAP_NET_BIND_SERVICE (bit 10) is left in the bounding set.
    assert!(log.contains("CapBnd:\t0000000000000400"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    let st = api.wait_until("/api/v1/namespaces/default/pods/root", 30, |v| v["status"]["phase"] == "Failed")["status"].clone();
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.contains("spec.containers[0].securityContext.privileged") && msg.contains("edged.allow_privileged"), "{st}");
    let st = api.wait_until("/api/v1/namespaces/default/pods/nonroot", 30, |v| {
        v["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    })["status"]
        .clone();
    assert!(st["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap_or("").contains("image will run as root"), "{st}");
}

#[test]
fn volume_items_sub_paths_the_downward_api_var_references_and_host_pid_reach_the_container() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    let env = json!([
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "GREETING", "value": "hello-$(POD_NAME)"}
    ]);
    // ConfigMap volume items with a mode, and one key mounted by subPath.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "alpha", "b": "beta"}});
    assert_eq!(api.send("POST", "/api/v1/namespaces/default/configmaps", &cm).0, 201);
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "files"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1,
                "volumes": [{"name": "picked", "configMap": {"name": "conf", "defaultMode": 288, "items": [{"key": "a", "path": "dir/a.txt"}]}},
                    {"name": "whole", "configMap": {"name": "conf"}}],
                "containers": [{"name": "main", "image": APP, "volumeMounts": [{"name": "picked", "mountPath": "/conf"}, {"name": "whole", "mountPath": "/etc/b.txt", "subPath": "b"}],
                    "command": ["sh", "-c", "echo \"listing: $(ls /conf) $(ls /conf/dir) $(cat /conf/dir/a.txt) $(ls -l /conf/dir/a.txt | cut -c1-10) $(cat /etc/b.txt)\"; exec sleep 1000"]}]}}),
    );
    let log = main_log_with(&site, "files", "listing:");
    assert!(log.contains("listing: dir a.txt alpha -r--r----- beta"), "{log}");
    // A symlink an init container plants cannot make a subPath mount the host's root.
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "escape"},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1, "volumes": [{"name": "w", "emptyDir": {}}],
                "initContainers": [{"name": "plant", "image": APP, "command": ["ln", "-s", "/", "/w/x"], "volumeMounts": [{"name": "w", "mountPath": "/w"}]}],
                "containers": [{"name": "main", "image": APP, "volumeMounts": [{"name": "w", "mountPath": "/host", "subPath": "x"}]}]}}),
    );
    let st = api.wait_until("/api/v1/namespaces/default/pods/escape", 30, |v| {
        v["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    })["status"]
        .clone();
    assert!(st["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap_or("").contains("resolves outside its volume"), "{st}");
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "downward", "labels": {"app": "shop"}},
            "spec": {"nodeName": "edge-1", "hostNetwork": true, "hostPID": true, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": APP, "env": env, "resources": {"limits": {"memory": "48Mi"}},
                    "command": ["sh", "-c", "echo \"$(POD_NAME) $NODE $APP $MEM_MI $GREETING\" '$$(NOPE)' \"pid1=$(cat /proc/1/comm)\"; exec sleep 1000"]}]}}),
    );
    let log = main_log_with(&site, "downward", "pid1=");
    let line = log.lines().find(|l| l.contains("pid1=")).unwrap().splitn(4, ' ').nth(3).unwrap_or("").to_string();
    let (fields, pid1) = line.split_once(" pid1=").unwrap();
    assert_eq!(fields, "downward edge-1 shop 48 hello-downward $(NOPE)", "{log}");
    assert_ne!(pid1, "sh", "hostPID: PID 1 is the host's, not the container's shell ({log})");
    // A field the downward API does not have is refused naming it.
    create(
        &api,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "badref"},
            "spec": {"nodeName": "edge-1", "containers": [{"name": "main", "image": APP,
                "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers"}}}]}]}}),
    );
    let st = api.wait_until("/api/v1/namespaces/default/pods/badref", 30, |v| v["status"]["phase"] == "Failed")["status"].clone();
    assert!(st["message"].as_str().unwrap_or("").contains("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"), "{st}");
}
