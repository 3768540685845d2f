//! LIST and WATCH of a resource: a list encoded item by item, in pages
//! when asked (`limit`, `continue`: page.rs), a watch as a
//! stream of JSON lines (ADDED / MODIFIED / DELETED) that ends after
//! `timeoutSeconds` (a revision too old for the history is an ERROR event
//! with a 410 Status, as Kubernetes sends it), both filtered by label and field selectors and printed
//! as Tables when the client asks (table/).
//!
//! Owns: those two reads. Must not write.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::error::ApiError;
use super::object::{encode, shown};
use super::page::{self, Page};
use super::route::Target;
use super::select::{check_fields, parse_selector, query_param, selected, Selectors};
use super::table::{self, Want};
use crate::cloud::store::{Event, EventKind, Store, StoreError, Stored};
use crate::http::{self, Body};

/// Longest watch a client may ask for with `timeoutSeconds` (Kubernetes' default cap is 30 minutes).
const MAX_WATCH_S: u64 = 1800;

pub fn list_or_watch(store: &dyn Store, t: &Target, query: &str, want: Option<Want>) -> Result<Response<Body>, ApiError> {
    let fields = parse_selector(query_param(query, "fieldSelector").unwrap_or(""))?;
    check_fields(t.res.kind, &fields)?;
    let selector = Selectors { labels: parse_selector(query_param(query, "labelSelector").unwrap_or(""))?, fields };
    let prefix = t.res.prefix(t.ns.as_deref());
    let watch = matches!(query_param(query, "watch"), Some("true") | Some("1"));
    let from: u64 = match query_param(query, "resourceVersion") {
        None | Some("") | Some("0") => 0,
        Some(s) => s.parse().map_err(|_| ApiError::bad(format!("resourceVersion `{s}` is not a revision")))?,
    };
    let timeout = match query_param(query, "timeoutSeconds") {
        None | Some("") => None,
        Some(s) => match s.parse::<u64>() {
            Ok(0) => None,
            Ok(n) => Some(std::time::Duration::from_secs(n.min(MAX_WATCH_S))),
            Err(_) => return Err(ApiError::bad(format!("timeoutSeconds `{s}`: must be a whole number of seconds, 0 or more"))),
        },
    };
    let kind = t.res.kind;
    if watch {
        let deadline = timeout.map(|d| std::time::Instant::now() + d);
        let mut initial = Vec::new();
        let from = if from == 0 {
            // No revision: the current objects as ADDED, then changes.
            let (items, rev) = store.list(&prefix)?;
            for s in &items {
                let v = shown(s)?;
                if selected(&v, &selector) {
                    initial.push(watch_line("ADDED", &v, kind, want, initial.is_empty()));
                }
            }
            rev
        } else {
            from
        };
        let w = match store.watch(&prefix, from) {
            Ok(w) => w,
            // As Kubernetes answers it: the watch opens, then one ERROR event with the Status (410 Expired).
            Err(e @ StoreError::TooOld { .. }) => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": e.to_string(), "reason": "Expired", "code": 410});
                let mut line = encode(&json!({"type": "ERROR", "object": status}));
                line.push(b'\n');
                return Ok(http::stream_of("application/json", futures_lite::stream::iter([Bytes::from(line)])));
            }
            Err(e) => return Err(e.into()),
        };
        let first = initial.is_empty();
        let head = futures_lite::stream::iter(initial);
        let tail = futures_lite::stream::unfold((w.events, selector, first), move |(rx, sel, first)| async move {
            loop {
                let next = async { rx.recv().await.ok() };
                let ev: Event = match deadline {
                    Some(d) => {
                        smol::future::or(next, async {
                            smol::Timer::at(d).await;
                            None
                        })
                        .await?
                    }
                    None => next.await?,
                };
                let s = Stored { key: ev.key.clone(), rev: ev.rev, value: ev.value.clone() };
                let Ok(v) = shown(&s) else { continue };
                if !selected(&v, &sel) {
                    continue;
                }
                let kind_word = match ev.kind {
                    EventKind::Added => "ADDED",
                    EventKind::Modified => "MODIFIED",
                    EventKind::Deleted => "DELETED",
                };
                return Some((watch_line(kind_word, &v, kind, want, first), (rx, sel, false)));
            }
        });
        use futures_lite::StreamExt as _;
        return Ok(http::stream_of("application/json", head.chain(tail)));
    }
    let page = Page::of(query, &prefix)?;
    let (items, rev) = store.list(&prefix)?;
    // Encode item by item: a list of 100,000 objects must not hold them all
    // as parsed JSON at once (memory, and glibc keeps what it once had).
    let mut rows = Vec::new();
    let mut out = Vec::new();
    let mut count = 0usize;
    let mut next = None;
    for s in items {
        if page.start.as_deref().is_some_and(|start| s.key.as_str() < start) {
            continue;
        }
        let v = shown(&s)?;
        if !selected(&v, &selector) {
            continue;
        }
        if page.limit.is_some_and(|l| count >= l) {
            next = Some(page::token(rev, &s.key));
            break;
        }
        count += 1;
        match want {
            Some(w) => rows.push(table::row(kind, &v, w)),
            None => {
                if !out.is_empty() {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &v).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()))?;
            }
        }
    }
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if let Some(n) = &next {
        meta["continue"] = json!(n);
    }
    if let Some(want) = want {
        let mut t = table::table(kind, rows, Some(rev.to_string()), want, true);
        t["metadata"] = meta;
        return Ok(http::json(StatusCode::OK, encode(&t)));
    }
    let head = json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(), "metadata": meta});
    let mut body = encode(&head);
    body.pop(); // the closing brace; items follow
    body.extend_from_slice(b",\"items\":[");
    body.extend_from_slice(&out);
    body.extend_from_slice(b"]}");
    Ok(http::json(StatusCode::OK, body))
}

/// One watch event; as a one-row Table when asked (column definitions only in the first).
fn watch_line(kind_word: &str, v: &Value, kind: &str, want: Option<Want>, first: bool) -> Bytes {
    let object = match want {
        Some(w) => table::table(kind, vec![table::row(kind, v, w)], v.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(String::from), w, first),
        None => v.clone(),
    };
    let mut b = encode(&json!({"type": kind_word, "object": object}));
    b.push(b'\n');
    Bytes::from(b)
}
