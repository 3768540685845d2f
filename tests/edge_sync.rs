//! End to end, all real processes: kubectl applies a pod bound to an edge
//! and the configmap and secret it references; the edge's MetaManager (its
//! local API) holds exactly those, not an unrelated configmap and not
//! another node's pod; deleting the pod removes it and what only it needed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{hive_bin, Proc, Site};

fn local_get(port: u16, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn wait_local(port: u16, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while local_get(port, path) != want {
        assert!(Instant::now() < deadline, "{path} never answered {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pods_and_what_they_reference_reach_their_edge_and_leave_with_them() {
    let kubectl = std::env::var_os("HIVE_KUBECTL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/hive-kubectl/root/usr/bin/kubectl"));
    assert!(kubectl.exists(), "kubectl not found at {} (ci/setup.sh unpacks it)", kubectl.display());
    let site = Site::new();
    let cfg = site.path().join("cloud.toml");
    std::fs::write(&cfg, "role = \"cloud\"\ndata_dir = \"cloud\"\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut cloud = Proc::start(&hive_bin(), &["cloud", "--config", cfg.to_str().unwrap()], site.path());
    let line = cloud.wait_for("cloudhub] listening on", Duration::from_secs(20));
    let hub: u16 = line.split("listening on ").nth(1).unwrap().split_whitespace().next().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    cloud.wait_for("hive cloud ready", Duration::from_secs(20));
    site.node_cert("edge-1");
    let mut edge = site.start_edge("edge-1", hub, "");
    let l = edge.wait_for("local API on ", Duration::from_secs(20));
    let api: u16 = l.rsplit(':').next().unwrap().trim().parse().unwrap();
    edge.wait_for("connected to cloud", Duration::from_secs(20));

    let k = |args: &[&str]| {
        // Bounded: a kubectl waiting on the server must fail the test, not hang it.
        let out = Command::new("timeout")
            .arg("60")
            .arg(&kubectl)
            .arg("--kubeconfig")
            .arg(site.path().join("cloud/kubeconfig"))
            .args(args)
            .current_dir(site.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(
        site.path().join("app.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  a: b\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\ndata:\n  c: d\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-secret\ndata:\n  p: cA==\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeName: edge-1\n  containers:\n  - name: c\n    image: busybox\n    envFrom:\n    - configMapRef:\n        name: web-config\n    env:\n    - name: P\n      valueFrom:\n        secretKeyRef:\n          name: web-secret\n          key: p\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: elsewhere\nspec:\n  nodeName: edge-2\n  containers:\n  - name: c\n    image: busybox\n",
    )
    .unwrap();
    k(&["apply", "-f", "app.yaml"]);
    wait_local(api, "/api/v1/namespaces/default/pods/web", 200);
    wait_local(api, "/api/v1/namespaces/default/configmaps/web-config", 200);
    wait_local(api, "/api/v1/namespaces/default/secrets/web-secret", 200);
    // Not this node's business (and a miss asks the cloud, which refuses).
    assert_eq!(local_get(api, "/api/v1/namespaces/default/configmaps/unrelated"), 404);
    assert_eq!(local_get(api, "/api/v1/namespaces/default/pods/elsewhere"), 404);

    // A change to the referenced configmap follows.
    std::fs::write(site.path().join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  a: changed\n").unwrap();
    k(&["apply", "-f", "cm.yaml"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut s = TcpStream::connect(("127.0.0.1", api)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /api/v1/namespaces/default/configmaps/web-config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        if raw.contains("changed") {
            break;
        }
        assert!(Instant::now() < deadline, "configmap change never reached the edge: {raw}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Deleting the pod removes it and the objects only it referenced.
    k(&["delete", "pod", "web"]);
    wait_local(api, "/api/v1/namespaces/default/pods/web", 404);
    wait_local(api, "/api/v1/namespaces/default/configmaps/web-config", 404);
    wait_local(api, "/api/v1/namespaces/default/secrets/web-secret", 404);
    edge.signal("TERM");
    assert_eq!(edge.wait_exit(Duration::from_secs(10)).code(), Some(0));
    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
