//! `/healthz`, `/livez` and `/readyz`, unauthenticated as Kubernetes serves
//! them by default: `ok`, or with `?verbose` one `[+]check ok` line per
//! check. They answer only about hive's own state: the process answers
//! (ping), its store reads (store) and, for readyz, every module serves.
//! `/metrics` (Prometheus text) is answered here too, for the caller to
//! authorize.
//!
//! Owns: those paths. Must not write.

use hyper::StatusCode;

use crate::cloud::store::Store;
use crate::core::Router;
use crate::http::{self, Body};

/// The answer for a health path, or None if `path` is not one.
pub fn answer(store: &dyn Store, router: &Router, path: &str, query: &str) -> Option<hyper::Response<Body>> {
    http::health(path, query, ("store", &|| store.get("namespaces/default").map(|_| ()).map_err(|e| e.to_string())), router)
}

/// `/metrics`, or None for another path.
pub fn metrics(store: &dyn Store, router: &Router, path: &str) -> Option<hyper::Response<Body>> {
    (path == "/metrics").then(|| http::bytes(StatusCode::OK, crate::metrics::CONTENT_TYPE, crate::cloud::metrics::render(store, router)))
}
