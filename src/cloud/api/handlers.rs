//! Request handling of the cloud API: routing, create / get / list / update
//! / merge-patch / delete, `/status` subresources, label selectors, watch,
//! and Kubernetes `Status` errors with the right codes.
//!
//! Owns: the mapping between HTTP and the `Store`. Objects are kept without
//! `metadata.resourceVersion`; the store's revision is put in on the way out.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::resources::{self, Resource};
use crate::cloud::store::{Event, EventKind, Store, StoreError, Stored};
use crate::http::{self, Body};

/// openapi.v2.Document { swagger: "2.0", info: { title: "hive", version: "v1" } }, protobuf-encoded.
const EMPTY_OPENAPI: &[u8] = &[0x0a, 3, b'2', b'.', b'0', 0x12, 10, 0x0a, 4, b'h', b'i', b'v', b'e', 0x12, 2, b'v', b'1'];

/// Largest request body accepted (Kubernetes' own limit is 3 MiB).
pub const MAX_BODY: usize = 3 << 20;

pub struct ApiError(pub(crate) StatusCode, pub(crate) &'static str, pub(crate) String);

impl ApiError {
    pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, "BadRequest", msg.into())
    }
    fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, "NotFound", msg.into())
    }
    pub fn response(self) -> Response<Body> {
        http::status(self.0, self.1, &self.2)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let m = e.to_string();
        match e {
            StoreError::AlreadyExists(_) => ApiError(StatusCode::CONFLICT, "AlreadyExists", m),
            StoreError::NotFound(_) => ApiError(StatusCode::NOT_FOUND, "NotFound", m),
            StoreError::Conflict { .. } => ApiError(StatusCode::CONFLICT, "Conflict", m),
            StoreError::TooOld { .. } => ApiError(StatusCode::GONE, "Expired", m),
            StoreError::Io(_) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", m),
        }
    }
}

/// What a path names.
pub struct Target {
    pub res: &'static Resource,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub status: bool,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Discovery documents, or None if the path is not one.
pub fn discovery(path: &str) -> Option<Value> {
    match path.trim_end_matches('/') {
        "/version" => Some(json!({"major": "1", "minor": "20", "gitVersion": format!("v1.20.0-hive.{}", env!("CARGO_PKG_VERSION")), "platform": format!("linux/{}", std::env::consts::ARCH)})),
        "/api" => Some(resources::api_versions()),
        "/apis" => Some(resources::api_groups()),
        "/api/v1" => resources::resource_list("", "v1"),
        p => {
            let rest = p.strip_prefix("/apis/")?;
            let (g, v) = rest.split_once('/')?;
            if v.contains('/') {
                return None;
            }
            resources::resource_list(g, v)
        }
    }
}

pub fn route(path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Err(ApiError::not_found(format!("no such path: {path}"))),
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        _ => (None, rest),
    };
    let (plural, name, status) = match rest {
        [p] => (*p, None, false),
        [p, n] => (*p, Some(*n), false),
        [p, n, "status"] => (*p, Some(*n), true),
        _ => return Err(ApiError::not_found(format!("no such path: {path}"))),
    };
    let res = Resource::find(group, version, plural).ok_or_else(|| ApiError::not_found(format!("the server does not serve {plural} in {}", if group.is_empty() { version.to_string() } else { format!("{group}/{version}") })))?;
    if !res.namespaced && ns.is_some() {
        return Err(ApiError::not_found(format!("{plural} are not namespaced: {path}")));
    }
    if res.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::not_found(format!("{plural} are namespaced: {path}")));
    }
    for (what, v) in [("namespace", ns), ("name", name)] {
        if let Some(v) = v {
            if !valid_name(v) {
                return Err(ApiError::bad(format!("invalid {what} `{v}` in {path}: use lowercase letters, digits, '-' and '.'")));
            }
        }
    }
    Ok(Target { res, ns: ns.map(str::to_string), name: name.map(str::to_string), status })
}

/// The object as the API shows it: with its resourceVersion.
fn shown(s: &Stored) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&s.value).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", format!("{}: {e}", s.key)))?;
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(s.rev.to_string()));
    }
    Ok(v)
}

/// Label selector terms, then field selector terms (`metadata.name`, `metadata.namespace`, `spec.nodeName`).
struct Selectors {
    labels: Vec<(String, bool, String)>,
    fields: Vec<(String, bool, String)>,
}

fn selected(v: &Value, sel: &Selectors) -> bool {
    labels_match(v, &sel.labels)
        && sel.fields.iter().all(|(k, eq, want)| {
            let have = v.pointer(&format!("/{}", k.replace('.', "/"))).and_then(Value::as_str).unwrap_or("");
            (have == want) == *eq
        })
}

fn labels_match(v: &Value, selector: &[(String, bool, String)]) -> bool {
    let labels = v.pointer("/metadata/labels").and_then(Value::as_object);
    selector.iter().all(|(k, eq, want)| {
        let have = labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        if *eq {
            have == Some(want.as_str())
        } else {
            have != Some(want.as_str())
        }
    })
}

fn query_param<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&').find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(n) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=b,c!=d` (also `==`).
fn parse_selector(s: &str) -> Result<Vec<(String, bool, String)>, ApiError> {
    let s = percent_decode(s);
    s.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (k, eq, v) = if let Some((k, v)) = t.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = t.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = t.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad(format!("labelSelector `{t}`: only key=value, key==value and key!=value are supported")));
            };
            Ok((k.trim().to_string(), eq, v.trim().to_string()))
        })
        .collect()
}

async fn body_json(req: Request<Incoming>) -> Result<Value, ApiError> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.to_string().contains("length limit") {
                ApiError(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", format!("request body over {MAX_BODY} bytes"))
            } else {
                ApiError::bad(format!("reading the request body: {e}"))
            }
        })?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))
}

/// Check and complete an object for `t`; returns its name and the object to store.
fn prepare(t: &Target, mut v: Value, creating: bool) -> Result<(String, Value), ApiError> {
    let obj = v.as_object_mut().ok_or_else(|| ApiError::bad("the body must be a JSON object"))?;
    let api_version = t.res.api_version();
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k != t.res.kind => return Err(ApiError::bad(format!("kind: `{k}` sent to the {} endpoint", t.res.plural))),
        _ => {}
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(a) if a != api_version => return Err(ApiError::bad(format!("apiVersion: `{a}`, this endpoint serves {api_version}"))),
        _ => {}
    }
    obj.insert("kind".into(), Value::String(t.res.kind.into()));
    obj.insert("apiVersion".into(), Value::String(api_version));
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let meta = meta.as_object_mut().ok_or_else(|| ApiError::bad("metadata: must be an object"))?;
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => match (meta.get("generateName").and_then(Value::as_str), creating) {
            (Some(g), true) => format!("{g}{:05x}", fastrand::u32(..0xfffff)),
            _ => t.name.clone().ok_or_else(|| ApiError::bad("metadata.name: required"))?,
        },
    };
    if !valid_name(&name) {
        return Err(ApiError::bad(format!("metadata.name: `{name}` is not a valid name (lowercase letters, digits, '-', '.')")));
    }
    if let Some(path_name) = &t.name {
        if *path_name != name {
            return Err(ApiError::bad(format!("metadata.name: `{name}` does not match `{path_name}` in the URL")));
        }
    }
    meta.insert("name".into(), Value::String(name.clone()));
    if t.res.namespaced {
        let ns = t.ns.clone().unwrap_or_else(|| "default".into());
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if n != ns => return Err(ApiError::bad(format!("metadata.namespace: `{n}` does not match `{ns}` in the URL"))),
            _ => {}
        }
        meta.insert("namespace".into(), Value::String(ns));
    } else {
        meta.remove("namespace");
    }
    meta.remove("resourceVersion");
    if creating {
        meta.entry("uid").or_insert(Value::String(crate::cloud::status::new_uid()));
        meta.insert("creationTimestamp".into(), Value::String(crate::cloud::status::rfc3339_now()));
    }
    Ok((name, v))
}


fn rv_of(v: &Value) -> Result<Option<u64>, ApiError> {
    match v.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| ApiError::bad(format!("metadata.resourceVersion: `{s}` is not a revision"))),
        Some(other) => Err(ApiError::bad(format!("metadata.resourceVersion: must be a string, not {other}"))),
    }
}

fn encode(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn ok_json(code: StatusCode, v: &Value) -> Response<Body> {
    http::json(code, encode(v))
}

/// Handle one authenticated request. A write is answered only once it is
/// durable: nothing the API acknowledged is lost to a crash.
pub async fn handle(store: Arc<dyn Store + Send + Sync>, tunnel: &super::proxy::Tunnel, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    if let Some(target) = super::proxy::parse(req.uri().path()) {
        let (node, port, path) = target?;
        return super::proxy::call(tunnel, &node, port, path, req).await;
    }
    let writes = req.method() != Method::GET;
    let response = route_request(store.clone(), req).await?;
    if writes {
        smol::unblock(move || store.sync()).await?;
    }
    Ok(response)
}

async fn route_request(store: Arc<dyn Store + Send + Sync>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if req.method() == Method::GET {
        if let Some(doc) = discovery(&path) {
            return Ok(ok_json(StatusCode::OK, &doc));
        }
        if path == "/openapi/v2" {
            // kubectl apply insists on an OpenAPI document; an empty one
            // (no schemas) makes it skip client-side validation.
            return Ok(http::bytes(StatusCode::OK, "application/octet-stream", EMPTY_OPENAPI));
        }
    }
    let t = route(&path)?;
    let method = req.method().clone();
    match (method, &t.name) {
        (Method::GET, None) => list_or_watch(&*store, &t, &query),
        (Method::GET, Some(name)) => {
            let s = store.get(&t.res.key(t.ns.as_deref(), name))?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            Ok(ok_json(StatusCode::OK, &shown(&s)?))
        }
        (Method::POST, None) => {
            let (name, v) = prepare(&t, body_json(req).await?, true)?;
            let rev = store.create(&t.res.key(t.ns.as_deref(), &name), &encode(&v))?;
            Ok(ok_json(StatusCode::CREATED, &shown(&Stored { key: String::new(), rev, value: encode(&v) })?))
        }
        (Method::PUT, Some(name)) => {
            let body = body_json(req).await?;
            let expected = rv_of(&body)?;
            let key = t.res.key(t.ns.as_deref(), name);
            let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            let cur_v: Value = serde_json::from_slice(&cur.value).unwrap_or(Value::Null);
            let mut next = body;
            if t.status {
                // Only .status changes through the subresource.
                let status = next.get("status").cloned().unwrap_or(Value::Null);
                next = cur_v.clone();
                if let Some(o) = next.as_object_mut() {
                    o.insert("status".into(), status);
                }
            } else if let (Some(n), Some(st)) = (next.as_object_mut(), cur_v.get("status")) {
                // ...and never through the main resource.
                n.insert("status".into(), st.clone());
            }
            keep_identity(&mut next, &cur_v);
            let (_, v) = prepare(&t, next, false)?;
            let rev = store.update(&key, &encode(&v), expected.or(Some(cur.rev)))?;
            Ok(ok_json(StatusCode::OK, &shown(&Stored { key, rev, value: encode(&v) })?))
        }
        (Method::PATCH, Some(name)) => {
            let ct = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            if !ct.starts_with("application/merge-patch+json") && !ct.starts_with("application/strategic-merge-patch+json") {
                return Err(ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", format!("patch type `{ct}`: use application/merge-patch+json")));
            }
            let patch = body_json(req).await?;
            let key = t.res.key(t.ns.as_deref(), name);
            let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            let mut v: Value = serde_json::from_slice(&cur.value).map_err(|e| ApiError::bad(e.to_string()))?;
            let cur_v = v.clone();
            if t.status {
                let status_patch = patch.get("status").cloned().unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    crate::cloud::status::merge(o.entry("status").or_insert(Value::Null), &status_patch);
                }
            } else {
                let mut p = patch.clone();
                if let Some(o) = p.as_object_mut() {
                    o.remove("status");
                }
                crate::cloud::status::merge(&mut v, &p);
            }
            keep_identity(&mut v, &cur_v);
            let expected = rv_of(&patch)?.unwrap_or(cur.rev);
            let (_, v) = prepare(&t, v, false)?;
            let rev = store.update(&key, &encode(&v), Some(expected))?;
            Ok(ok_json(StatusCode::OK, &shown(&Stored { key, rev, value: encode(&v) })?))
        }
        (Method::DELETE, Some(name)) => {
            let gone = store.delete(&t.res.key(t.ns.as_deref(), name), None)?;
            Ok(ok_json(StatusCode::OK, &shown(&gone)?))
        }
        (m, _) => Err(ApiError(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{m} is not supported on {path}"))),
    }
}

/// uid and creationTimestamp are the server's.
fn keep_identity(next: &mut Value, cur: &Value) {
    for f in ["uid", "creationTimestamp"] {
        if let (Some(m), Some(v)) = (next.get_mut("metadata").and_then(Value::as_object_mut), cur.pointer(&format!("/metadata/{f}"))) {
            m.insert(f.into(), v.clone());
        }
    }
}

fn list_or_watch(store: &dyn Store, t: &Target, query: &str) -> Result<Response<Body>, ApiError> {
    let fields = parse_selector(query_param(query, "fieldSelector").unwrap_or(""))?;
    if let Some((k, _, _)) = fields.iter().find(|(k, _, _)| !matches!(k.as_str(), "metadata.name" | "metadata.namespace" | "spec.nodeName")) {
        return Err(ApiError::bad(format!("fieldSelector `{k}`: only metadata.name, metadata.namespace and spec.nodeName are supported")));
    }
    let selector = Selectors { labels: parse_selector(query_param(query, "labelSelector").unwrap_or(""))?, fields };
    let prefix = t.res.prefix(t.ns.as_deref());
    let watch = matches!(query_param(query, "watch"), Some("true") | Some("1"));
    let from: u64 = match query_param(query, "resourceVersion") {
        None | Some("") | Some("0") => 0,
        Some(s) => s.parse().map_err(|_| ApiError::bad(format!("resourceVersion `{s}` is not a revision")))?,
    };
    if watch {
        let mut initial = Vec::new();
        let from = if from == 0 {
            // No revision: the current objects as ADDED, then changes.
            let (items, rev) = store.list(&prefix)?;
            for s in &items {
                let v = shown(s)?;
                if selected(&v, &selector) {
                    initial.push(watch_line("ADDED", &v));
                }
            }
            rev
        } else {
            from
        };
        let w = store.watch(&prefix, from)?;
        let head = futures_lite::stream::iter(initial);
        let tail = futures_lite::stream::unfold((w.events, selector), |(rx, sel)| async move {
            loop {
                let ev: Event = rx.recv().await.ok()?;
                let s = Stored { key: ev.key.clone(), rev: ev.rev, value: ev.value.clone() };
                let Ok(v) = shown(&s) else { continue };
                if !selected(&v, &sel) {
                    continue;
                }
                let kind = match ev.kind {
                    EventKind::Added => "ADDED",
                    EventKind::Modified => "MODIFIED",
                    EventKind::Deleted => "DELETED",
                };
                return Some((watch_line(kind, &v), (rx, sel)));
            }
        });
        use futures_lite::StreamExt as _;
        return Ok(http::stream_of("application/json", head.chain(tail)));
    }
    let (items, rev) = store.list(&prefix)?;
    // Encode item by item: a list of 100,000 objects must not hold them all
    // as parsed JSON at once (memory, and glibc keeps what it once had).
    let head = json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": rev.to_string()}});
    let mut out = encode(&head);
    out.pop(); // the closing brace; items follow
    out.extend_from_slice(b",\"items\":[");
    let mut first = true;
    for s in items {
        let v = shown(&s)?;
        drop(s);
        if selected(&v, &selector) {
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut out, &v).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()))?;
        }
    }
    out.extend_from_slice(b"]}");
    Ok(http::json(StatusCode::OK, out))
}

fn watch_line(kind: &str, v: &Value) -> Bytes {
    let mut b = encode(&json!({"type": kind, "object": v}));
    b.push(b'\n');
    Bytes::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let t = route("/api/v1/namespaces/default/pods/web/status").ok().unwrap();
        assert_eq!((t.res.plural, t.ns.as_deref(), t.name.as_deref(), t.status), ("pods", Some("default"), Some("web"), true));
        let t = route("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices").ok().unwrap();
        assert_eq!(t.res.key(t.ns.as_deref(), "x"), "devices.kubeedge.io/devices/default/x");
        assert_eq!(route("/api/v1/nodes/edge-1").ok().unwrap().res.key(None, "edge-1"), "nodes/edge-1");
        assert!(route("/api/v1/namespaces/default/widgets").is_err());
        assert!(route("/api/v1/namespaces/x/nodes").is_err());
        assert_eq!(route("/api/v1/namespaces/Bad/pods").err().map(|e| e.0), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn selectors() {
        let v = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        assert!(labels_match(&v, &parse_selector("app%3Dweb,tier!=back").ok().unwrap()));
        assert!(!labels_match(&v, &parse_selector("app=db").ok().unwrap()));
        assert!(parse_selector("app in (a,b)").is_err());
    }
}
