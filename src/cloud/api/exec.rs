//! `kubectl exec` and `kubectl attach`: `pods/<name>/exec` and
//! `pods/<name>/attach` upgraded to a websocket with Kubernetes' channel
//! protocol, `v5.channel.k8s.io` (kubectl 1.30+) or `v4.channel.k8s.io`
//! (the Python client): each binary message starts with its channel (0
//! stdin, 1 stdout, 2 stderr, 3 error as a JSON `Status`, 4 resize; in v5
//! `[255, channel]` closes one). The messages ride a stream to the pod's
//! edge (CloudStream), where Edged passes them to the runtime. SPDY is not
//! served: the refusal says which kubectl to use.
//!
//! Owns: those routes and the websocket's end on the cloud. Must not talk
//! to edges except through CloudStream.

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::StreamExt as _;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use serde_json::json;
use smol::future::FutureExt as _;

use super::error::ApiError;
use super::logs::{flag, open_error, target, Target};
use super::proxy::Tunnel;
use super::route::valid_name;
use super::select::percent_decode;
use crate::cloud::store::Store;
use crate::http::{self, Body};
use crate::proto::stream::{Event, Stream};

/// Subprotocols served, preferred first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// Largest message taken from a client.
const MAX_MESSAGE: usize = 1 << 20;

/// `(namespace, pod, attach?)` if `path` is an exec or attach path.
pub fn parse(path: &str) -> Option<(String, String, bool)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once("/pods/")?;
    let (name, attach) = match rest.rsplit_once('/')? {
        (n, "exec") => (n, false),
        (n, "attach") => (n, true),
        _ => return None,
    };
    (valid_name(ns) && valid_name(name)).then(|| (ns.to_string(), name.to_string(), attach))
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub async fn serve(store: &dyn Store, tunnel: &Tunnel, ns: &str, name: &str, attach: bool, mut req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let verb = if attach { "attach" } else { "exec" };
    // What is wrong with the request first: kubectl retries a failed
    // websocket upgrade over SPDY, and must see the same error then.
    let query = req.uri().query().unwrap_or("").to_string();
    let Target { node, uid, container } = target(store, ns, name, &query, &format!("cannot {verb}"))?;
    let command: Vec<String> = query.split('&').filter_map(|p| p.strip_prefix("command=")).map(percent_decode).collect();
    if !attach && command.is_empty() {
        return Err(ApiError::bad("you must specify at least one command for the container"));
    }
    let (stdin, tty) = (flag(&query, "stdin"), flag(&query, "tty"));
    let (stdout, stderr) = (flag(&query, "stdout"), flag(&query, "stderr"));
    if !stdin && !stdout && !stderr {
        return Err(ApiError::bad("you must specify at least 1 of stdin, stdout, stderr"));
    }
    let upgrade = header_str(&req, header::UPGRADE).to_ascii_lowercase();
    if upgrade.starts_with("spdy") {
        // kubectl retries here after a failed websocket: say what failed there.
        tunnel.streams.check(&node).map_err(open_error)?;
        return Err(ApiError::bad(format!(
            "{verb} over SPDY is not served: hive speaks it over websocket ({}); use kubectl 1.30 or newer",
            PROTOCOLS.join(", ")
        )));
    }
    if upgrade != "websocket" {
        return Err(ApiError::bad(format!("{verb} needs a websocket upgrade (Upgrade: websocket) with the subprotocol {}", PROTOCOLS.join(" or "))));
    }
    let key = header_str(&req, header::SEC_WEBSOCKET_KEY).to_string();
    if key.is_empty() {
        return Err(ApiError::bad("websocket upgrade without Sec-WebSocket-Key"));
    }
    let offered: Vec<String> = header_str(&req, header::SEC_WEBSOCKET_PROTOCOL).split(',').map(|p| p.trim().to_string()).collect();
    let Some(protocol) = PROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p)) else {
        return Err(ApiError::bad(format!("{verb}: none of the offered subprotocols [{}] is served; use {}", offered.join(", "), PROTOCOLS.join(" or "))));
    };
    let request = json!({"kind": verb, "namespace": ns, "pod": name, "uid": uid, "container": container,
        "command": command, "stdin": stdin, "stdout": stdout, "stderr": stderr, "tty": tty});
    let stream = tunnel.streams.open(&node, &request).map_err(open_error)?;
    log::info!(target: super::NAME, "{verb} {ns}/{name} container {container} on node {node}{}", if attach { String::new() } else { format!(": {command:?}") });
    let v5 = *protocol == PROTOCOLS[0];
    let upgraded = hyper::upgrade::on(&mut req);
    let job = async move {
        match upgraded.await {
            Ok(up) => bridge(http::Upgraded(up), stream, v5).await,
            Err(e) => log::debug!(target: super::NAME, "upgrade failed: {e}"),
        }
    };
    if tunnel.spawn.try_send(Box::pin(job)).is_err() {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "the API server is shutting down".into()));
    }
    let mut resp = http::bytes(StatusCode::SWITCHING_PROTOCOLS, "text/plain", Vec::new());
    resp.headers_mut().remove(header::CONTENT_TYPE);
    for (k, v) in [
        (header::UPGRADE, "websocket".to_string()),
        (header::CONNECTION, "Upgrade".into()),
        (header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes())),
        (header::SEC_WEBSOCKET_PROTOCOL, protocol.to_string()),
    ] {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

/// The client's websocket ⇄ the stream, message for message, until either ends.
async fn bridge(io: http::Upgraded, mut stream: Stream, v5: bool) {
    let cfg = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let mut ws = async_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
    enum Ev {
        Client(Option<Result<WsMessage, async_tungstenite::tungstenite::Error>>),
        Edge(Event),
    }
    loop {
        let ev = {
            let client = async { Ev::Client(ws.next().await) };
            let edge = async { Ev::Edge(stream.recv().await) };
            client.or(edge).await
        };
        let msg: Vec<u8> = match ev {
            Ev::Client(Some(Ok(WsMessage::Binary(b)))) => b.to_vec(),
            Ev::Client(Some(Ok(WsMessage::Text(t)))) => t.as_bytes().to_vec(),
            Ev::Client(Some(Ok(WsMessage::Close(_)))) | Ev::Client(None) | Ev::Client(Some(Err(_))) => break,
            Ev::Client(Some(Ok(_))) => continue,
            Ev::Edge(Event::Data(d)) => {
                if ws.send(WsMessage::Binary(d.into())).await.is_err() {
                    break;
                }
                continue;
            }
            Ev::Edge(Event::End(why)) => {
                if let Some(why) = why {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": why, "reason": "InternalError", "code": 500});
                    let mut m = vec![3u8];
                    m.extend_from_slice(status.to_string().as_bytes());
                    let _ = ws.send(WsMessage::Binary(m.into())).await;
                }
                let _ = ws.close(Some(normal())).await;
                return;
            }
        };
        // v4 has no close message: a stray 255 is not passed on.
        if msg.is_empty() || (msg[0] == 255 && !v5) {
            continue;
        }
        if stream.send_message(&msg).await.is_err() {
            break;
        }
    }
    let _ = ws.close(Some(normal())).await;
}

/// A close with code 1000: kubectl reads it as the end of every channel
/// (no code at all, 1005, is an error to it).
fn normal() -> CloseFrame {
    CloseFrame { code: CloseCode::Normal, reason: "".into() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exec_and_attach_paths() {
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web/exec"), Some(("default".into(), "web".into(), false)));
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web/attach"), Some(("default".into(), "web".into(), true)));
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web/log"), None);
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/a/b/exec"), None);
    }
}
