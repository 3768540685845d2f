//! Every table against k8s-pb's messages (prost code generated from the
//! same upstream generated.proto files Kubernetes ships): for each kind
//! hive decodes, a body with every tabled field set (lists twice) is made
//! from hive's own table, read into k8s-pb's message and written out
//! again, and both are decoded by hive. A field tabled under a wrong number
//! or type is lost or refused on the way, so the two JSONs differ; one
//! tabled under a wrong name does not show up under that name in the
//! message's Debug form.

use prost::Message;
use serde_json::Value;

use super::schema::{kind, Msg, Ty};
use super::tests::{bytes, int};
use super::{decode_as, MAGIC};

fn entry(k: &str, v: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    bytes(1, k.as_bytes(), &mut e);
    bytes(2, v, &mut e);
    e
}
fn quantity() -> Vec<u8> {
    let mut q = Vec::new();
    bytes(1, b"1536Mi", &mut q);
    q
}

/// Every field of `msg` set once (lists twice): strings hold their own JSON
/// name, integers their field number plus 1000, so a swap shows.
fn every_field(msg: &Msg, depth: usize) -> Vec<u8> {
    assert!(depth < 16, "{}: tables nest deeper than 16", msg.name);
    let mut out = Vec::new();
    for f in msg.fields {
        for _ in 0..if f.list { 2 } else { 1 } {
            let no = f.no;
            match f.ty {
                Ty::Str => bytes(no, f.name.as_bytes(), &mut out),
                Ty::Int => int(no, u64::from(no) + 1000, &mut out),
                Ty::Bool => int(no, 1, &mut out),
                Ty::Msg(m) | Ty::Inline(m) => bytes(no, &every_field(m, depth + 1), &mut out),
                Ty::Time | Ty::MicroTime => {
                    let mut t = Vec::new();
                    int(1, 1_700_000_000 + u64::from(no), &mut t);
                    int(2, 123_456_000, &mut t);
                    bytes(no, &t, &mut out);
                }
                Ty::RawJson => {
                    let mut r = Vec::new();
                    bytes(1, br#"{"f:spec":{}}"#, &mut r);
                    bytes(no, &r, &mut out);
                }
                Ty::MapStr => bytes(no, &entry(f.name, b"v"), &mut out),
                Ty::MapBytes => bytes(no, &entry(f.name, &[0, 255]), &mut out),
                Ty::MapQuantity => bytes(no, &entry("memory", &quantity()), &mut out),
                Ty::Quantity => bytes(no, &quantity(), &mut out),
                Ty::IntOrStr => {
                    let mut i = Vec::new();
                    int(1, 1, &mut i);
                    bytes(3, b"25%", &mut i);
                    bytes(no, &i, &mut out);
                }
            }
        }
    }
    out
}

/// What each field must look like in the message's Debug form, which
/// names fields as prost does (snake case of the proto name; compared
/// without `_`, spaces and case).
fn names(msg: &Msg, out: &mut Vec<String>) {
    for f in msg.fields {
        let name = f.name.to_ascii_lowercase();
        match f.ty {
            Ty::Str if f.list => out.push(format!("{name}:[\"{name}\",")),
            Ty::Str => out.push(format!("{name}:some(\"{name}\")")),
            Ty::Int if !f.list => out.push(format!("{name}:some({})", f.no + 1000)),
            Ty::Bool if !f.list => out.push(format!("{name}:some(true)")),
            Ty::Inline(m) => names(m, out),
            Ty::Msg(m) => {
                out.push(format!("{name}:"));
                names(m, out);
            }
            _ => out.push(format!("{name}:")),
        }
    }
}

fn through<M: Message + Default + std::fmt::Debug>(raw: &[u8]) -> Result<(Vec<u8>, String), prost::DecodeError> {
    let m = M::decode(raw)?;
    Ok((m.encode_to_vec(), format!("{m:?}")))
}

type Through = fn(&[u8]) -> Result<(Vec<u8>, String), prost::DecodeError>;

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Vec::new();
    bytes(1, api_version.as_bytes(), &mut tm);
    bytes(2, kind.as_bytes(), &mut tm);
    let mut out = MAGIC.to_vec();
    bytes(1, &tm, &mut out);
    bytes(2, raw, &mut out);
    out
}

#[test]
fn every_table_round_trips_through_k8s_pb() {
    use k8s_pb::api::{apps::v1 as apps, autoscaling::v1 as autoscaling, core::v1 as core};
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    let kinds: &[(&str, &str, Through)] = &[
        ("v1", "ConfigMap", through::<core::ConfigMap>),
        ("v1", "Secret", through::<core::Secret>),
        ("v1", "Namespace", through::<core::Namespace>),
        ("v1", "Pod", through::<core::Pod>),
        ("v1", "Node", through::<core::Node>),
        ("v1", "Event", through::<core::Event>),
        ("v1", "Binding", through::<core::Binding>),
        ("apps/v1", "DaemonSet", through::<apps::DaemonSet>),
        ("apps/v1", "Deployment", through::<apps::Deployment>),
        ("apps/v1", "ReplicaSet", through::<apps::ReplicaSet>),
        ("autoscaling/v1", "Scale", through::<autoscaling::Scale>),
        ("v1", "DeleteOptions", through::<meta::DeleteOptions>),
    ];
    let mut failures = Vec::new();
    for (api_version, k, through) in kinds {
        let msg = kind(k).unwrap_or_else(|| panic!("{k}: no table"));
        let raw = every_field(msg, 0);
        let decode = |raw: &[u8]| decode_as(&envelope(api_version, k, raw), k, &[api_version], "test").map_err(|e| e.2);
        let ours = decode(&raw).unwrap_or_else(|e| panic!("{k}: hive refuses its own every-field body: {e}"));
        let (again, debug) = through(&raw).unwrap_or_else(|e| panic!("{k}: k8s-pb cannot read hive's every-field body: {e}"));
        match decode(&again) {
            Ok(theirs) if theirs == ours => {}
            Ok(theirs) => failures.push(format!("{k}: lost or changed through k8s-pb: {}", diff(&ours, &theirs, ""))),
            Err(e) => failures.push(format!("{k}: k8s-pb's encoding refused: {e}")),
        }
        let debug: String = debug.chars().filter(|c| *c != '_' && *c != ' ').collect::<String>().to_ascii_lowercase();
        let mut want = Vec::new();
        names(msg, &mut want);
        for w in want {
            if !debug.contains(&w) {
                failures.push(format!("{k}: `{w}` not in k8s-pb's message"));
            }
        }
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}

/// The first place two JSON values differ.
fn diff(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if w == v => {}
                    Some(w) => return diff(v, w, &format!("{at}.{k}")),
                    None => return format!("{at}.{k} missing"),
                }
            }
            format!("{at}: extra keys {:?}", y.keys().filter(|k| !x.contains_key(*k)).collect::<Vec<_>>())
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find(|(_, (v, w))| v != w).map_or_else(String::new, |(i, (v, w))| diff(v, w, &format!("{at}[{i}]")))
        }
        _ => format!("{at}: {a} became {b}"),
    }
}
