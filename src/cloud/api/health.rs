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
    let what = match path.trim_end_matches('/') {
        "/healthz" => "healthz",
        "/livez" => "livez",
        "/readyz" => "readyz",
        _ => return None,
    };
    let mut checks: Vec<(String, Result<(), String>)> = vec![("ping".into(), Ok(()))];
    if what != "livez" {
        checks.push(("store".into(), store.get("namespaces/default").map(|_| ()).map_err(|e| e.to_string())));
    }
    if what == "readyz" {
        for (module, ready) in router.readiness() {
            checks.push((format!("module-{module}"), if ready { Ok(()) } else { Err("not serving yet".into()) }));
        }
    }
    Some(http::health_text(what, &checks, query))
}

/// `/metrics`, or None for another path.
pub fn metrics(store: &dyn Store, router: &Router, path: &str) -> Option<hyper::Response<Body>> {
    (path == "/metrics").then(|| http::bytes(StatusCode::OK, crate::metrics::CONTENT_TYPE, crate::cloud::metrics::render(store, router)))
}
