//! The edge-local API's operational paths: `/healthz` and `/livez` (the
//! process answers and the cache reads), `/readyz` (every module started
//! and serving; it does not depend on the cloud: an offline edge is
//! healthy and ready), each with `?verbose` one `[+]check ok` line per
//! check as Kubernetes prints them; and `/metrics` (Prometheus text).
//!
//! Owns: those paths. Must not write the cache.

use hyper::StatusCode;

use super::lookup::Lookup;
use crate::http::{self, Body};

/// The answer for `path`, or None if it is not one of these paths.
pub fn answer(lookup: &Lookup, path: &str, query: &str) -> Option<hyper::Response<Body>> {
    if path == "/metrics" {
        crate::edge::metrics::OBJECTS.set(lookup.store.len() as i64);
        return Some(http::bytes(StatusCode::OK, crate::metrics::CONTENT_TYPE, crate::edge::metrics::render(&lookup.router)));
    }
    http::health(path, query, ("cache", &|| lookup.store.get("node/").map(|_| ()).map_err(|e| e.to_string())), &lookup.router)
}
