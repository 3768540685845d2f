//! LIST of a resource, encoded item by item, in pages when asked (`limit`,
//! `continue`: page.rs), with `resourceVersion` / `resourceVersionMatch`
//! checked against the current revision, filtered by label and field
//! selectors and printed as a Table when the client asks (table/); a
//! `watch=true` request goes on to watch.rs. Also DELETE of a collection.
//!
//! Owns: those reads and the collection delete. Must not write otherwise.

use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::error::ApiError;
use super::events_v1;
use super::object::{encode, shown};
use super::page::{self, Page};
use super::route::Target;
use super::select::{check_fields, parse_selector, query_param, selected, Selectors};
use super::table::{self, Want};
use super::watch;
use crate::cloud::store::{Store, StoreError};
use crate::http::{self, Body};

/// The selectors of a list, watch or collection delete, checked for its kind.
pub fn selectors(t: &Target, query: &str) -> Result<Selectors, ApiError> {
    let fields = parse_selector(query_param(query, "fieldSelector").unwrap_or(""))?;
    check_fields(t.res.kind, &fields)?;
    Ok(Selectors { labels: parse_selector(query_param(query, "labelSelector").unwrap_or(""))?, fields })
}

/// `resourceVersion` of a list or watch: 0 when absent.
pub fn revision(query: &str) -> Result<u64, ApiError> {
    match query_param(query, "resourceVersion") {
        None | Some("") | Some("0") => Ok(0),
        Some(s) => s.parse().map_err(|_| ApiError::bad(format!("resourceVersion `{s}` is not a revision"))),
    }
}

pub fn list_or_watch(store: &dyn Store, t: &Target, query: &str, want: Option<Want>) -> Result<Response<Body>, ApiError> {
    let selector = selectors(t, query)?;
    let prefix = t.res.prefix(t.ns.as_deref());
    let from = revision(query)?;
    watch::timeout(query)?;
    if matches!(query_param(query, "watch"), Some("true") | Some("1")) {
        return watch::serve(store, t, query, want, selector, from);
    }
    let exact = match query_param(query, "resourceVersionMatch") {
        None | Some("") | Some("NotOlderThan") => false,
        Some("Exact") if from > 0 => true,
        Some("Exact") => return Err(ApiError::bad("resourceVersionMatch=Exact needs a resourceVersion")),
        Some(other) => return Err(ApiError::bad(format!("resourceVersionMatch `{other}`: use NotOlderThan or Exact"))),
    };
    let kind = t.res.kind;
    let page = Page::of(query, &prefix)?;
    let (items, rev) = store.list(&prefix)?;
    if from > rev {
        return Err(ApiError(StatusCode::GATEWAY_TIMEOUT, "Timeout", format!("Too large resource version: {from}, current: {rev}")));
    }
    if exact && from != rev {
        return Err(ApiError(
            StatusCode::GONE,
            "Expired",
            format!("resourceVersion {from} is not the current one ({rev}): hive lists the current state only; list without resourceVersionMatch=Exact"),
        ));
    }
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
                let v = if t.res.read_only() { events_v1::from_core(&v) } else { v };
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

/// DELETE of a collection (a client's deletecollection): every object the
/// selectors match; answers a Status saying how many went.
pub fn delete_collection(store: &dyn Store, t: &Target, query: &str) -> Result<Value, ApiError> {
    if t.res.kind == "Namespace" {
        return Err(ApiError(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "namespaces are deleted one by one (kubectl delete namespace NAME)".into()));
    }
    let selector = selectors(t, query)?;
    let mut n = 0;
    for s in store.list(&t.res.prefix(t.ns.as_deref()))?.0 {
        if selected(&shown(&s)?, &selector) {
            // At the revision that matched: an object changed since is left alone.
            match store.delete(&s.key, Some(s.rev)) {
                Ok(_) => n += 1,
                Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"group": t.res.group, "kind": t.res.plural}, "message": format!("{n} {} deleted", t.res.plural)}))
}
