//! The cloud side of ServiceBus: `<METHOD> /api/v1/nodes/<node>/proxy/<port>/<path>`
//! on the cloud API calls `http://127.0.0.1:<port>/<path>` on that edge,
//! through CloudHub and the tunnel, and answers with the app's status,
//! headers and body. A node that is not connected, an app that refuses or
//! fails: 502; no answer in time: 504; a body over the cap: 413 — each with
//! a `Status` naming the reason.
//!
//! Owns: that route. Must not talk to edges except through CloudHub.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::error::ApiError;
use crate::core::{Message, Reply, Router};
use crate::http::{self, Body};
use crate::proto::servicebus::{hop_by_hop, HttpRequest, HttpResponse};

/// What routes to edges need: the router (to reach CloudHub), CloudStream
/// (logs -f, exec), a way to run a websocket after its upgrade, and limits.
#[derive(Clone)]
pub struct Tunnel {
    pub router: Router,
    pub timeout: Duration,
    pub max_body: usize,
    pub streams: crate::cloud::stream::Streams,
    pub spawn: smol::channel::Sender<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>>,
}

/// `(node, port, rest)` if `path` is a proxy path.
pub fn parse(path: &str) -> Option<Result<(String, u16, String), ApiError>> {
    let rest = path.strip_prefix("/api/v1/nodes/")?;
    let (node, rest) = rest.split_once("/proxy/")?;
    let (port, tail) = rest.split_once('/').unwrap_or((rest, ""));
    Some(match port.parse::<u16>() {
        Ok(p) if p > 0 && !node.is_empty() && !node.contains('/') => Ok((node.to_string(), p, format!("/{tail}"))),
        _ => Err(ApiError::bad(format!("proxy path: `{port}` is not a port; use /api/v1/nodes/<node>/proxy/<port>/<path>"))),
    })
}

fn gateway(code: StatusCode, reason: &'static str, msg: String) -> ApiError {
    ApiError(code, reason, msg)
}

pub async fn call(t: &Tunnel, node: &str, port: u16, path: String, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let method = req.method().to_string();
    let headers = req.headers().iter().filter(|(k, _)| !hop_by_hop(k.as_str())).map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec())).collect();
    let body = http_body_util::Limited::new(req.into_body(), t.max_body)
        .collect()
        .await
        .map_err(|e| gateway(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", format!("request body: {e} (cap {} bytes)", t.max_body)))?
        .to_bytes()
        .to_vec();
    let r = HttpRequest { method, port, path: format!("{path}{query}"), headers, body };
    let m = Message::new(super::NAME, "servicebus", format!("node/{node}/servicebus"), "request", crate::store::to_bytes(&r));
    let reply = t.router.request(crate::cloud::hub::NAME, m, t.timeout).await.map_err(|e| {
        gateway(
            StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            format!("node {node}: no answer from 127.0.0.1:{port} through the tunnel within {} ms ({e})", t.timeout.as_millis()),
        )
    })?;
    if let Some(text) = Reply::error_of(&reply.content) {
        let (code, reason) = match text.split_whitespace().next() {
            Some("504") => (StatusCode::GATEWAY_TIMEOUT, "Timeout"),
            Some("413") => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            _ => (StatusCode::BAD_GATEWAY, "BadGateway"),
        };
        let text = text.split_once(' ').filter(|(c, _)| c.parse::<u16>().is_ok()).map(|(_, r)| r.to_string()).unwrap_or(text);
        return Err(gateway(code, reason, format!("node {node}: {text}")));
    }
    let resp: HttpResponse =
        crate::store::from_bytes(&reply.content).map_err(|e| gateway(StatusCode::BAD_GATEWAY, "BadGateway", format!("node {node}: bad answer: {e}")))?;
    let mut out = http::bytes(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY), "application/octet-stream", resp.body);
    out.headers_mut().remove(hyper::header::CONTENT_TYPE);
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (hyper::header::HeaderName::from_bytes(k.as_bytes()), hyper::header::HeaderValue::from_bytes(&v)) {
            out.headers_mut().append(k, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn proxy_paths() {
        assert_eq!(super::parse("/api/v1/nodes/e1/proxy/8080/a/b").unwrap().ok().unwrap(), ("e1".into(), 8080, "/a/b".into()));
        assert_eq!(super::parse("/api/v1/nodes/e1/proxy/8080").unwrap().ok().unwrap(), ("e1".into(), 8080, "/".into()));
        assert!(super::parse("/api/v1/nodes/e1/proxy/http/x").unwrap().is_err());
        assert!(super::parse("/api/v1/nodes/e1/status").is_none());
    }
}
