//! Server-side printing: when a client asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io` (kubectl always does),
//! gets, lists and watches answer a `meta.k8s.io` Table: the kind's column
//! definitions, one row of cells per object and, per `includeObject`
//! (None / Metadata, the default / Object), the object with it.
//!
//! Owns: content negotiation for tables and the Table envelope. Columns and
//! cells are in columns.rs, pod STATUS in pod.rs. Must not touch the store.

mod columns;
mod pod;

use serde_json::{json, Value};

use super::error::ApiError;
use super::select::query_param;

/// What a request asked for: a Table of this apiVersion, with this much of each object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    pub v1beta1: bool,
    pub include: Include,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

/// A Table if the first media type of `accept` that hive can answer is one
/// (Kubernetes answers the first it can); Err for a bad `includeObject`.
pub fn wanted(accept: &str, query: &str) -> Result<Option<Want>, ApiError> {
    let mut table = None;
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let ty = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> =
            parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.as_str());
        if param("as").is_none() {
            if matches!(ty.as_str(), "application/json" | "*/*" | "application/*") {
                break;
            }
            continue;
        }
        if ty == "application/json" && param("as") == Some("Table") && param("g") == Some("meta.k8s.io") && matches!(param("v"), Some("v1" | "v1beta1")) {
            table = Some(param("v") == Some("v1beta1"));
            break;
        }
    }
    let Some(v1beta1) = table else { return Ok(None) };
    let include = match query_param(query, "includeObject") {
        None | Some("") | Some("Metadata") => Include::Metadata,
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        Some(other) => return Err(ApiError::bad(format!("includeObject `{other}`: use None, Metadata or Object"))),
    };
    Ok(Some(Want { v1beta1, include }))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn api_version(want: Want) -> &'static str {
    if want.v1beta1 {
        "meta.k8s.io/v1beta1"
    } else {
        "meta.k8s.io/v1"
    }
}

/// The column definitions of `kind`.
fn definitions(kind: &str) -> Value {
    let cols: Vec<Value> =
        columns::columns(kind).into_iter().map(|c| json!({"name": c.0, "type": c.1, "format": c.2, "priority": c.3, "description": c.4})).collect();
    Value::Array(cols)
}

/// One row: the cells and, as asked, the object or its metadata.
pub fn row(kind: &str, v: &Value, want: Want) -> Value {
    let mut r = json!({"cells": columns::cells(kind, v, now())});
    match want.include {
        Include::None => {}
        Include::Metadata => {
            r["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": api_version(want), "metadata": v.get("metadata").cloned().unwrap_or(json!({}))})
        }
        Include::Object => r["object"] = v.clone(),
    }
    r
}

/// A Table of `rows` (from `row`); `headers` false for a watch event after the first.
pub fn table(kind: &str, rows: Vec<Value>, resource_version: Option<String>, want: Want, headers: bool) -> Value {
    let mut meta = json!({});
    if let Some(rv) = resource_version {
        meta["resourceVersion"] = json!(rv);
    }
    json!({"kind": "Table", "apiVersion": api_version(want), "metadata": meta,
        "columnDefinitions": if headers { definitions(kind) } else { Value::Null }, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn negotiation_follows_the_accept_order() {
        assert_eq!(wanted(KUBECTL, "").ok().flatten(), Some(Want { v1beta1: false, include: Include::Metadata }));
        let old = "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json";
        assert_eq!(wanted(old, "includeObject=Object").ok().flatten(), Some(Want { v1beta1: true, include: Include::Object }));
        assert_eq!(wanted("application/json", "").ok().flatten(), None);
        assert_eq!(wanted("", "").ok().flatten(), None);
        assert_eq!(wanted("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", "").ok().flatten(), None, "JSON came first");
        assert_eq!(wanted("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", "").ok().flatten(), None);
        assert!(wanted(KUBECTL, "includeObject=All").is_err());
    }

    #[test]
    fn a_table_has_columns_rows_and_partial_metadata() {
        let want = Want { v1beta1: false, include: Include::Metadata };
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c", "creationTimestamp": "2026-01-01T00:00:00Z"}, "data": {"a": "1"}});
        let t = table("ConfigMap", vec![row("ConfigMap", &cm, want)], Some("7".into()), want, true);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        assert_eq!(t["columnDefinitions"][1]["name"], "Data");
        assert_eq!(t["rows"][0]["cells"][0], "c");
        assert_eq!(t["rows"][0]["cells"][1], 1);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "c");
        assert!(t["rows"][0]["object"].get("data").is_none());
        let none = row("ConfigMap", &cm, Want { include: Include::None, ..want });
        assert!(none.get("object").is_none());
        assert!(table("ConfigMap", vec![], None, want, false)["columnDefinitions"].is_null());
    }
}
