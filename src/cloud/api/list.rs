//! LIST and WATCH of a resource: a list encoded item by item, a watch as a
//! stream of JSON lines (ADDED / MODIFIED / DELETED), both filtered by label
//! and field selectors.
//!
//! Owns: those two reads. Must not write.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::error::ApiError;
use super::object::{encode, shown};
use super::route::Target;
use super::select::{parse_selector, query_param, selected, Selectors};
use crate::cloud::store::{Event, EventKind, Store, Stored};
use crate::http::{self, Body};

pub fn list_or_watch(store: &dyn Store, t: &Target, query: &str) -> Result<Response<Body>, ApiError> {
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
