//! What `kubectl get` and `kubectl describe` show against a real `hive
//! cloud` and a real edge, with both kubectl versions CI has (Debian's 1.20
//! and the machine's 1.32): Kubernetes' own columns from server-side
//! printing (pods, nodes, namespaces, configmaps, secrets, devices), pod
//! STATUS as users know it, namespaces from create to cascading delete, and
//! the health endpoints. Also the API's answers to bad list parameters.

mod common;

use std::path::Path;
use std::time::Duration;

use common::api::{start_cloud_with_api, Api};
use common::Site;
use serde_json::json;

fn kubectl(bin: &Path, site: &Site, args: &[&str]) -> (bool, String) {
    common::kubectl::run(bin, site.path(), args)
}

fn ok(bin: &Path, site: &Site, args: &[&str]) -> String {
    common::kubectl::ok(bin, site.path(), args)
}

/// The header's column names (split on runs of 2+ spaces) and each row's cells.
fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let split = |l: &str| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect::<Vec<_>>();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().map(split).unwrap_or_default();
    (header, lines.map(split).collect())
}

fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter().find(|r| r.first().map(String::as_str) == Some(name)).unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

fn columns(bin: &Path, site: &Site, args: &[&str], want: &[&str]) -> Vec<Vec<String>> {
    let out = ok(bin, site, args);
    let (header, rows) = table(&out);
    assert_eq!(header, want, "{} {args:?}:\n{out}", bin.display());
    rows
}

/// A pod on a node that does not exist, whose status says it is crash-looping.
fn crash_looping_pod(api: &Api) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crashy"},
        "spec": {"nodeName": "far-away", "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}});
    assert_eq!(api.send("POST", "/api/v1/namespaces/demo/pods", &pod).0, 201);
    let status = json!({"status": {"phase": "Running", "podIP": "10.1.2.3", "containerStatuses": [
        {"name": "a", "image": "busybox", "imageID": "", "ready": false, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:00:00Z"}}},
        {"name": "b", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}});
    let (code, body) = api.send("PATCH", "/api/v1/namespaces/demo/pods/crashy/status", &status);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn kubectl_get_and_describe_show_kubernetes_columns() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n");
    site.node_cert("tbl-edge");
    let mut edge = site.start_edge("tbl-edge", hub, "[edged]\nruntime_socket = \"/nonexistent/containerd.sock\"\n");
    api.wait_until("/api/v1/nodes/tbl-edge", 30, |v| v.pointer("/status/nodeInfo/kernelVersion").and_then(|k| k.as_str()).is_some_and(|k| !k.is_empty()));
    let (old, new) = (common::kubectl::old(), common::kubectl::new());

    // Namespaces: kubectl 1.32 creates through protobuf, 1.20 through JSON.
    ok(&new, &site, &["create", "namespace", "demo"]);
    ok(&old, &site, &["create", "namespace", "demo2"]);
    let (created, text) = kubectl(&new, &site, &["create", "configmap", "x", "-n", "missing", "--from-literal=a=1"]);
    assert!(!created && text.contains("namespaces \"missing\" not found"), "{text}");
    std::fs::write(
        site.path().join("objs.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  nodeName: tbl-edge\n  containers:\n  - name: c\n    image: busybox\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: demo\ndata:\n  a: \"1\"\n  b: \"2\"\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: pw\n  namespace: demo\ntype: kubernetes.io/basic-auth\nstringData:\n  username: u\n  password: p\n---\n\
         apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: thermo\n  namespace: demo\nspec:\n  nodeName: tbl-edge\n",
    )
    .unwrap();
    ok(&old, &site, &["apply", "-f", "objs.yaml"]);
    crash_looping_pod(&api);
    // No node is Ready (the edge has no runtime): the scheduler says so in an event.
    ok(&new, &site, &["run", "waiting", "-n", "demo", "--image=busybox"]);
    api.wait_until("/api/v1/namespaces/demo/events?fieldSelector=involvedObject.name%3Dwaiting", 20, |v| v["items"].as_array().is_some_and(|a| !a.is_empty()));

    for k in [&old, &new] {
        let rows = columns(k, &site, &["get", "nodes"], &["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
        let r = row(&rows, "tbl-edge");
        assert_eq!((r[1].as_str(), r[2].as_str()), ("NotReady", "edge"), "{r:?}");
        assert!(r[4].starts_with("hive-v"), "{r:?}");
        let rows = columns(
            k,
            &site,
            &["get", "nodes", "-o", "wide"],
            &["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert!(row(&rows, "tbl-edge").contains(&kernel.trim().to_string()), "{rows:?}");

        let rows = columns(k, &site, &["get", "ns"], &["NAME", "STATUS", "AGE"]);
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease", "demo", "demo2"] {
            assert_eq!(row(&rows, ns)[1], "Active");
        }

        let rows = columns(k, &site, &["get", "pods", "-n", "demo"], &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
        let crashy = row(&rows, "crashy");
        assert_eq!((crashy[1].as_str(), crashy[2].as_str()), ("1/2", "CrashLoopBackOff"), "{crashy:?}");
        assert!(crashy[3].starts_with("4 (") && crashy[3].ends_with(" ago)"), "{crashy:?}");
        assert_eq!(row(&rows, "web")[1], "0/1");
        let rows = columns(
            k,
            &site,
            &["get", "pods", "-n", "demo", "-o", "wide"],
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        );
        assert_eq!(&row(&rows, "crashy")[5..], ["10.1.2.3", "far-away", "<none>", "<none>"]);
        // `get all` (category all) lists the pods; kubectl prefixes `pod/` only when several kinds are shown.
        let (_, all) = table(&ok(k, &site, &["get", "all", "-n", "demo"]));
        let names: Vec<&str> = all.iter().map(|r| r[0].trim_start_matches("pod/")).collect();
        assert_eq!(names, ["crashy", "waiting", "web"], "{all:?}");
        let rows = columns(k, &site, &["get", "configmaps", "-n", "demo"], &["NAME", "DATA", "AGE"]);
        assert_eq!(row(&rows, "cfg")[1], "2");
        let rows = columns(k, &site, &["get", "secrets", "-n", "demo"], &["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(&row(&rows, "pw")[1..3], ["kubernetes.io/basic-auth", "2"]);
        columns(k, &site, &["get", "devices", "-n", "demo"], &["NAME", "AGE"]);
        // Labels come from the rows' metadata (includeObject=Metadata).
        let rows = columns(k, &site, &["get", "nodes", "--show-labels"], &["NAME", "STATUS", "ROLES", "AGE", "VERSION", "LABELS"]);
        assert!(row(&rows, "tbl-edge")[5].contains("node-role.kubernetes.io/edge="), "{rows:?}");

        let rows = columns(k, &site, &["get", "events"], &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
        assert!(rows.iter().any(|r| r[1] == "Normal" && r[2] == "RegisteredNode" && r[3] == "node/tbl-edge"), "{rows:?}");
        let d = ok(k, &site, &["describe", "node", "tbl-edge"]);
        assert!(d.contains("Name:") && d.contains("tbl-edge") && d.contains("Kernel Version:"), "{d}");
        assert!(d.contains("RegisteredNode") && d.contains("NodeReady"), "describe node shows its events:\n{d}");
        assert!(d.contains("web"), "describe node lists the pods bound to it (spec.nodeName, status.phase selectors):\n{d}");
        let d = ok(k, &site, &["describe", "pod", "crashy", "-n", "demo"]);
        assert!(d.contains("CrashLoopBackOff") && d.contains("far-away"), "{d}");
        let d = ok(k, &site, &["describe", "pod", "waiting", "-n", "demo"]);
        assert!(d.contains("FailedScheduling") && d.contains("0/1 nodes are available: 1 node(s) were not ready."), "describe pod shows its events:\n{d}");
    }

    // kubectl logs of pods whose edge is not connected, or that have no node: said so.
    let (got, text) = kubectl(&new, &site, &["logs", "crashy", "-n", "demo", "-c", "a"]);
    assert!(!got && text.contains("node far-away is not connected"), "{text}");
    let (got, text) = kubectl(&old, &site, &["logs", "waiting", "-n", "demo"]);
    assert!(!got && text.contains("is not on a node yet"), "{text}");

    // A namespace's delete takes everything in it; the defaults stay.
    let (refused, text) = kubectl(&new, &site, &["delete", "namespace", "default"]);
    assert!(!refused && text.contains("may not be deleted"), "{text}");
    ok(&old, &site, &["delete", "namespace", "demo"]);
    let (found, text) = kubectl(&new, &site, &["get", "namespace", "demo"]);
    assert!(!found && text.contains("NotFound"), "{text}");
    assert_eq!(api.get("/api/v1/namespaces/demo/pods").1["items"], json!([]));
    assert_eq!(api.get("/apis/devices.kubeedge.io/v1beta1/namespaces/demo/devices").1["items"], json!([]));
    assert_eq!(api.get("/api/v1/namespaces/demo2").0, 200);

    // Health without a token, as Kubernetes serves it.
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(api.call("GET", path, "text/plain", b"", false), (200, "ok".to_string()), "{path}");
    }
    let (code, body) = api.call("GET", "/readyz?verbose", "text/plain", b"", false);
    assert!(code == 200 && body.contains("[+]store ok") && body.contains("readyz check passed"), "{code} {body}");

    // A watch ends on its own after timeoutSeconds (the final chunk arrives).
    let (code, body) = api.call("GET", "/api/v1/namespaces/demo2/configmaps?watch=true&timeoutSeconds=1", "application/json", b"", true);
    assert_eq!(code, 200);
    assert!(body.ends_with("0\r\n\r\n"), "the watch did not end: {body:?}");

    // Bad list parameters: a Status naming what is wrong.
    for (q, want) in [
        ("fieldSelector=status.color%3Dred", "fieldSelector `status.color`"),
        ("timeoutSeconds=soon", "timeoutSeconds `soon`"),
        ("labelSelector=a%20in%20(b)", "only key=value"),
        ("limit=-1", "limit `-1`"),
        ("continue=Zm9yZ2Vk", "continue: the token is not one this server issued"),
        ("resourceVersion=5&resourceVersionMatch=Newest", "resourceVersionMatch `Newest`"),
    ] {
        let (code, v) = api.get(&format!("/api/v1/namespaces/demo2/pods?{q}"));
        assert_eq!(code, 400, "{q}: {v}");
        assert!(v["message"].as_str().unwrap_or("").contains(want), "{q}: {v}");
    }
    // A namespace is not deleted through its /status, nor a pod created without a namespace.
    let (code, _) = api.call("DELETE", "/api/v1/namespaces/demo2/status", "application/json", b"", true);
    assert!(matches!(code, 404 | 405) && api.get("/api/v1/namespaces/demo2").0 == 200, "{code}");
    let (code, body) =
        api.call("POST", "/api/v1/pods", "application/json", br#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}}"#, true);
    assert!(code == 405 && body.contains("namespaced"), "{code} {body}");
    edge.signal("TERM");
    cloud.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(20)).success());
    assert!(cloud.wait_exit(Duration::from_secs(20)).success());
}
