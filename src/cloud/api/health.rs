//! `/healthz`, `/livez` and `/readyz`, unauthenticated as Kubernetes serves
//! them by default: `ok`, or with `?verbose` one `[+]check ok` line per
//! check. They answer only about hive's own state: the process answers
//! (ping) and its store reads (store).
//!
//! Owns: those three paths. Must not write.

use hyper::StatusCode;

use crate::cloud::store::Store;
use crate::http::{self, Body};

/// The answer for `path`, or None if it is not a health path.
pub fn answer(store: &dyn Store, path: &str, query: &str) -> Option<hyper::Response<Body>> {
    let what = match path.trim_end_matches('/') {
        "/healthz" => "healthz",
        "/livez" => "livez",
        "/readyz" => "readyz",
        _ => return None,
    };
    let mut checks = vec![("ping", Ok(()))];
    if what != "livez" {
        checks.push(("store", store.get("namespaces/default").map(|_| ()).map_err(|e| e.to_string())));
    }
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let verbose = query.split('&').any(|p| p == "verbose" || p.starts_with("verbose="));
    let body = if verbose || !ok {
        let mut b = String::new();
        for (name, r) in &checks {
            match r {
                Ok(()) => b.push_str(&format!("[+]{name} ok\n")),
                Err(e) => b.push_str(&format!("[-]{name} failed: {e}\n")),
            }
        }
        b.push_str(&format!("{what} check {}\n", if ok { "passed" } else { "failed" }));
        b
    } else {
        "ok".to_string()
    };
    let code = if ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
    Some(http::bytes(code, "text/plain; charset=utf-8", body))
}
