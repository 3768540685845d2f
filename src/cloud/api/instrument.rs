//! Request metrics of the API server: each request's verb and resource as
//! Kubernetes' apiserver labels them (`LIST`, `WATCH`, `GET`, `POST`, `PUT`,
//! `PATCH`, `DELETE`, `CONNECT` for exec/attach/port-forward/proxy), its
//! code and latency, into crate::cloud::metrics.
//!
//! Owns: that labelling. Must not read bodies; resources the server does
//! not serve are labelled `unknown`, so clients cannot grow the series.

use std::time::Instant;

use super::resources::Resource;
use crate::cloud::metrics::{API_LATENCY, API_REQUESTS};

/// Record one answered request.
pub fn record(method: &hyper::Method, path: &str, query: &str, code: u16, started: Instant) {
    let (verb, resource) = classify(method, path, query);
    API_REQUESTS.inc(&[verb, &resource, &code.to_string()]);
    API_LATENCY.since(&[verb], started);
}

/// (verb, resource[/subresource]) of a request.
pub fn classify(method: &hyper::Method, path: &str, query: &str) -> (&'static str, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return (plain_verb(method), String::new()),
    };
    let rest = match rest {
        ["namespaces", _, more @ ..] if !more.is_empty() => more,
        r => r,
    };
    let (plural, name, sub) = (rest.first().copied(), rest.get(1).copied(), rest.get(2).copied());
    let Some(plural) = plural else { return (plain_verb(method), String::new()) };
    // "namespaces" alone, or a served resource; anything else is unknown.
    let known = Resource::find(group, version, plural).is_some();
    let resource = match (known, sub) {
        (false, _) => "unknown".to_string(),
        (true, Some(s)) if matches!(s, "status" | "scale" | "binding" | "log" | "exec" | "attach" | "portforward" | "proxy") => format!("{plural}/{s}"),
        (true, Some(_)) => format!("{plural}/unknown"),
        (true, None) => plural.to_string(),
    };
    let watch = query.split('&').any(|p| p == "watch=true" || p == "watch=1");
    let verb = match (method.as_str(), name, sub) {
        (_, _, Some("exec" | "attach" | "portforward" | "proxy")) => "CONNECT",
        ("GET", _, _) if watch => "WATCH",
        ("GET", None, _) => "LIST",
        ("DELETE", None, _) => "DELETECOLLECTION",
        _ => plain_verb(method),
    };
    (verb, resource)
}

fn plain_verb(method: &hyper::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::classify;
    use hyper::Method;

    #[test]
    fn verbs_and_resources_as_kubernetes_labels_them() {
        let c = |m: Method, p: &str, q: &str| {
            let (v, r) = classify(&m, p, q);
            format!("{v} {r}")
        };
        assert_eq!(c(Method::GET, "/api/v1/nodes", ""), "LIST nodes");
        assert_eq!(c(Method::GET, "/api/v1/namespaces/default/pods", "watch=true"), "WATCH pods");
        assert_eq!(c(Method::GET, "/api/v1/namespaces/default/pods/web", ""), "GET pods");
        assert_eq!(c(Method::PUT, "/api/v1/namespaces/default/pods/web/status", ""), "PUT pods/status");
        assert_eq!(c(Method::POST, "/api/v1/namespaces/default/pods/web/exec", ""), "CONNECT pods/exec");
        assert_eq!(c(Method::GET, "/api/v1/namespaces/default/widgets", ""), "LIST unknown");
        assert_eq!(c(Method::GET, "/version", ""), "GET ");
        assert_eq!(c(Method::DELETE, "/apis/apps/v1/namespaces/default/deployments", ""), "DELETECOLLECTION deployments");
    }
}
