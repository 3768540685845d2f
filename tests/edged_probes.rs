//! Edged's probes, resources and pull policy with real processes and a
//! real containerd + runc (issue: pods behave as on a kubelet): readiness
//! follows an HTTP server's answers, a failed liveness probe restarts the
//! container — with the cloud down too —, a memory limit OOM-kills, a cpu
//! limit is the container's CFS quota, `Never` with no image says so.

mod common;

use std::time::{Duration, Instant};

use common::api::{start_cloud_with_api, Api};
use common::containerd::{cloud_and_edge, edge_config, main_log, Containerd, APP};
use common::inproc::free_port;
use common::{Proc, Site};
use serde_json::{json, Value};

fn pod(name: &str, restart: &str, container: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1, "restartPolicy": restart, "containers": [container]}})
}

fn create(api: &Api, v: &Value) {
    let (c, b) = api.send("POST", "/api/v1/namespaces/default/pods", v);
    assert_eq!(c, 201, "{b}");
}

fn wait_status(api: &Api, name: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    api.wait_until(&format!("/api/v1/namespaces/default/pods/{name}"), secs, |v| ok(&v["status"]))["status"].clone()
}

fn condition(st: &Value, kind: &str) -> String {
    st["conditions"].as_array().and_then(|a| a.iter().find(|c| c["type"] == kind)).and_then(|c| c["status"].as_str()).unwrap_or("").to_string()
}

#[test]
fn readiness_follows_the_app_and_a_failed_liveness_probe_restarts_it_online_and_offline() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let hub = free_port();
    let cfg = format!("[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:{hub}\"");
    let (mut cloud, api, _) = start_cloud_with_api(&site, &cfg);
    site.node_cert("edge-1");
    let mut edge = site.start_edge("edge-1", hub, &edge_config(&ctrd));
    edge.wait_for("container runtime containerd", Duration::from_secs(20));

    // An HTTP server whose /ready.txt is missing for 5 s, there for 10 s, then gone.
    let port = free_port();
    let script = format!("mkdir -p /www && httpd -p {port} -h /www && sleep 5 && echo ok > /www/ready.txt && sleep 10 && rm /www/ready.txt && exec sleep 1000");
    create(
        &api,
        &pod(
            "web",
            "Always",
            json!({"name": "main", "image": APP, "command": ["sh", "-c", script], "ports": [{"name": "http", "containerPort": port}],
                "readinessProbe": {"httpGet": {"path": "/ready.txt", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1}}),
        ),
    );
    // Alive while /tmp/alive exists; it removes it after 4 s.
    create(
        &api,
        &pod(
            "live",
            "Always",
            json!({"name": "main", "image": APP, "command": ["sh", "-c", "touch /tmp/alive && sleep 4 && rm /tmp/alive && exec sleep 1000"],
                "livenessProbe": {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2},
                "startupProbe": {"tcpSocket": {"host": "127.0.0.1", "port": port}, "periodSeconds": 1, "failureThreshold": 30}}),
        ),
    );

    // A probe that hangs for a minute (a server that accepts and never answers) holds nothing else up.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(50).collect();
        drop(held);
    });
    create(
        &api,
        &pod(
            "hung",
            "Always",
            json!({"name": "main", "image": APP,
                "readinessProbe": {"httpGet": {"host": "127.0.0.1", "path": "/", "port": silent_port}, "periodSeconds": 1, "timeoutSeconds": 60}}),
        ),
    );
    let st = wait_status(&api, "web", 30, |s| s["phase"] == "Running");
    assert_eq!((condition(&st, "Ready"), st["containerStatuses"][0]["ready"].clone()), ("False".into(), json!(false)), "not ready before /ready.txt: {st}");
    let t0 = Instant::now();
    let st = wait_status(&api, "web", 30, |s| condition(s, "Ready") == "True");
    eprintln!("web Ready {} ms after it was seen running", t0.elapsed().as_millis());
    assert_eq!((condition(&st, "ContainersReady"), st["containerStatuses"][0]["ready"].clone()), ("True".into(), json!(true)), "{st}");
    let st = wait_status(&api, "web", 30, |s| condition(s, "Ready") == "False");
    assert_eq!(st["containerStatuses"][0]["restartCount"], 0, "readiness never restarts: {st}");
    assert!(st["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["reason"] == "ContainersNotReady"), "{st}");
    // What failed is an Event, as a kubelet records it.
    let event = |pod: &'static str, reason: &'static str, text: &'static str| {
        move |v: &Value| {
            v["items"].as_array().is_some_and(|a| {
                a.iter().any(|e| e["involvedObject"]["name"] == pod && e["reason"] == reason && e["message"].as_str().unwrap_or("").contains(text))
            })
        }
    };
    api.wait_until("/api/v1/namespaces/default/events", 20, event("web", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404"));

    // Liveness: killed when /tmp/alive goes, restarted by restartPolicy.
    let st = wait_status(&api, "live", 40, |s| s["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 1);
    eprintln!("live after its first liveness failure: {st}");
    edge.wait_for("failed its liveness probe", Duration::from_secs(5));
    api.wait_until("/api/v1/namespaces/default/events", 20, event("live", "Killing", "Container main failed liveness probe, will be restarted"));
    api.wait_until(
        "/api/v1/namespaces/default/events",
        20,
        event("live", "Unhealthy", "Liveness probe failed: command [\"cat\", \"/tmp/alive\"] exited with 1"),
    );

    // Offline: the cloud goes, probes go on — the next liveness failure restarts it again.
    let before = st["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0);
    cloud.signal("KILL");
    let _ = cloud.wait_exit(Duration::from_secs(10));
    let kills = |e: &mut Proc| e.drain().iter().filter(|l| l.contains("failed its liveness probe")).count();
    let seen = kills(&mut edge);
    let t0 = Instant::now();
    while kills(&mut edge) == seen {
        assert!(t0.elapsed() < Duration::from_secs(40), "no liveness restart while offline");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The same cloud again (same data, same hub port): the restarts made offline arrive.
    let (_cloud, api, _) = start_cloud_with_api(&site, &cfg);
    let st = wait_status(&api, "live", 60, |s| s["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) > before);
    eprintln!("live after the cloud came back: restartCount {}", st["containerStatuses"][0]["restartCount"]);
}

#[test]
fn limits_reach_the_cgroup_an_oom_kill_says_so_and_never_pull_needs_the_image() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    // It prints its CFS quota (cgroup v1 or v2), then takes 64 MiB with a 32 MiB limit.
    let script = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null; exec dd if=/dev/zero of=/dev/null bs=64M count=1";
    create(
        &api,
        &pod(
            "hog",
            "Never",
            json!({"name": "main", "image": APP, "command": ["sh", "-c", script],
                "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "32Mi"}}}),
        ),
    );
    create(&api, &pod("never", "Always", json!({"name": "main", "image": "localhost/absent:1", "imagePullPolicy": "Never"})));
    let st = wait_status(&api, "hog", 40, |s| s["containerStatuses"][0]["state"]["terminated"].is_object());
    let t = &st["containerStatuses"][0]["state"]["terminated"];
    assert_eq!((t["reason"].as_str(), t["exitCode"].as_i64()), (Some("OOMKilled"), Some(137)), "{st}");
    assert_eq!(st["phase"], "Failed", "{st}");
    assert_eq!(st["qosClass"], "Burstable", "{st}");
    let log = main_log(&site, "hog");
    assert!(log.contains(" 50000"), "a cpu limit of 500m is a quota of 50,000 µs per 100,000: {log}");
    let st = wait_status(&api, "never", 30, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImageNeverPull");
    let msg = st["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("localhost/absent:1") && msg.contains("Never"), "{msg}");
}

fn kubectl_status(site: &Site, name: &str) -> String {
    let out = common::kubectl::ok(&common::kubectl::new(), site.path(), &["get", "pod", name, "--no-headers"]);
    out.split_whitespace().nth(2).unwrap_or("").to_string()
}

#[test]
fn init_containers_run_in_order_before_the_app_and_a_failing_one_loops() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    // The first writes a file after 3 s, the second checks it is there and adds to it, the app prints it.
    let mut ordered = pod(
        "ordered",
        "Always",
        json!({"name": "main", "image": APP, "command": ["sh", "-c", "cat /work/trace && exec sleep 1000"],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}]}),
    );
    ordered["spec"]["volumes"] = json!([{"name": "work", "emptyDir": {}}]);
    ordered["spec"]["initContainers"] = json!([
        {"name": "first", "image": APP, "command": ["sh", "-c", "sleep 3 && echo first > /work/trace"], "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
        {"name": "second", "image": APP, "command": ["sh", "-c", "test -f /work/trace && echo second >> /work/trace"], "volumeMounts": [{"name": "work", "mountPath": "/work"}]}
    ]);
    create(&api, &ordered);
    let mut failing = pod("failing", "Always", json!({"name": "main", "image": APP}));
    failing["spec"]["initContainers"] = json!([{"name": "setup", "image": APP, "command": ["sh", "-c", "exit 3"]}]);
    create(&api, &failing);

    // While the first runs: Pending, not Initialized, the app waits.
    let st = wait_status(&api, "ordered", 30, |s| s["initContainerStatuses"][0]["state"]["running"].is_object());
    assert_eq!(st["phase"], "Pending", "{st}");
    assert_eq!(condition(&st, "Initialized"), "False", "{st}");
    assert_eq!(st["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing", "{st}");
    assert_eq!(st["initContainerStatuses"][1]["state"]["waiting"]["reason"], "PodInitializing", "{st}");
    assert_eq!(kubectl_status(&site, "ordered"), "Init:0/2");
    let st = wait_status(&api, "ordered", 40, |s| s["phase"] == "Running");
    assert_eq!(condition(&st, "Initialized"), "True", "{st}");
    for (i, name) in ["first", "second"].into_iter().enumerate() {
        let c = &st["initContainerStatuses"][i];
        assert_eq!((c["name"].as_str(), c["state"]["terminated"]["exitCode"].as_i64(), c["ready"].as_bool()), (Some(name), Some(0), Some(true)), "{st}");
    }
    let t0 = Instant::now();
    while !main_log(&site, "ordered").contains("second") {
        assert!(t0.elapsed() < Duration::from_secs(20), "the app did not print what the init containers wrote: {:?}", main_log(&site, "ordered"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = main_log(&site, "ordered");
    assert!(log.contains(" first\n") && log.contains(" second\n") && log.find(" first").unwrap() < log.find(" second").unwrap(), "{log}");
    let k = common::kubectl::new();
    let init_log = common::kubectl::ok(&k, site.path(), &["logs", "ordered", "-c", "first"]);
    assert_eq!(init_log, "", "the first init container printed nothing");

    // The failing one is retried with backoff; the app never starts.
    let st = wait_status(&api, "failing", 40, |s| s["initContainerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 2);
    assert_eq!(st["phase"], "Pending", "{st}");
    assert!(st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing", "{st}");
    assert_eq!(
        st["initContainerStatuses"][0]["lastState"]["terminated"]["exitCode"]
            .as_i64()
            .or(st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"].as_i64()),
        Some(3),
        "{st}"
    );
    let t0 = Instant::now();
    loop {
        let s = kubectl_status(&site, "failing");
        if s == "Init:CrashLoopBackOff" {
            break;
        }
        assert!(["Init:Error", "Init:0/1"].contains(&s.as_str()), "kubectl shows {s}");
        assert!(t0.elapsed() < Duration::from_secs(30), "never Init:CrashLoopBackOff (last {s})");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!ctrd.tasks().is_empty());
}

/// A registry on 127.0.0.1 that wants Basic credentials: it records every
/// Authorization header it is sent and answers 401 without one, 404 with one.
fn registry() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().take(200).flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut auth = None;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((n, v)) = line.split_once(':') {
                    if n.eq_ignore_ascii_case("authorization") {
                        auth = Some(v.trim().to_string());
                    }
                }
            }
            let mut w = conn;
            let answer = match auth {
                Some(a) => {
                    s.lock().unwrap().push(a);
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                }
                None => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"hive-test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            };
            let _ = w.write_all(answer.as_bytes());
        }
    });
    (port, seen)
}

#[test]
fn image_pull_secrets_reach_the_registry_through_cri() {
    use base64::Engine as _;
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    let (port, seen) = registry();
    let b64 = base64::engine::general_purpose::STANDARD;
    let config = json!({"auths": {format!("127.0.0.1:{port}"): {"auth": b64.encode("robot:s3cret")}}});
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64.encode(config.to_string())}});
    let (c, b) = api.send("POST", "/api/v1/namespaces/default/secrets", &secret);
    assert_eq!(c, 201, "{b}");
    let mut p = pod("private", "Always", json!({"name": "main", "image": format!("127.0.0.1:{port}/team/app:1")}));
    p["spec"]["imagePullSecrets"] = json!([{"name": "regcred"}]);
    create(&api, &p);
    let st = wait_status(&api, "private", 40, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull");
    let want = format!("Basic {}", b64.encode("robot:s3cret"));
    let got = seen.lock().unwrap().clone();
    assert!(got.contains(&want), "the registry never saw the secret's credentials ({got:?}); pod: {st}");
    // With the credentials accepted the registry says the image is not there: the pull got past authentication.
    let msg = st["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap_or("").to_lowercase();
    assert!(msg.contains("not found"), "{msg}");
}
