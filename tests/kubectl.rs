//! Debian's real kubectl (1.20, unpacked by ci/setup.sh into
//! /var/cache/hive-kubectl, or $HIVE_KUBECTL) against a real `hive cloud`:
//! get, describe, apply -f (create and update), delete and get -w on
//! nodes, pods, configmaps, secrets and KubeEdge devices.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{hive_bin, Proc, Site};

fn kubectl_path() -> PathBuf {
    let p = std::env::var_os("HIVE_KUBECTL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/hive-kubectl/root/usr/bin/kubectl"));
    assert!(p.exists(), "kubectl not found at {} (ci/setup.sh unpacks Debian's kubernetes-client there)", p.display());
    p
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> (bool, String) {
        // Bounded: a kubectl waiting on the server must fail the test, not hang it.
        let out = Command::new("timeout")
            .arg("60")
            .arg(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run kubectl");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "kubectl {args:?} failed: {text}");
        text
    }
}

#[test]
fn kubectl_drives_hive_cloud() {
    let site = Site::new();
    let cfg = site.path().join("cloud.toml");
    std::fs::write(&cfg, "role = \"cloud\"\ndata_dir = \"cloud\"\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut cloud = Proc::start(&hive_bin(), &["cloud", "--config", cfg.to_str().unwrap()], site.path());
    cloud.wait_for("hive cloud ready", Duration::from_secs(20));
    let k = Kubectl { bin: kubectl_path(), kubeconfig: site.path().join("cloud/kubeconfig"), dir: site.path().to_path_buf() };
    std::fs::write(
        site.path().join("objects.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  mode: fast\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\ntype: Opaque\ndata:\n  password: aHVudGVyMg==\n---\n\
         apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-1\n  labels:\n    node-role.kubernetes.io/edge: \"\"\n",
    )
    .unwrap();
    std::fs::write(
        site.path().join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  nodeName: edge-1\n  containers:\n  - name: c\n    image: busybox\n    envFrom:\n    - configMapRef:\n        name: app-config\n",
    )
    .unwrap();
    // KubeEdge's own example shape, applied unchanged.
    std::fs::write(
        site.path().join("device.yaml"),
        "apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: thermo-1\n  labels:\n    model: thermo\nspec:\n  deviceModelRef:\n    name: thermo-model\n  nodeName: edge-1\n  protocol:\n    protocolName: modbus\n  properties:\n  - name: temperature\n    collectCycle: 10000\n    reportCycle: 10000\n    desired:\n      value: \"25\"\n    visitors:\n      protocolName: modbus\n      configData:\n        register: HoldingRegister\n        offset: 2\n",
    )
    .unwrap();

    // get -w on pods, started before anything exists.
    let mut watch = Command::new(&k.bin)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args(["get", "pods", "-w", "--no-headers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = watch.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });

    let applied = k.ok(&["apply", "-f", "objects.yaml"]);
    assert!(
        applied.contains("configmap/app-config created") && applied.contains("secret/app-secret created") && applied.contains("node/edge-1 created"),
        "{applied}"
    );
    assert!(k.ok(&["apply", "-f", "pod.yaml"]).contains("pod/web created"));
    assert!(k.ok(&["apply", "-f", "device.yaml"]).contains("device.devices.kubeedge.io/thermo-1 created"));
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("get -w shows the new pod");
    assert!(line.starts_with("web"), "{line}");

    // get / describe.
    assert!(k.ok(&["get", "nodes"]).contains("edge-1"));
    assert!(k.ok(&["get", "configmaps"]).contains("app-config"));
    assert!(k.ok(&["get", "secrets"]).contains("app-secret"));
    assert!(k.ok(&["get", "devices"]).contains("thermo-1"));
    assert_eq!(k.ok(&["get", "configmap", "app-config", "-o", "jsonpath={.data.mode}"]), "fast");
    let d = k.ok(&["describe", "pod", "web"]);
    assert!(d.contains("Name:") && d.contains("web") && d.contains("edge-1"), "{d}");
    assert_eq!(k.ok(&["get", "device", "thermo-1", "-o", "jsonpath={.spec.properties[0].visitors.configData.offset}"]), "2");
    assert!(k.ok(&["get", "pods", "-l", "app=web"]).contains("web"));

    // apply again with a change: an update, not a create.
    std::fs::write(site.path().join("objects.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  mode: safe\n").unwrap();
    assert!(k.ok(&["apply", "-f", "objects.yaml"]).contains("configmap/app-config configured"));
    assert_eq!(k.ok(&["get", "configmap", "app-config", "-o", "jsonpath={.data.mode}"]), "safe");

    // delete; the watch sees the pod change again (deletion).
    assert!(k.ok(&["delete", "pod", "web"]).contains("pod \"web\" deleted"));
    let (ok, text) = k.run(&["get", "pod", "web"]);
    assert!(!ok && text.contains("NotFound"), "{text}");
    assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok(), "get -w shows the deletion");
    let _ = watch.kill();
    let _ = watch.wait();

    // With a wrong token: refused.
    let out = Command::new("timeout")
        .arg("60")
        .arg(&k.bin)
        .args(["--server", &server_of(&k), "--insecure-skip-tls-verify", "--token", "not-the-token", "get", "pods"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized") || String::from_utf8_lossy(&out.stderr).contains("logged in"), "{:?}", out);
    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

fn server_of(k: &Kubectl) -> String {
    let kc = std::fs::read_to_string(&k.kubeconfig).unwrap();
    kc.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string()
}
