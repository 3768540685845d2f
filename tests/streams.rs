//! Streams through the tunnel (issue: kubectl logs -f, exec, attach to
//! edge pods; KubeEdge's CloudStream/EdgeStream) with a real containerd +
//! runc and real clients: kubectl 1.32 (websocket, v5.channel.k8s.io) and
//! the official Python client (v4.channel.k8s.io). Exec output, exit codes
//! and stdin arrive unchanged; `logs -f` sees lines written after it
//! started; an edge killed mid-exec ends the client with the reason, and
//! kubectl 1.20 (SPDY only) is told which kubectl to use for exec.
//! `kubectl port-forward` (1.32: SPDY inside a websocket; 1.20: SPDY)
//! reaches an HTTP server in a pod.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::api::Api;
use common::containerd::{cloud_and_edge, Containerd, APP};
use common::Site;
use serde_json::{json, Value};

fn running_pod(api: &Api, name: &str, command: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": APP, "command": ["sh", "-c", command]}]}});
    let (c, b) = api.send("POST", "/api/v1/namespaces/default/pods", &pod);
    assert_eq!(c, 201, "{b}");
    api.wait_until(&format!("/api/v1/namespaces/default/pods/{name}"), 40, |p: &Value| p["status"]["phase"] == "Running");
}

/// kubectl 1.32 run to its end with `stdin` as its input.
fn kubectl(site: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn_kubectl(site, args);
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("kubectl output");
    let _ = writer.join();
    out
}

/// kubectl 1.32 on the test cloud, running, its stdout and stderr piped (bounded by `timeout 120`).
fn spawn_kubectl(site: &Path, args: &[&str]) -> std::process::Child {
    spawn_kubectl_bin(&common::kubectl::new(), site, args)
}

fn spawn_kubectl_bin(bin: &Path, site: &Path, args: &[&str]) -> std::process::Child {
    Command::new("timeout")
        .args(["120", bin.to_str().unwrap(), "--kubeconfig"])
        .arg(site.join("cloud/kubeconfig"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl")
}

/// Wait (at most `secs`) for `child` to end; its status and stderr.
fn ended_within(child: &mut std::process::Child, secs: u64, what: &str) -> (std::process::ExitStatus, String) {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "{what}: kubectl still runs after {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status, err)
}

/// The first line `child` prints.
fn first_line(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    line
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn kubectl_exec_runs_commands_passes_exit_codes_and_stdin_and_old_kubectl_is_told_why_not() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    running_pod(&api, "shell", "exec sleep 1000");

    let o = kubectl(site.path(), &["exec", "shell", "--", "sh", "-c", "echo $((6*7)); echo to-stderr >&2"], b"");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "42\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "to-stderr\n");

    let o = kubectl(site.path(), &["exec", "shell", "--", "sh", "-c", "exit 3"], b"");
    assert_eq!(o.status.code(), Some(3), "kubectl exits with the command's code: {}", text(&o));

    // 1 MiB of every byte value through stdin and back out, unchanged.
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let o = kubectl(site.path(), &["exec", "-i", "shell", "--", "head", "-c", "1048576"], &data);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stdout == data,
        "stdin came back changed: {} bytes, first difference at {:?}",
        o.stdout.len(),
        o.stdout.iter().zip(&data).position(|(a, b)| a != b)
    );

    let o = kubectl(site.path(), &["exec", "shell", "-c", "nope", "--", "true"], b"");
    assert!(!o.status.success() && text(&o).contains("container nope is not valid for pod shell"), "{}", text(&o));
    let o = kubectl(site.path(), &["exec", "ghost", "--", "true"], b"");
    assert!(!o.status.success() && text(&o).contains("pods \"ghost\" not found"), "{}", text(&o));

    // kubectl 1.20 only speaks SPDY: refused with what to use instead.
    let (ok, out) = common::kubectl::run(&common::kubectl::old(), site.path(), &["exec", "shell", "--", "true"]);
    assert!(!ok && out.contains("kubectl 1.30 or newer"), "{out}");

    // The official Python client's stream() (v4.channel.k8s.io).
    let py = std::env::var_os("HIVE_PYTHON").map(std::path::PathBuf::from).unwrap_or_else(|| "/var/cache/hive-venv/bin/python".into());
    assert!(py.exists(), "python with the kubernetes client not found at {} (ci/setup.sh creates the venv)", py.display());
    let script = format!(
        "from kubernetes import client, config\nfrom kubernetes.stream import stream\nconfig.load_kube_config(config_file={:?})\n\
         out = stream(client.CoreV1Api().connect_get_namespaced_pod_exec, 'shell', 'default', command=['sh', '-c', 'echo $((6*7))'], stderr=True, stdin=False, stdout=True, tty=False)\n\
         print('got:' + out.strip())\n",
        site.path().join("cloud/kubeconfig").display().to_string()
    );
    let o = Command::new("timeout").arg("60").arg(&py).arg("-c").arg(script).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("got:42"), "{}", text(&o));
}

#[test]
fn kubectl_logs_follow_sees_new_lines_and_a_killed_edge_ends_an_exec_with_the_reason() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, edge) = cloud_and_edge(&site, &ctrd);
    running_pod(&api, "counter", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.3; done");
    common::containerd::main_log_with(&site, "counter", "line 3");

    let mut follow = spawn_kubectl(site.path(), &["logs", "-f", "counter", "--tail=2"]);
    let (tx, rx) = mpsc::channel();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("logs -f printed nothing");
    let n = |l: &str| l.strip_prefix("line ").and_then(|n| n.parse::<u64>().ok()).unwrap_or_else(|| panic!("not a numbered line: {l:?}"));
    let start = n(&first);
    // Lines written after kubectl started arrive, in order, none lost.
    let mut last = start;
    let t0 = Instant::now();
    while last < start + 10 {
        let l = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("logs -f stopped after line {last}"));
        assert_eq!(n(&l), last + 1, "lines in order");
        last += 1;
        assert!(t0.elapsed() < Duration::from_secs(40));
    }
    let _ = follow.kill();
    let _ = follow.wait();

    // kubectl attach: the main process's output as it comes.
    let mut attach = spawn_kubectl(site.path(), &["attach", "counter"]);
    let mut lines = BufReader::new(attach.stdout.take().unwrap()).lines();
    let a = n(&lines.next().and_then(Result::ok).unwrap_or_default());
    let b = n(&lines.next().and_then(Result::ok).unwrap_or_default());
    assert!(b == a + 1 && a > last, "attach sees new lines in order: {a} then {b} (logs -f saw up to {last})");
    let _ = attach.kill();
    let _ = attach.wait();

    // --previous: the run before the current one.
    let crasher = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"},
        "spec": {"nodeName": "edge-1", "hostNetwork": true, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": APP, "command": ["sh", "-c", "echo run-at-$(date +%s%N); sleep 1; exit 1"]}]}});
    assert_eq!(api.send("POST", "/api/v1/namespaces/default/pods", &crasher).0, 201);
    api.wait_until("/api/v1/namespaces/default/pods/crasher", 40, |p: &Value| p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1));
    let prev = kubectl(site.path(), &["logs", "crasher", "--previous"], b"");
    let prev = String::from_utf8_lossy(&prev.stdout).to_string();
    assert!(prev.starts_with("run-at-") && prev.lines().count() == 1, "{prev:?}");

    // An exec in progress when the edge dies: kubectl ends with the reason, nothing hangs.
    let mut exec = spawn_kubectl(site.path(), &["exec", "counter", "--", "sh", "-c", "echo started; exec sleep 100"]);
    assert_eq!(first_line(&mut exec), "started\n");
    edge.signal("KILL");
    let (status, err) = ended_within(&mut exec, 30, "exec whose edge died");
    assert!(!status.success() && status.code() != Some(124), "{status:?} {err}");
    assert!(err.contains("tunnel to node edge-1 closed"), "{err}");
}

/// The local port a running `kubectl port-forward` says it listens on.
fn forwarded_port(pf: &mut std::process::Child) -> u16 {
    let line = first_line(pf);
    let port = line.strip_prefix("Forwarding from 127.0.0.1:").and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse().ok());
    port.unwrap_or_else(|| {
        let _ = pf.kill();
        let (_, err) = ended_within(pf, 10, "port-forward");
        panic!("no local port in {line:?}: {err}")
    })
}

/// `kubectl port-forward` with `bin`, to `port` of pod `web`: an HTTP GET
/// through it, twice (two connections), gets the page.
fn port_forward_serves_the_page(site: &Path, bin: &Path, port: u16) {
    let mut pf = spawn_kubectl_bin(bin, site, &["port-forward", "pod/web", &format!(":{port}")]);
    let local = forwarded_port(&mut pf);
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n").unwrap();
        let mut page = String::new();
        let _ = s.read_to_string(&mut page);
        if !(page.starts_with("HTTP/1.") && page.contains("hello-port-forward")) {
            let _ = pf.kill();
            let (_, err) = ended_within(&mut pf, 10, "port-forward");
            panic!("{}: {page:?}; kubectl said: {err}", bin.display());
        }
    }
    let _ = pf.kill();
    let _ = pf.wait();
}

#[test]
fn kubectl_port_forward_reaches_a_pods_port_over_websocket_and_spdy() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (_cloud, api, _edge) = cloud_and_edge(&site, &ctrd);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    running_pod(&api, "web", &format!("mkdir -p /www && echo hello-port-forward > /www/index.html && exec httpd -f -p 127.0.0.1:{port} -h /www"));
    // kubectl 1.32 carries SPDY inside a websocket; 1.20 upgrades to SPDY itself.
    port_forward_serves_the_page(site.path(), &common::kubectl::new(), port);
    port_forward_serves_the_page(site.path(), &common::kubectl::old(), port);
    // Nothing listens there: kubectl says why.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut pf = spawn_kubectl(site.path(), &["port-forward", "pod/web", &format!(":{unused}")]);
    let local = forwarded_port(&mut pf);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(s, "GET / HTTP/1.0\r\n\r\n");
    let mut none = Vec::new();
    let _ = s.read_to_end(&mut none);
    let _ = pf.kill();
    let out = pf.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(none.is_empty() && err.contains("cannot connect to 127.0.0.1"), "{err}");
}

#[test]
fn a_stuck_exec_client_holds_back_only_its_own_stream() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    let (cloud, api, hub) = common::api::start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    site.node_cert("edge-1");
    site.node_cert("edge-2");
    let mut edge1 = site.start_edge("edge-1", hub, &common::containerd::edge_config(&ctrd));
    edge1.wait_for("container runtime containerd", Duration::from_secs(20));
    let mut edge2 = site.start_edge("edge-2", hub, "[edged]\nruntime_socket = \"/nonexistent/containerd.sock\"");
    let local = |p: &mut common::Proc| -> u16 {
        let line = p.wait_for("local API on ", Duration::from_secs(20));
        line.rsplit(':').next().and_then(|x| x.trim().parse().ok()).unwrap()
    };
    let (local1, local2) = (local(&mut edge1), local(&mut edge2));
    running_pod(&api, "shell", "exec sleep 1000");

    // 100 MiB of output to a kubectl whose stdout nobody reads.
    let mut stuck = spawn_kubectl(site.path(), &["exec", "shell", "--", "dd", "if=/dev/zero", "bs=1048576", "count=100"]);
    std::thread::sleep(Duration::from_secs(2));
    // Objects still reach both nodes promptly; edge-1 stays Ready.
    for i in 0..6 {
        for (node, port) in [("edge-2", local2), ("edge-1", local1)] {
            let name = format!("sync-{node}-{i}");
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "localhost/absent:1", "imagePullPolicy": "Never"}]}});
            let t0 = Instant::now();
            assert_eq!(api.send("POST", "/api/v1/namespaces/default/pods", &pod).0, 201);
            loop {
                if common::http_get(port, &format!("/api/v1/namespaces/default/pods/{name}")).0 == 200 {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(5), "pod {name} not on {node} within 5 s while an exec is stuck");
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("{name}: on its edge {} ms after create", t0.elapsed().as_millis());
        }
    }
    let node = api.get("/api/v1/nodes/edge-1").1;
    let ready = node["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Ready").map(|c| c["status"].clone());
    assert_eq!(ready, Some(json!("True")), "edge-1 stays Ready while its stream is stuck");
    assert!(stuck.try_wait().unwrap().is_none(), "the stuck exec is still held back, not failed");
    // What is held back stays on the pod's side: neither hive buffers the 100 MiB.
    for (who, pid) in [("cloud", cloud.child.id()), ("edge-1", edge1.child.id())] {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap();
        assert!(kib < 40 << 10, "{who} holds {kib} KiB while an exec client is stuck");
    }
    // Reading it now gets all 100 MiB: nothing was dropped while it waited.
    let mut got = 0u64;
    let mut out = stuck.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n as u64,
        }
    }
    assert!(stuck.wait().unwrap().success());
    assert_eq!(got, 100 << 20);
}

#[test]
fn a_partition_mid_exec_ends_kubectl_with_the_reason_and_frees_the_stream() {
    let site = Site::new();
    let ctrd = Containerd::start(&site.path().join("containerd"));
    // One stream per node: a stream the partition did not free would refuse the next exec.
    let (_cloud, api, hub) = common::api::start_cloud_with_api(
        &site,
        "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3\nmax_streams_per_node = 1",
    );
    let proxy = common::proxy::Proxy::start(hub);
    site.node_cert("edge-1");
    let mut edge = site.start_edge("edge-1", proxy.port, &common::containerd::edge_config(&ctrd));
    edge.wait_for("container runtime containerd", Duration::from_secs(20));
    running_pod(&api, "shell", "exec sleep 1000");
    let mut exec = spawn_kubectl(site.path(), &["exec", "shell", "--", "sh", "-c", "echo started; exec sleep 100"]);
    assert_eq!(first_line(&mut exec), "started\n");
    let o = kubectl(site.path(), &["exec", "shell", "--", "true"], b"");
    assert!(!o.status.success() && text(&o).contains("max_streams_per_node"), "a second stream is over the limit: {}", text(&o));
    // Traffic stops both ways without any close: the cloud finds out by silence.
    proxy.stall(Duration::from_secs(15));
    let (status, err) = ended_within(&mut exec, 30, "exec across a partition");
    assert!(!status.success() && status.code() != Some(124) && err.contains("tunnel to node edge-1 closed"), "{status:?} {err}");
    // Healed, the edge is back and the one stream slot is free again.
    proxy.heal();
    api.wait_until("/api/v1/nodes/edge-1", 60, |n: &Value| {
        n["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    let t0 = Instant::now();
    loop {
        let o = kubectl(site.path(), &["exec", "shell", "--", "echo", "again"], b"");
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout), "again\n");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "exec after the partition: {}", text(&o));
        std::thread::sleep(Duration::from_millis(500));
    }
}
