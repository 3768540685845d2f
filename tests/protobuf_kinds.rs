//! Every kind hive decodes from protobuf, built with k8s-pb (prost messages
//! generated from Kubernetes' own .proto files) and sent to a real `hive
//! cloud` as client-go sends it (`k8s\0` + runtime.Unknown), is stored as
//! the same object sent as JSON is: Node, Event, Pod, DaemonSet, and the
//! bodies that are not objects of their URL (pods/binding's Binding,
//! /scale's Scale, a DELETE's DeleteOptions with its preconditions, policy
//! and dryRun). What kubectl itself sends is in tests/kubectl_protobuf.rs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::api::{start_cloud_with_api, Api};
use common::Site;
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::autoscaling::v1 as autoscaling;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{json, Value};

const PB: &str = "application/vnd.kubernetes.protobuf";
/// 2026-01-02T03:04:05Z
const T0: i64 = 1_767_323_045;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}
fn meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta { name: s(name), labels: BTreeMap::from([("app".into(), "web".into())]), ..Default::default() })
}
fn time(secs: i64) -> Option<meta::Time> {
    Some(meta::Time { seconds: Some(secs), nanos: Some(0) })
}
fn quantities(kv: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    kv.iter().map(|(k, v)| (k.to_string(), Quantity { string: s(v) })).collect()
}
fn int_or_str(v: &str) -> Option<IntOrString> {
    Some(match v.parse::<i32>() {
        Ok(i) => IntOrString { r#type: Some(0), int_val: Some(i), str_val: None },
        Err(_) => IntOrString { r#type: Some(1), int_val: None, str_val: s(v) },
    })
}

/// client-go's protobuf framing of one message.
fn framed(api_version: &str, kind: &str, m: &impl Message) -> Vec<u8> {
    #[derive(Clone, PartialEq, Message)]
    struct TypeMeta {
        #[prost(string, tag = "1")]
        api_version: String,
        #[prost(string, tag = "2")]
        kind: String,
    }
    #[derive(Clone, PartialEq, Message)]
    struct Unknown {
        #[prost(message, optional, tag = "1")]
        type_meta: Option<TypeMeta>,
        #[prost(bytes = "vec", tag = "2")]
        raw: Vec<u8>,
        #[prost(string, tag = "3")]
        content_encoding: String,
        #[prost(string, tag = "4")]
        content_type: String,
    }
    let u = Unknown { type_meta: Some(TypeMeta { api_version: api_version.into(), kind: kind.into() }), raw: m.encode_to_vec(), ..Default::default() };
    [&b"k8s\0"[..], &u.encode_to_vec()].concat()
}

/// The object at `path` without what the server assigns per object (and
/// the status controllers write for pods and DaemonSets, with its times).
fn content(api: &Api, path: &str) -> Value {
    let (c, mut v) = api.get(path);
    assert_eq!(c, 200, "{path}: {v}");
    if matches!(v["kind"].as_str(), Some("Pod" | "DaemonSet")) {
        v.as_object_mut().unwrap().remove("status");
    }
    let m = v["metadata"].as_object_mut().unwrap();
    for k in ["uid", "resourceVersion", "creationTimestamp", "name", "generation"] {
        m.remove(k);
    }
    v
}

/// POST `pb` as protobuf and `js` as JSON to `coll` (names `pb` and `js`):
/// both stored, and the same.
fn same(api: &Api, coll: &str, pb: Vec<u8>, js: Value) -> Value {
    let (c, e) = api.call("POST", coll, PB, &pb, true);
    assert_eq!(c, 201, "protobuf to {coll}: {e}");
    let (c, e) = api.send("POST", coll, &js);
    assert_eq!(c, 201, "JSON to {coll}: {e}");
    let (a, b) = (content(api, &format!("{coll}/pb")), content(api, &format!("{coll}/js")));
    assert_eq!(a, b, "{coll}: protobuf (left) and JSON (right) differ");
    a
}

fn pod_spec() -> core::PodSpec {
    let term = core::NodeSelectorTerm {
        match_expressions: vec![core::NodeSelectorRequirement {
            key: s("kubernetes.io/arch"),
            operator: s("In"),
            values: vec!["arm64".into(), "riscv64".into()],
        }],
        ..Default::default()
    };
    core::PodSpec {
        containers: vec![core::Container {
            name: s("web"),
            image: s("busybox:1.36"),
            command: vec!["sh".into(), "-c".into(), "sleep 3600".into()],
            env: vec![core::EnvVar {
                name: s("NODE"),
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector { field_path: s("spec.nodeName"), ..Default::default() }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            resources: Some(core::ResourceRequirements {
                limits: quantities(&[("memory", "64Mi")]),
                requests: quantities(&[("cpu", "100m"), ("memory", "32Mi")]),
                ..Default::default()
            }),
            readiness_probe: Some(core::Probe {
                handler: Some(core::ProbeHandler {
                    tcp_socket: Some(core::TcpSocketAction { port: int_or_str("8080"), ..Default::default() }),
                    ..Default::default()
                }),
                period_seconds: Some(5),
                ..Default::default()
            }),
            security_context: Some(core::SecurityContext { read_only_root_filesystem: Some(true), run_as_user: Some(1000), ..Default::default() }),
            ..Default::default()
        }],
        node_selector: BTreeMap::from([("hive.io/role".into(), "edge".into())]),
        affinity: Some(core::Affinity {
            node_affinity: Some(core::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(core::NodeSelector { node_selector_terms: vec![term] }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        tolerations: vec![core::Toleration {
            key: s("node.kubernetes.io/unreachable"),
            operator: s("Exists"),
            effect: s("NoExecute"),
            toleration_seconds: Some(30),
            ..Default::default()
        }],
        termination_grace_period_seconds: Some(0),
        ..Default::default()
    }
}

fn pod_spec_json() -> Value {
    json!({
        "containers": [{"name": "web", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"],
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "32Mi"}},
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5},
            "securityContext": {"readOnlyRootFilesystem": true, "runAsUser": 1000}}],
        "nodeSelector": {"hive.io/role": "edge"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64", "riscv64"]}]}]}}},
        "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
        "terminationGracePeriodSeconds": 0
    })
}

#[test]
fn protobuf_bodies_of_every_kind_store_what_json_does() {
    let site = Site::new();
    let (mut cloud, api, _) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");

    // Node: quantities, taints with times, conditions, addresses, system info.
    let node = |name: &str| core::Node {
        metadata: meta(name),
        spec: Some(core::NodeSpec {
            pod_cidr: s("10.0.1.0/24"),
            taints: vec![core::Taint { key: s("dedicated"), value: s("camera"), effect: s("NoSchedule"), time_added: time(T0) }],
            ..Default::default()
        }),
        status: Some(core::NodeStatus {
            capacity: quantities(&[("cpu", "4"), ("memory", "1Gi"), ("pods", "110")]),
            allocatable: quantities(&[("cpu", "3500m"), ("memory", "900Mi"), ("pods", "110")]),
            conditions: vec![core::NodeCondition {
                r#type: s("Ready"),
                status: s("True"),
                last_heartbeat_time: time(T0 + 60),
                last_transition_time: time(T0),
                reason: s("EdgeReady"),
                message: s("edge is posting ready status"),
            }],
            addresses: vec![core::NodeAddress { r#type: s("InternalIP"), address: s("127.0.0.1") }],
            daemon_endpoints: Some(core::NodeDaemonEndpoints { kubelet_endpoint: Some(core::DaemonEndpoint { port: Some(10350) }) }),
            node_info: Some(core::NodeSystemInfo { architecture: s("arm64"), operating_system: s("linux"), kernel_version: s("6.6.0"), ..Default::default() }),
            ..Default::default()
        }),
    };
    let node_json = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "js", "labels": {"app": "web"}},
        "spec": {"podCIDR": "10.0.1.0/24", "taints": [{"key": "dedicated", "value": "camera", "effect": "NoSchedule", "timeAdded": "2026-01-02T03:04:05Z"}]},
        "status": {"capacity": {"cpu": "4", "memory": "1Gi", "pods": "110"}, "allocatable": {"cpu": "3500m", "memory": "900Mi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-02T03:05:05Z", "lastTransitionTime": "2026-01-02T03:04:05Z",
                "reason": "EdgeReady", "message": "edge is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 10350}},
            "nodeInfo": {"architecture": "arm64", "operatingSystem": "linux", "kernelVersion": "6.6.0"}}});
    let got = same(&api, "/api/v1/nodes", framed("v1", "Node", &node("pb")), node_json);
    assert_eq!(got["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10350, "{got}");
    assert_eq!(got["spec"]["taints"][0]["timeAdded"], "2026-01-02T03:04:05Z");

    // core/v1 Event: MicroTime keeps microseconds, Time whole seconds.
    let obj_ref = || core::ObjectReference { kind: s("Pod"), namespace: s("default"), name: s("web-1"), api_version: s("v1"), ..Default::default() };
    let event = core::Event {
        metadata: meta("pb"),
        involved_object: Some(obj_ref()),
        reason: s("Pulled"),
        message: s("image pulled"),
        source: Some(core::EventSource { component: s("edged"), host: s("edge-1") }),
        first_timestamp: time(T0),
        last_timestamp: time(T0 + 1),
        count: Some(2),
        r#type: s("Normal"),
        event_time: Some(meta::MicroTime { seconds: Some(T0), nanos: Some(123_456_789) }),
        series: Some(core::EventSeries { count: Some(2), last_observed_time: Some(meta::MicroTime { seconds: Some(T0 + 1), nanos: Some(0) }) }),
        action: s("Pull"),
        related: Some(obj_ref()),
        reporting_component: s("hive/edged"),
        reporting_instance: s("edge-1"),
    };
    let obj_ref_json = json!({"kind": "Pod", "namespace": "default", "name": "web-1", "apiVersion": "v1"});
    let event_json = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "js", "labels": {"app": "web"}},
        "involvedObject": obj_ref_json, "reason": "Pulled", "message": "image pulled", "source": {"component": "edged", "host": "edge-1"},
        "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:06Z", "count": 2, "type": "Normal",
        "eventTime": "2026-01-02T03:04:05.123456Z", "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:06.000000Z"},
        "action": "Pull", "related": obj_ref_json, "reportingComponent": "hive/edged", "reportingInstance": "edge-1"});
    let got = same(&api, "/api/v1/namespaces/default/events", framed("v1", "Event", &event), event_json);
    assert_eq!(got["eventTime"], "2026-01-02T03:04:05.123456Z");

    // Pod: affinity, quantities, an int-or-string port, env from a field.
    let pod = |name: &str| core::Pod { metadata: meta(name), spec: Some(pod_spec()), status: None };
    let pods = "/api/v1/namespaces/default/pods";
    same(
        &api,
        pods,
        framed("v1", "Pod", &pod("pb")),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "js", "labels": {"app": "web"}}, "spec": pod_spec_json()}),
    );

    // DaemonSet: update strategy with int-or-string, the pod template.
    let ds = apps::DaemonSet {
        metadata: meta("pb"),
        spec: Some(apps::DaemonSetSpec {
            selector: Some(meta::LabelSelector { match_labels: BTreeMap::from([("app".into(), "cam".into())]), ..Default::default() }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta { labels: BTreeMap::from([("app".into(), "cam".into())]), ..Default::default() }),
                spec: Some(core::PodSpec { restart_policy: s("Always"), ..pod_spec() }),
            }),
            update_strategy: Some(apps::DaemonSetUpdateStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDaemonSet { max_unavailable: int_or_str("25%"), max_surge: int_or_str("0") }),
            }),
            min_ready_seconds: Some(3),
            revision_history_limit: Some(4),
        }),
        status: None,
    };
    let mut ds_spec = pod_spec_json();
    ds_spec["restartPolicy"] = json!("Always");
    let ds_json = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "js", "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "cam"}}, "template": {"metadata": {"labels": {"app": "cam"}}, "spec": ds_spec},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}}, "minReadySeconds": 3, "revisionHistoryLimit": 4}});
    let got = same(&api, "/apis/apps/v1/namespaces/default/daemonsets", framed("apps/v1", "DaemonSet", &ds), ds_json);
    assert_eq!(got["spec"]["updateStrategy"]["rollingUpdate"], json!({"maxUnavailable": "25%", "maxSurge": 0}));

    // pods/binding with a protobuf Binding places the pod as a JSON one does.
    let unplaced = |name: &str| json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"none": "x"}}});
    for name in ["bind-pb", "bind-js"] {
        assert_eq!(api.send("POST", pods, &unplaced(name)).0, 201);
    }
    let binding = core::Binding {
        metadata: Some(meta::ObjectMeta { name: s("bind-pb"), ..Default::default() }),
        target: Some(core::ObjectReference { kind: s("Node"), name: s("pb"), api_version: s("v1"), ..Default::default() }),
    };
    let (c, e) = api.call("POST", &format!("{pods}/bind-pb/binding"), PB, &framed("v1", "Binding", &binding), true);
    assert_eq!(c, 201, "{e}");
    let bind_json =
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bind-js"}, "target": {"kind": "Node", "name": "pb", "apiVersion": "v1"}});
    assert_eq!(api.send("POST", &format!("{pods}/bind-js/binding"), &bind_json).0, 201);
    let placed = |name: &str| api.get(&format!("{pods}/{name}")).1["spec"]["nodeName"].clone();
    assert_eq!((placed("bind-pb"), placed("bind-js")), (json!("pb"), json!("pb")));
    // A body of the wrong kind for the URL is named, nothing bound.
    let (c, e) = api.call("POST", &format!("{pods}/bind-js/binding"), PB, &framed("v1", "Pod", &pod("x")), true);
    assert!(c == 400 && e.contains("pods/binding takes a v1 Binding"), "{c} {e}");

    // /scale with a protobuf autoscaling/v1 Scale.
    let deploys = "/apis/apps/v1/namespaces/default/deployments";
    let deploy = json!({"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"none": "x"}}}}});
    assert_eq!(api.send("POST", deploys, &deploy).0, 201);
    let scale = autoscaling::Scale {
        metadata: Some(meta::ObjectMeta { name: s("d"), namespace: s("default"), ..Default::default() }),
        spec: Some(autoscaling::ScaleSpec { replicas: Some(3) }),
        status: None,
    };
    let (c, e) = api.call("PUT", &format!("{deploys}/d/scale"), PB, &framed("autoscaling/v1", "Scale", &scale), true);
    assert_eq!(c, 200, "{e}");
    assert_eq!(api.get(&format!("{deploys}/d")).1["spec"]["replicas"], 3);

    // DELETE with protobuf DeleteOptions: a stale precondition or a dry run deletes nothing.
    let delete = |path: &str, opts: &meta::DeleteOptions| api.call("DELETE", path, PB, &framed("v1", "DeleteOptions", opts), true);
    let rv = api.get(&format!("{pods}/bind-pb")).1["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let stale = meta::DeleteOptions { preconditions: Some(meta::Preconditions { resource_version: s("1"), uid: None }), ..Default::default() };
    let (c, e) = delete(&format!("{pods}/bind-pb"), &stale);
    assert!(c == 409 && e.contains("ResourceVersion in precondition: 1"), "{c} {e}");
    let dry = meta::DeleteOptions { dry_run: vec!["All".into()], ..Default::default() };
    let (c, e) = delete(&format!("{pods}/bind-pb"), &dry);
    assert!(c == 400 && e.contains("nothing was deleted"), "{c} {e}");
    assert_eq!(api.get(&format!("{pods}/bind-pb")).0, 200, "still there");
    let exact = meta::DeleteOptions {
        preconditions: Some(meta::Preconditions { resource_version: Some(rv), uid: None }),
        grace_period_seconds: Some(0),
        propagation_policy: s("Background"),
        ..Default::default()
    };
    let (c, e) = delete(&format!("{pods}/bind-pb"), &exact);
    assert_eq!(c, 200, "{e}");
    assert_eq!(api.get(&format!("{pods}/bind-pb")).0, 404);
    // Orphan through protobuf: the Deployment goes, its ReplicaSet stays.
    let rs_of_d = || api.get("/apis/apps/v1/namespaces/default/replicasets").1["items"].as_array().map_or(0, Vec::len);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rs_of_d() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rs_of_d(), 1, "the Deployment made its ReplicaSet");
    let (c, e) = delete(&format!("{deploys}/d"), &meta::DeleteOptions { propagation_policy: s("Orphan"), ..Default::default() });
    assert_eq!(c, 200, "{e}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rs_of_d(), 1, "orphaned, not collected");

    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
