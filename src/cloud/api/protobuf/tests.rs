//! The decoder on hand-built bytes: a ConfigMap with every field its table
//! has, and each kind of bad input refused with what is wrong and where.

use serde_json::json;

use super::decode;
use crate::cloud::api::resources::Resource;

fn key(no: u32, wt: u8, out: &mut Vec<u8>) {
    varint(u64::from(no) << 3 | u64::from(wt), out);
}
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
pub(super) fn bytes(no: u32, b: &[u8], out: &mut Vec<u8>) {
    key(no, 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}
pub(super) fn int(no: u32, v: u64, out: &mut Vec<u8>) {
    key(no, 0, out);
    varint(v, out);
}
fn msg(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}
fn entry(k: &str, v: &[u8]) -> Vec<u8> {
    msg(|m| {
        bytes(1, k.as_bytes(), m);
        bytes(2, v, m);
    })
}
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = b"k8s\0".to_vec();
    bytes(1, &msg(|m| (bytes(1, api_version.as_bytes(), m), bytes(2, kind.as_bytes(), m)).1), &mut out);
    bytes(2, raw, &mut out);
    bytes(3, b"", &mut out);
    bytes(4, b"", &mut out);
    out
}
fn res(kind: &str) -> &'static Resource {
    crate::cloud::api::resources::RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

fn full_meta() -> Vec<u8> {
    msg(|m| {
        bytes(1, b"cm", m);
        bytes(2, b"", m); // Go writes empty strings; JSON leaves them out
        bytes(3, b"default", m);
        int(7, 0, m);
        bytes(8, &[], m); // zero Time: null
        bytes(9, &msg(|t| int(1, 1_700_000_000, t)), m);
        int(10, 0, m); // a pointer: 0 is kept
        bytes(11, &entry("app", b"web"), m);
        bytes(12, &entry("note", b""), m);
        let owner = msg(|o| {
            bytes(5, b"v1", o);
            bytes(1, b"Pod", o);
            bytes(3, b"p", o);
            bytes(4, b"u-1", o);
            int(6, 1, o);
            int(7, 0, o);
        });
        bytes(13, &owner, m);
        bytes(14, b"example.com/f", m);
        let mf = msg(|e| {
            bytes(1, b"kubectl", e);
            bytes(2, b"Update", e);
            bytes(3, b"v1", e);
            bytes(4, &msg(|t| int(1, 86_400, t)), e);
            bytes(6, b"FieldsV1", e);
            bytes(7, &msg(|r| bytes(1, br#"{"f:data":{}}"#, r)), e);
        });
        bytes(17, &mf, m);
    })
}

#[test]
fn a_config_map_with_every_field_becomes_its_json() {
    let raw = msg(|c| {
        bytes(1, &full_meta(), c);
        int(4, 0, c);
        bytes(2, &entry("mode", b"fast"), c);
        bytes(2, &entry("empty", b""), c);
        bytes(3, &entry("bin", &[0, 255]), c);
    });
    let v = decode(&envelope("v1", "ConfigMap", &raw), res("ConfigMap")).unwrap_or_else(|e| panic!("{}", e.2));
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": false,
            "metadata": {"name": "cm", "namespace": "default", "creationTimestamp": null,
                "deletionTimestamp": "2023-11-14T22:13:20Z", "deletionGracePeriodSeconds": 0,
                "labels": {"app": "web"}, "annotations": {"note": ""},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1", "controller": true, "blockOwnerDeletion": false}],
                "finalizers": ["example.com/f"],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": "1970-01-02T00:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]},
            "data": {"mode": "fast", "empty": ""}, "binaryData": {"bin": "AP8="}})
    );
}

#[test]
fn bad_bodies_are_refused_naming_what_is_wrong() {
    let cm = msg(|c| bytes(2, &entry("a", b"1"), c));
    let good = envelope("v1", "ConfigMap", &cm);
    let check = |body: &[u8], kind: &str, status: u16, want: &str| {
        let e = decode(body, res(kind)).err().unwrap_or_else(|| panic!("{want}: accepted"));
        assert_eq!(e.0.as_u16(), status, "{}", e.2);
        assert!(e.2.contains(want), "{want:?} not in {:?}", e.2);
    };
    check(b"k8s", "ConfigMap", 400, "does not start with");
    check(b"{\"kind\":1}", "ConfigMap", 400, "does not start with");
    check(&good[..good.len() - 3], "ConfigMap", 400, "malformed");
    check(&good, "Secret", 400, "this URL is for v1 Secret");
    // A CRD (KubeEdge's Device) is JSON only.
    check(&envelope(&res("Device").api_version(), "Device", &[]), "Device", 415, "Device is not decoded");
    // A field hive cannot carry (ObjectMeta field 15, once clusterName) is refused with its path.
    let unknown = msg(|c| bytes(1, &msg(|m| bytes(15, b"x", m)), c));
    check(&envelope("v1", "ConfigMap", &unknown), "ConfigMap", 415, "metadata: field number 15 of ObjectMeta");
    let wrong_type = msg(|c| bytes(1, &msg(|m| int(1, 5, m)), c));
    check(&envelope("v1", "ConfigMap", &wrong_type), "ConfigMap", 400, "metadata.name: expected length-delimited");
    let bad_utf8 = msg(|c| bytes(2, &entry("a", &[0xff]), c));
    check(&envelope("v1", "ConfigMap", &bad_utf8), "ConfigMap", 400, "data[\"a\"]: not UTF-8");
    let mut encoded = b"k8s\0".to_vec();
    bytes(2, &cm, &mut encoded);
    bytes(3, b"gzip", &mut encoded);
    check(&encoded, "ConfigMap", 400, "this URL is for");
}

/// A Deployment as kubectl 1.32's `create deployment` sends it (Go writes
/// every non-pointer field, empty or not), with an int-or-string, a
/// quantity map and inline structs (a volume's source, a probe's handler).
#[test]
fn a_deployment_from_kubectl_create_becomes_its_json() {
    let container = msg(|c| {
        bytes(1, b"web", c);
        bytes(2, b"busybox:1", c);
        bytes(3, b"sleep", c);
        bytes(5, b"", c);
        bytes(6, &msg(|p| int(3, 80, p)), c);
        bytes(8, &msg(|r| bytes(1, &entry("memory", &msg(|q| bytes(1, b"64Mi", q))), r)), c);
        let port = msg(|t| (int(1, 1, t), bytes(3, b"http", t)).1);
        bytes(11, &msg(|p| (bytes(1, &msg(|h| bytes(2, &msg(|g| bytes(2, &port, g)), h)), p), int(4, 5, p)).1), c);
        int(16, 0, c);
        bytes(20, b"", c);
    });
    let pod_spec = msg(|s| {
        bytes(1, &msg(|v| (bytes(1, b"conf", v), bytes(2, &msg(|src| bytes(19, &msg(|cm| bytes(1, &msg(|r| bytes(1, b"app-config", r)), cm)), src)), v)).1), s);
        bytes(2, &container, s);
        bytes(3, b"", s);
        int(11, 0, s);
    });
    let raw = msg(|d| {
        bytes(1, &msg(|m| (bytes(1, b"web", m), bytes(11, &entry("app", b"web"), m)).1), d);
        let spec = msg(|s| {
            int(1, 2, s);
            bytes(2, &msg(|l| bytes(1, &entry("app", b"web"), l)), s);
            bytes(3, &msg(|t| (bytes(1, &msg(|m| (bytes(8, &[], m), bytes(11, &entry("app", b"web"), m)).1), t), bytes(2, &pod_spec, t)).1), s);
            let ru = msg(|r| {
                (bytes(1, &msg(|i| (int(1, 0, i), int(2, 1, i), bytes(3, b"", i)).1), r), bytes(2, &msg(|i| (int(1, 1, i), bytes(3, b"25%", i)).1), r)).1
            });
            bytes(4, &msg(|st| bytes(2, &ru, st)), s);
            int(5, 0, s);
            int(7, 0, s);
        });
        bytes(2, &spec, d);
        bytes(3, &[], d);
    });
    let v = decode(&envelope("apps/v1", "Deployment", &raw), res("Deployment")).unwrap_or_else(|e| panic!("{}", e.2));
    assert_eq!(
        v,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"volumes": [{"name": "conf", "configMap": {"name": "app-config"}}],
                        "containers": [{"name": "web", "image": "busybox:1", "command": ["sleep"], "ports": [{"containerPort": 80}],
                            "resources": {"limits": {"memory": "64Mi"}}, "readinessProbe": {"httpGet": {"port": "http"}, "periodSeconds": 5}}]}},
                "strategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}}},
            "status": {}})
    );
    // A PodSpec field without a table (34: ephemeralContainers) is refused by name and number.
    let raw = msg(|d| bytes(2, &msg(|s| bytes(3, &msg(|t| bytes(2, &msg(|p| bytes(34, &[], p)), t)), s)), d));
    let e = decode(&envelope("apps/v1", "Deployment", &raw), res("Deployment")).err().unwrap();
    assert!(e.2.contains("spec.template.spec: field number 34 of PodSpec"), "{}", e.2);
}
