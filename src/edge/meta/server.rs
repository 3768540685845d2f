//! MetaServer: the edge-local, read-only, Kubernetes-style JSON API served
//! from MetaManager's cache, whether or not the cloud is reachable.
//!
//! Owns: routes, list/get/watch responses and the watcher registry. Must
//! not write the cache. Secrets go only to loopback peers, and no object
//! content is ever logged.
//!
//! Routes (GET only): `/api/v1/namespaces/{ns}/{pods|configmaps|secrets}[/{name}]`,
//! `/api/v1/{pods|configmaps|secrets|nodes}`, `/api/v1/nodes/{name}`,
//! `/apis/devices.kubeedge.io/v1beta1/[namespaces/{ns}/]{devices|devicemodels}[/{name}]`,
//! `/healthz`, `/livez`, `/readyz` and `/metrics` (health.rs); `?watch=true` streams `{"type":…,"object":…}` lines (first
//! the current objects as ADDED, then changes).

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use smol::channel::{self, Sender};
use smol::net::TcpListener;
use smol::LocalExecutor;

use super::lookup::{Lookup, LookupError};
use super::store::Change;
use super::NAME;
use crate::http::{self, Body};

/// A resource the API knows: URL plural → cache kind, list kind, apiVersion, namespaced.
struct Resource {
    kind: &'static str,
    list_kind: &'static str,
    api_version: &'static str,
    namespaced: bool,
}

fn core_resource(plural: &str) -> Option<Resource> {
    let (kind, list_kind, namespaced) = match plural {
        "pods" => ("pod", "PodList", true),
        "configmaps" => ("configmap", "ConfigMapList", true),
        "secrets" => ("secret", "SecretList", true),
        "nodes" => ("node", "NodeList", false),
        _ => return None,
    };
    Some(Resource { kind, list_kind, api_version: "v1", namespaced })
}

fn device_resource(plural: &str) -> Option<Resource> {
    let (kind, list_kind) = match plural {
        "devices" => ("device", "DeviceList"),
        "devicemodels" => ("devicemodel", "DeviceModelList"),
        _ => return None,
    };
    Some(Resource { kind, list_kind, api_version: "devices.kubeedge.io/v1beta1", namespaced: true })
}

/// What a request asks for.
struct Query {
    res: Resource,
    ns: Option<String>,
    name: Option<String>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Finds the resource a path segment names, in one API group.
type ResourceOf = fn(&str) -> Option<Resource>;

/// Parse a path into a query, or a 404/400 response naming what is wrong.
#[allow(clippy::result_large_err)] // the error is the response itself, built once per bad request
fn route(path: &str) -> Result<Query, Response<Body>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_found = || http::status(StatusCode::NOT_FOUND, "NotFound", &format!("no such resource path: {path}"));
    let (res_of, rest): (ResourceOf, &[&str]) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => (core_resource, rest),
        ["apis", "devices.kubeedge.io", "v1beta1", rest @ ..] => (device_resource, rest),
        _ => return Err(not_found()),
    };
    let (ns, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return Err(not_found()),
    };
    let res = res_of(plural).ok_or_else(not_found)?;
    if res.namespaced && ns.is_none() && name.is_some() {
        return Err(not_found());
    }
    if !res.namespaced && ns.is_some() {
        return Err(not_found());
    }
    for (what, v) in [("namespace", ns), ("name", name)] {
        if let Some(v) = v {
            if !valid_name(v) {
                return Err(http::status(StatusCode::BAD_REQUEST, "BadRequest", &format!("invalid {what} `{v}` in {path}")));
            }
        }
    }
    Ok(Query { res, ns: ns.map(str::to_string), name: name.map(str::to_string) })
}

impl Query {
    /// Does cache key `<ns>/<kind>/<name>` belong to this query?
    fn matches(&self, key: &str) -> bool {
        let (ns, kind, name) = crate::kube::split_key(key);
        kind == self.res.kind && self.ns.as_deref().is_none_or(|n| n == ns) && self.name.as_deref().is_none_or(|n| n == name)
    }

    /// The narrowest key prefix that holds every match.
    fn prefix(&self) -> String {
        match (&self.ns, &self.name) {
            (Some(ns), Some(name)) => format!("{ns}/{}/{name}", self.res.kind),
            (Some(ns), None) => format!("{ns}/{}/", self.res.kind),
            (None, _) if !self.res.namespaced => format!("/{}/", self.res.kind),
            (None, _) => String::new(),
        }
    }

    fn key(&self) -> String {
        format!("{}/{}/{}", self.ns.as_deref().unwrap_or(""), self.res.kind, self.name.as_deref().unwrap_or(""))
    }
}

/// Watches open at once on the edge-local API; one more is answered 429.
pub const MAX_WATCHES: usize = 1024;

/// Open watches. A watch whose client went away is forgotten the next time
/// a watch is opened or a change is sent (its channel and the events queued
/// in it are freed then), so closed watches never pile up.
#[derive(Default)]
pub struct Watchers {
    list: Vec<(Query, Sender<Bytes>)>,
}

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(object.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(object);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

impl Watchers {
    /// Send a change to every watch it concerns; a watcher that cannot keep
    /// up is dropped (its stream ends, the client watches again).
    pub fn notify(&mut self, c: &Change) {
        let (kind, key, object) = match c {
            Change::Added(k, o) => ("ADDED", k, o),
            Change::Modified(k, o) => ("MODIFIED", k, o),
            Change::Deleted(k, o) => ("DELETED", k, o),
        };
        if !is_json(object) {
            return;
        }
        let line = event_line(kind, object);
        self.list.retain(|(q, tx)| !tx.is_closed() && (!q.matches(key) || tx.try_send(line.clone()).is_ok()));
    }

    /// Register a watch, unless `MAX_WATCHES` are open (closed ones are dropped first).
    fn add(&mut self, q: Query, tx: Sender<Bytes>) -> Result<(), usize> {
        self.list.retain(|(_, tx)| !tx.is_closed());
        if self.list.len() >= MAX_WATCHES {
            return Err(self.list.len());
        }
        self.list.push((q, tx));
        Ok(())
    }

    /// Watches open now (after dropping closed ones).
    pub fn open(&mut self) -> usize {
        self.list.retain(|(_, tx)| !tx.is_closed());
        self.list.len()
    }

    pub fn close_all(&mut self) {
        self.list.clear();
    }
}

fn is_json(b: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok()
}

/// Serve the API on `listener` until dropped.
pub async fn serve(listener: TcpListener, ex: &LocalExecutor<'_>, lookup: Rc<Lookup>, limits: http::Limits) {
    let handler = Rc::new(move |req: Request<Incoming>, peer: SocketAddr| {
        let lookup = lookup.clone();
        async move {
            let r = handle(&lookup, &req, peer).await;
            log::debug!(target: NAME, "{} {} from {peer}: {}", req.method(), req.uri().path(), r.status().as_u16());
            r
        }
    });
    http::serve(listener, ex, handler, NAME, limits).await
}

async fn handle(lookup: &Lookup, req: &Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (store, watchers) = (&lookup.store, &lookup.watchers);
    let path = req.uri().path();
    if req.method() == Method::GET {
        if let Some(r) = super::health::answer(lookup, path, req.uri().query().unwrap_or("")) {
            return r;
        }
    }
    if req.method() != Method::GET {
        return http::status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "the edge-local API is read-only");
    }
    let q = match route(path) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    if q.res.kind == "secret" && !peer.ip().is_loopback() {
        return http::status(StatusCode::FORBIDDEN, "Forbidden", "secrets are served only to 127.0.0.1");
    }
    let watch = req.uri().query().unwrap_or("").split('&').any(|p| p == "watch=true" || p == "watch=1");
    let items = match store.scan(&q.prefix()) {
        Ok(all) => all.into_iter().filter(|(k, _, _)| q.matches(k)).collect::<Vec<_>>(),
        Err(e) => return http::status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    if watch {
        let (tx, rx) = channel::bounded(1024);
        for (_, _, obj) in items.iter().filter(|(_, _, o)| is_json(o)) {
            if tx.try_send(event_line("ADDED", obj)).is_err() {
                return http::status(StatusCode::GONE, "Expired", "too many objects for one watch; list, then watch");
            }
        }
        if let Err(n) = watchers.borrow_mut().add(q, tx) {
            return http::status(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                &format!("{n} watches are open on this edge (the most it serves); close one and retry"),
            );
        }
        return http::stream("application/json", rx);
    }
    if q.name.is_some() {
        return match items.into_iter().next() {
            Some((_, _, obj)) => http::json(StatusCode::OK, obj),
            // Not cached: the cloud may know it (and it is cached then).
            None => match lookup.get(&q.key()).await {
                Ok(obj) => http::json(StatusCode::OK, obj),
                Err(LookupError::NotFound(m)) => http::status(StatusCode::NOT_FOUND, "NotFound", &m),
                Err(LookupError::Failed(m)) => http::status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &m),
            },
        };
    }
    let rv = items.iter().map(|(_, v, _)| *v).max().unwrap_or(0);
    let mut body =
        format!("{{\"apiVersion\":\"{}\",\"kind\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{rv}\"}},\"items\":[", q.res.api_version, q.res.list_kind)
            .into_bytes();
    let mut first = true;
    for (key, _, obj) in &items {
        if !is_json(obj) {
            log::warn!(target: NAME, "cached object {key} is not JSON; left out of the list");
            continue;
        }
        if !first {
            body.push(b',');
        }
        first = false;
        body.extend_from_slice(obj);
    }
    body.extend_from_slice(b"]}");
    http::json(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_keys() {
        let q = route("/api/v1/namespaces/default/pods/nginx").ok().unwrap();
        assert_eq!(q.key(), "default/pod/nginx");
        assert!(q.matches("default/pod/nginx") && !q.matches("default/pod/other") && !q.matches("kube/pod/nginx"));
        let q = route("/api/v1/pods").ok().unwrap();
        assert!(q.matches("a/pod/x") && q.matches("b/pod/y") && !q.matches("a/configmap/x"));
        let q = route("/api/v1/nodes/edge-1").ok().unwrap();
        assert_eq!(q.key(), "/node/edge-1");
        assert_eq!(route("/api/v1/nodes").ok().unwrap().prefix(), "/node/");
        assert_eq!(route("/api/v1/namespaces/ns1/secrets").ok().unwrap().prefix(), "ns1/secret/");
        assert_eq!(route("/api/v1/configmaps").ok().unwrap().prefix(), "");
        let q = route("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices").ok().unwrap();
        assert!(q.matches("default/device/thermo-1"));
        for bad in ["/api/v1/namespaces/default/widgets", "/api/v2/pods", "/api/v1/namespaces/x/pods/a/b", "/api/v1/nodes/x/y", "/api/v1/pods/x"] {
            assert_eq!(route(bad).err().map(|r| r.status()), Some(StatusCode::NOT_FOUND), "{bad}");
        }
        assert_eq!(route("/api/v1/namespaces/Bad_NS/pods").err().map(|r| r.status()), Some(StatusCode::BAD_REQUEST));
    }
}
