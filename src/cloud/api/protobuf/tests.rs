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
fn bytes(no: u32, b: &[u8], out: &mut Vec<u8>) {
    key(no, 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}
fn int(no: u32, v: u64, out: &mut Vec<u8>) {
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
    check(&envelope("v1", "Pod", &[]), "Pod", 415, "Pod is not decoded");
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
