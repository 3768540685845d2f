//! WATCH of a resource: a stream of JSON lines (ADDED / MODIFIED /
//! DELETED), the current objects first when no revision is given, ending
//! after `timeoutSeconds`; with `allowWatchBookmarks` a BOOKMARK after the
//! initial events (`sendInitialEvents`) and every minute; a revision too
//! old for the store's history is one ERROR event with a 410 Status, as
//! Kubernetes sends it. Events are Tables when the client asks (table/).
//!
//! Owns: that stream. Must not write.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};

use super::error::ApiError;
use super::events_v1;
use super::object::{encode, shown};
use super::resources::Resource;
use super::route::Target;
use super::select::{query_param, selected, Selectors};
use super::table::{self, Want};
use crate::cloud::store::{EventKind, Store, StoreError, Stored};
use crate::http::{self, Body};

/// Longest watch a client may ask for with `timeoutSeconds` (Kubernetes' default cap is 30 minutes).
const MAX_WATCH_S: u64 = 1800;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

fn flag(query: &str, key: &str) -> bool {
    matches!(query_param(query, key), Some("true") | Some("1"))
}

/// `timeoutSeconds` (checked for lists too, as Kubernetes decodes it for both).
pub fn timeout(query: &str) -> Result<Option<Duration>, ApiError> {
    match query_param(query, "timeoutSeconds") {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(Duration::from_secs(n.min(MAX_WATCH_S)))),
            Err(_) => Err(ApiError::bad(format!("timeoutSeconds `{s}`: must be a whole number of seconds, 0 or more"))),
        },
    }
}

pub fn serve(store: &dyn Store, t: &Target, query: &str, want: Option<Want>, selector: Selectors, from: u64) -> Result<Response<Body>, ApiError> {
    let deadline = timeout(query)?.map(|d| Instant::now() + d);
    let bookmarks = flag(query, "allowWatchBookmarks");
    let res = t.res;
    let prefix = res.prefix(t.ns.as_deref());
    let mut initial = Vec::new();
    let from = if from == 0 {
        // No revision: the current objects as ADDED, then changes.
        let (items, rev) = store.list(&prefix)?;
        for s in &items {
            let v = shown(s)?;
            if selected(&v, &selector) {
                initial.push(line("ADDED", &v, res, want, initial.is_empty()));
            }
        }
        if bookmarks && flag(query, "sendInitialEvents") {
            initial.push(bookmark(res, rev, true));
        }
        rev
    } else {
        from
    };
    let w = match store.watch(&prefix, from) {
        Ok(w) => w,
        Err(e @ StoreError::TooOld { .. }) => {
            let status =
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": e.to_string(), "reason": "Expired", "code": 410});
            let mut b = encode(&json!({"type": "ERROR", "object": status}));
            b.push(b'\n');
            return Ok(http::stream_of("application/json", futures_lite::stream::iter([Bytes::from(b)])));
        }
        Err(e) => return Err(e.into()),
    };
    let first = initial.is_empty();
    let head = futures_lite::stream::iter(initial);
    let state = (w.events, selector, first, from, Instant::now() + BOOKMARK_EVERY);
    let tail = futures_lite::stream::unfold(state, move |(rx, sel, first, mut rev, mut next_mark)| async move {
        loop {
            enum Next {
                Event(Option<crate::cloud::store::Event>),
                Bookmark,
                End,
            }
            let next = async { Next::Event(rx.recv().await.ok()) };
            let end = async {
                match deadline {
                    Some(d) => smol::Timer::at(d).await,
                    None => smol::Timer::never().await,
                };
                Next::End
            };
            let mark = async {
                if bookmarks {
                    smol::Timer::at(next_mark).await;
                } else {
                    smol::Timer::never().await;
                }
                Next::Bookmark
            };
            let ev = match smol::future::or(next, smol::future::or(end, mark)).await {
                Next::Event(Some(ev)) => ev,
                Next::Event(None) | Next::End => return None,
                Next::Bookmark => {
                    next_mark = Instant::now() + BOOKMARK_EVERY;
                    return Some((bookmark(res, rev, false), (rx, sel, first, rev, next_mark)));
                }
            };
            rev = ev.rev;
            let s = Stored { key: ev.key.clone(), rev: ev.rev, value: ev.value.clone() };
            let Ok(v) = shown(&s) else { continue };
            if !selected(&v, &sel) {
                continue;
            }
            let word = match ev.kind {
                EventKind::Added => "ADDED",
                EventKind::Modified => "MODIFIED",
                EventKind::Deleted => "DELETED",
            };
            return Some((line(word, &v, res, want, first), (rx, sel, false, rev, next_mark)));
        }
    });
    use futures_lite::StreamExt as _;
    Ok(http::stream_of("application/json", head.chain(tail)))
}

/// A BOOKMARK: an object of the kind with only its resourceVersion (and the initial-events-end mark).
fn bookmark(res: &Resource, rev: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let mut b = encode(&json!({"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta}}));
    b.push(b'\n');
    Bytes::from(b)
}

/// One watch event; as a one-row Table when asked (column definitions only in the first).
fn line(word: &str, v: &Value, res: &Resource, want: Option<Want>, first: bool) -> Bytes {
    let kind = res.kind;
    let object = match want {
        Some(w) => table::table(kind, vec![table::row(kind, v, w)], v.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(String::from), w, first),
        None if res.read_only() => events_v1::from_core(v),
        None => v.clone(),
    };
    let mut b = encode(&json!({"type": word, "object": object}));
    b.push(b'\n');
    Bytes::from(b)
}
