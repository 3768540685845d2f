//! The columns `kubectl get` shows for each kind hive serves, and the cells
//! of one object, as Kubernetes' own printers define them (pods: NAME READY
//! STATUS RESTARTS AGE, wide IP NODE NOMINATED NODE READINESS GATES; nodes:
//! NAME STATUS ROLES AGE VERSION, wide INTERNAL-IP EXTERNAL-IP OS-IMAGE
//! KERNEL-VERSION CONTAINER-RUNTIME; …). Kinds without a printer of their
//! own (devices, device models) get NAME AGE, as a CustomResource does.
//!
//! Owns: the column sets and cell values. Must not know about HTTP or the
//! store; the pod STATUS rules are in pod.rs.

use serde_json::{json, Value};

use super::pod;

/// One column: name, type (string / integer / date), format, priority (1: only with `-o wide`), description.
pub struct Column(pub &'static str, pub &'static str, pub &'static str, pub u8, pub &'static str);

const NAME: Column = Column("Name", "string", "name", 0, "Name must be unique within a namespace.");
const AGE: Column = Column("Age", "string", "", 0, "CreationTimestamp is the time the object was created.");

pub fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Pod" => vec![
            NAME,
            Column("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
            Column("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
            Column(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            Column("IP", "string", "", 1, "IP address allocated to the pod."),
            Column("Node", "string", "", 1, "Name of the Node this pod is assigned to."),
            Column("Nominated Node", "string", "", 1, "Name of the node nominated by the scheduler."),
            Column("Readiness Gates", "string", "", 1, "The readiness gates of this pod."),
        ],
        "Node" => vec![
            NAME,
            Column("Status", "string", "", 0, "The status of the node"),
            Column("Roles", "string", "", 0, "The roles of the node"),
            AGE,
            Column("Version", "string", "", 0, "Kubelet Version reported by the node."),
            Column("Internal-IP", "string", "", 1, "List of addresses reachable to the node."),
            Column("External-IP", "string", "", 1, "List of addresses reachable to the node."),
            Column("OS-Image", "string", "", 1, "OS Image reported by the node from /etc/os-release."),
            Column("Kernel-Version", "string", "", 1, "Kernel Version reported by the node."),
            Column("Container-Runtime", "string", "", 1, "Container Runtime Version reported by the node."),
        ],
        "Namespace" => vec![NAME, Column("Status", "string", "", 0, "The status of the namespace"), AGE],
        "ConfigMap" => vec![NAME, Column("Data", "integer", "", 0, "Data contains the configuration data."), AGE],
        "Secret" => {
            vec![NAME, Column("Type", "string", "", 0, "The type of the secret"), Column("Data", "integer", "", 0, "The number of entries in the secret"), AGE]
        }
        "DaemonSet" => vec![
            NAME,
            Column("Desired", "integer", "", 0, "The desired number of pods."),
            Column("Current", "integer", "", 0, "The current number of pods."),
            Column("Ready", "integer", "", 0, "The number of pods ready."),
            Column("Up-to-date", "integer", "", 0, "The number of pods updated."),
            Column("Available", "integer", "", 0, "The number of pods ready for at least minReadySeconds."),
            Column("Node Selector", "string", "", 0, "Which nodes the pods run on."),
            AGE,
            Column("Containers", "string", "", 1, "Names of each container in the template."),
            Column("Images", "string", "", 1, "Images referenced by each container in the template."),
            Column("Selector", "string", "", 1, "Label selector for pods."),
        ],
        "Deployment" => vec![
            NAME,
            Column("Ready", "string", "", 0, "Number of the pod with ready state"),
            Column("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            Column("Available", "string", "", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            AGE,
            Column("Containers", "string", "", 1, "Names of each container in the template."),
            Column("Images", "string", "", 1, "Images referenced by each container in the template."),
            Column("Selector", "string", "", 1, "Label selector for pods."),
        ],
        "ReplicaSet" => vec![
            NAME,
            Column("Desired", "integer", "", 0, "Replicas is the number of desired replicas."),
            Column("Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."),
            Column("Ready", "integer", "", 0, "The number of ready replicas for this replica set."),
            AGE,
            Column("Containers", "string", "", 1, "Names of each container in the template."),
            Column("Images", "string", "", 1, "Images referenced by each container in the template."),
            Column("Selector", "string", "", 1, "Label selector for pods."),
        ],
        "Event" => vec![
            Column("Last Seen", "string", "", 0, "Time when last this event was seen."),
            Column("Type", "string", "", 0, "Type of this event (Normal, Warning)."),
            Column("Reason", "string", "", 0, "Why the action was taken."),
            Column("Object", "string", "", 0, "The object that this event is about."),
            Column("Subobject", "string", "", 1, "The subobject that this event is about."),
            Column("Source", "string", "", 1, "The component reporting this event."),
            Column("Message", "string", "", 0, "A human-readable description of the status of this operation."),
            Column("First Seen", "string", "", 1, "The time at which the event was first recorded."),
            Column("Count", "string", "", 1, "The number of times this event has occurred."),
            Column("Name", "string", "name", 1, "Name must be unique within a namespace."),
        ],
        _ => vec![NAME, AGE],
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.into()
    }
}

fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "<unknown>".into()
    } else {
        s.into()
    }
}

fn count(v: &Value, ptr: &str) -> usize {
    v.pointer(ptr).and_then(Value::as_object).map_or(0, |m| m.len())
}

/// The age of an object with this creationTimestamp, `now` in Unix seconds.
pub fn age(created: &str, now: i64) -> String {
    match crate::kube::parse_rfc3339(created) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

/// A duration as Kubernetes prints ages: `45s`, `3m12s`, `25m`, `5h7m`, `3d4h`, `400d`, `3y20d`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    let pair = |a: i64, ua: &str, b: i64, ub: &str| if b == 0 { format!("{a}{ua}") } else { format!("{a}{ua}{b}{ub}") };
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        pair(m, "m", secs % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        pair(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        pair(d, "d", h % 24, "h")
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        pair(d / 365, "y", d % 365, "d")
    } else {
        format!("{}y", d / 365)
    }
}

/// The cells of one object's row, in the order of `columns(kind)`.
pub fn cells(kind: &str, v: &Value, now: i64) -> Vec<Value> {
    let name = json!(s(v, "/metadata/name"));
    let age = json!(age(s(v, "/metadata/creationTimestamp"), now));
    match kind {
        "Pod" => {
            let p = pod::summary(v, now);
            let gates = v.pointer("/spec/readinessGates").and_then(Value::as_array).map_or(0, Vec::len);
            let gates = if gates == 0 { "<none>".to_string() } else { format!("{}/{gates}", p.gates_true) };
            vec![
                name,
                json!(format!("{}/{}", p.ready, p.total)),
                json!(p.reason),
                json!(p.restarts),
                age,
                json!(or_none(s(v, "/status/podIP"))),
                json!(or_none(s(v, "/spec/nodeName"))),
                json!(or_none(s(v, "/status/nominatedNodeName"))),
                json!(gates),
            ]
        }
        "Node" => {
            let addr =
                |t: &str| crate::kube::items(v, "/status/addresses").find(|a| a["type"] == t).and_then(|a| a["address"].as_str()).unwrap_or("").to_string();
            vec![
                name,
                json!(node_status(v)),
                json!(node_roles(v)),
                age,
                json!(s(v, "/status/nodeInfo/kubeletVersion")),
                json!(or_none(&addr("InternalIP"))),
                json!(or_none(&addr("ExternalIP"))),
                json!(or_unknown(s(v, "/status/nodeInfo/osImage"))),
                json!(or_unknown(s(v, "/status/nodeInfo/kernelVersion"))),
                json!(or_unknown(s(v, "/status/nodeInfo/containerRuntimeVersion"))),
            ]
        }
        "Namespace" => vec![name, json!(s(v, "/status/phase")), age],
        "DaemonSet" | "Deployment" | "ReplicaSet" => {
            let n = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
            let pairs = |p: &str| {
                let m = v
                    .pointer(p)
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","));
                or_none(&m.unwrap_or_default())
            };
            let containers = crate::kube::items(v, "/spec/template/spec/containers");
            let (names, images): (Vec<&str>, Vec<&str>) = containers.map(|c| (c["name"].as_str().unwrap_or(""), c["image"].as_str().unwrap_or(""))).unzip();
            let mut row = vec![name];
            match kind {
                "DaemonSet" => {
                    for f in ["desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled", "numberAvailable"] {
                        row.push(json!(n(&format!("/status/{f}"))));
                    }
                    row.push(json!(pairs("/spec/template/spec/nodeSelector")));
                }
                "Deployment" => {
                    let want = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
                    row.push(json!(format!("{}/{want}", n("/status/readyReplicas"))));
                    row.push(json!(n("/status/updatedReplicas")));
                    row.push(json!(n("/status/availableReplicas")));
                }
                _ => {
                    row.push(json!(v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)));
                    row.push(json!(n("/status/replicas")));
                    row.push(json!(n("/status/readyReplicas")));
                }
            }
            row.extend([age, json!(names.join(",")), json!(images.join(",")), json!(pairs("/spec/selector/matchLabels"))]);
            row
        }
        "Event" => {
            // As the server prints it: the last time (the first when there is none).
            let first = self::age(s(v, "/firstTimestamp"), now);
            let last = if s(v, "/lastTimestamp").is_empty() { first.clone() } else { self::age(s(v, "/lastTimestamp"), now) };
            let count = v["count"].as_u64().unwrap_or(1);
            let seen = last;
            let kind = s(v, "/involvedObject/kind").to_lowercase();
            vec![
                json!(seen),
                json!(s(v, "/type")),
                json!(s(v, "/reason")),
                json!(format!("{kind}/{}", s(v, "/involvedObject/name"))),
                json!(s(v, "/involvedObject/fieldPath")),
                json!(s(v, "/source/component")),
                json!(s(v, "/message")),
                json!(first),
                json!(count.to_string()),
                name,
            ]
        }
        "ConfigMap" => vec![name, json!(count(v, "/data") + count(v, "/binaryData")), age],
        "Secret" => vec![name, json!(s(v, "/type")), json!(count(v, "/data")), age],
        _ => vec![name, age],
    }
}

/// Ready / NotReady / Unknown from the Ready condition, `,SchedulingDisabled` when cordoned.
pub fn node_status(v: &Value) -> String {
    let mut out = match crate::kube::items(v, "/status/conditions").find(|c| c["type"] == "Ready").and_then(|c| c["status"].as_str()) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if v.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        out.push_str(",SchedulingDisabled");
    }
    out
}

/// Roles from `node-role.kubernetes.io/<role>` labels (and `kubernetes.io/role`), sorted, or `<none>`.
pub fn node_roles(v: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = v.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, val) in labels {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                if !r.is_empty() {
                    roles.push(r.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(r) = val.as_str().filter(|r| !r.is_empty()) {
                    roles.push(r.to_string());
                }
            }
        }
    }
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_print_as_kubernetes_prints_them() {
        let cases = [(5, "5s"), (119, "119s"), (125, "2m5s"), (180, "3m"), (600, "10m"), (3 * 3600, "3h"), (5 * 3600 + 420, "5h7m"), (30 * 3600, "30h")];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
        assert_eq!(human_duration(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(human_duration(400 * 86400), "400d");
        assert_eq!(human_duration((3 * 365 + 20) * 86400), "3y20d");
        assert_eq!(human_duration(-5), "<invalid>");
        assert_eq!(age("2026-01-01T00:00:00Z", 1_767_225_600 + 90), "90s");
        assert_eq!(age("yesterday", 0), "<unknown>");
    }

    #[test]
    fn node_cells() {
        let n = json!({"metadata": {"name": "edge-1", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/agent": "", "kubernetes.io/os": "linux"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
                "nodeInfo": {"kubeletVersion": "hive-v0.1.0", "kernelVersion": "6.1.0"}}});
        let c = cells("Node", &n, 1_767_225_600 + 60);
        assert_eq!(c.len(), columns("Node").len());
        let want =
            json!(["edge-1", "NotReady,SchedulingDisabled", "agent,edge", "60s", "hive-v0.1.0", "10.0.0.7", "<none>", "<unknown>", "6.1.0", "<unknown>"]);
        assert_eq!(Value::Array(c), want);
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells("ConfigMap", &cm, 0)[1], json!(3));
        for kind in ["Pod", "Node", "Namespace", "ConfigMap", "Secret", "Event", "DaemonSet", "Deployment", "ReplicaSet", "Device"] {
            assert_eq!(cells(kind, &json!({}), 0).len(), columns(kind).len(), "{kind}");
        }
    }
}
