//! `kubectl logs`: `GET /api/v1/namespaces/<ns>/pods/<name>/log` asks the
//! pod's edge, through CloudHub and the tunnel, for a container's log
//! (Edged reads it from the runtime's log files) with Kubernetes' options
//! `container`, `previous`, `tailLines`, `limitBytes`, `timestamps`,
//! `sinceSeconds`, `sinceTime`. With `follow` the answer is a stream
//! (CloudStream): chunked text for as long as the edge sends it.
//! A pod without a node, a wrong container, an edge that is not connected
//! or does not answer: a `Status` saying which.
//!
//! Owns: that route. Must not talk to edges except through CloudHub.

use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::error::ApiError;
use super::proxy::Tunnel;
use super::route::valid_name;
use super::select::{percent_decode, query_param};
use crate::cloud::store::Store;
use crate::cloud::stream::OpenError;
use crate::core::{Message, Reply};
use crate::http::{self, Body};
use crate::proto::stream::Event;

/// `(namespace, pod)` if `path` is a pod's log path.
pub fn parse(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once("/pods/")?;
    let name = rest.strip_suffix("/log")?;
    (valid_name(ns) && valid_name(name)).then(|| (ns.to_string(), name.to_string()))
}

fn number(query: &str, key: &str) -> Result<Option<i64>, ApiError> {
    match query_param(query, key) {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(ApiError::bad(format!("{key} `{s}`: must be a whole number, 0 or more"))),
        },
    }
}

/// `sinceSeconds`, or `sinceTime` (RFC 3339) turned into seconds before now.
fn since(query: &str) -> Result<Option<i64>, ApiError> {
    if let Some(t) = query_param(query, "sinceTime").filter(|t| !t.is_empty()) {
        let t = percent_decode(t);
        let at = crate::kube::parse_rfc3339(&t).ok_or_else(|| ApiError::bad(format!("sinceTime `{t}`: not an RFC 3339 time such as 2026-01-02T15:04:05Z")))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        return Ok(Some((now - at).max(0)));
    }
    number(query, "sinceSeconds")
}

pub fn flag(query: &str, key: &str) -> bool {
    matches!(query_param(query, key), Some("true") | Some("1"))
}

/// The pod's node and uid and the container a request names (or the only one).
pub struct Target {
    pub node: String,
    pub uid: String,
    pub container: String,
}

/// Find the pod and the container `query` asks for, with kubectl's messages when it cannot.
pub fn target(store: &dyn Store, ns: &str, name: &str, query: &str, what: &str) -> Result<Target, ApiError> {
    let s = store.get(&format!("pods/{ns}/{name}"))?.ok_or_else(|| ApiError::not_found(format!("pods \"{name}\" not found")))?;
    let pod: Value = serde_json::from_slice(&s.value).unwrap_or(Value::Null);
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty());
    let Some(node) = node else {
        return Err(ApiError::bad(format!("pod {ns}/{name} is not on a node yet (no spec.nodeName): {what}")));
    };
    let names = |field: &str| -> Vec<&str> { crate::kube::items(&pod, field).filter_map(|c| c["name"].as_str()).collect() };
    let (containers, inits) = (names("/spec/containers"), names("/spec/initContainers"));
    let container = match query_param(query, "container").map(percent_decode) {
        Some(c) if containers.contains(&c.as_str()) || inits.contains(&c.as_str()) => c,
        Some(c) if inits.is_empty() => {
            return Err(ApiError::bad(format!("container {c} is not valid for pod {name}: choose one of [{}]", containers.join(" "))))
        }
        Some(c) => {
            let (a, i) = (containers.join(" "), inits.join(" "));
            return Err(ApiError::bad(format!("container {c} is not valid for pod {name}: choose one of [{a}] or one of the init containers: [{i}]")));
        }
        None if containers.len() == 1 => containers[0].to_string(),
        None => return Err(ApiError::bad(format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" ")))),
    };
    let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Target { node: node.to_string(), uid, container })
}

/// A stream could not be opened: 502 when the node is away, 429 at a limit.
pub fn open_error(e: OpenError) -> ApiError {
    match e {
        OpenError::NotConnected(m) => ApiError(StatusCode::BAD_GATEWAY, "BadGateway", m),
        OpenError::Limit(m) => ApiError(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", m),
    }
}

pub async fn serve(store: &dyn Store, tunnel: &Tunnel, ns: &str, name: &str, query: &str) -> Result<Response<Body>, ApiError> {
    let Target { node, uid, container } = target(store, ns, name, query, "it has no logs")?;
    let node = node.as_str();
    let request = json!({"kind": "logs", "namespace": ns, "pod": name, "uid": uid,
        "container": container, "previous": flag(query, "previous"), "timestamps": flag(query, "timestamps"),
        "tailLines": number(query, "tailLines")?, "limitBytes": number(query, "limitBytes")?, "sinceSeconds": since(query)?});
    if flag(query, "follow") {
        // Chunks as the edge sends them; a client that stops reading holds back only this stream.
        let stream = tunnel.streams.open(node, &request).map_err(open_error)?;
        let chunks = futures_lite::stream::unfold(stream, |mut s| async move {
            match s.recv().await {
                Event::Data(d) => Some((bytes::Bytes::from(d), s)),
                Event::End(why) => {
                    if let Some(why) = why {
                        log::debug!(target: super::NAME, "logs -f ended: {why}");
                    }
                    None
                }
            }
        });
        return Ok(http::stream_of("text/plain", chunks));
    }
    let m = Message::new(super::NAME, crate::cloud::EDGED_GROUP, format!("node/{node}/logs"), "logs", request.to_string().into_bytes());
    let reply = tunnel.router.request(crate::cloud::hub::NAME, m, tunnel.timeout).await.map_err(|e| {
        ApiError(StatusCode::GATEWAY_TIMEOUT, "Timeout", format!("node {node}: no answer to the logs request within {} ms ({e})", tunnel.timeout.as_millis()))
    })?;
    if let Some(why) = Reply::error_of(&reply.content) {
        let why = why.strip_prefix("502 ").unwrap_or(&why).to_string();
        let code = if why.contains("not connected") { StatusCode::BAD_GATEWAY } else { StatusCode::BAD_REQUEST };
        let reason = if code == StatusCode::BAD_GATEWAY { "BadGateway" } else { "BadRequest" };
        return Err(ApiError(code, reason, format!("node {node}: {why}")));
    }
    let text = reply.content.strip_prefix(b"log\n").ok_or_else(|| ApiError(StatusCode::BAD_GATEWAY, "BadGateway", format!("node {node}: not a log answer")))?;
    Ok(http::bytes(StatusCode::OK, "text/plain", text.to_vec()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_paths() {
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web/log"), Some(("default".into(), "web".into())));
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web"), None);
        assert_eq!(super::parse("/api/v1/namespaces/Bad/pods/web/log"), None);
    }
}
