//! `kubectl port-forward`: `pods/<name>/portforward` upgraded either to a
//! websocket with the subprotocol `SPDY/3.1+portforward.k8s.io` (kubectl
//! 1.31+: SPDY frames inside binary messages) or to SPDY/3.1 itself (older
//! kubectl). Each local connection kubectl accepts is a pair of SPDY
//! streams (`streamtype` error and data, one `requestid`, the `port`); the
//! data stream rides a stream to the pod's edge (CloudStream), where Edged
//! connects to the pod's port. A failure is written on the error stream,
//! which kubectl prints.
//!
//! Owns: those routes and the SPDY session on the cloud. Must not talk to
//! edges except through CloudStream.

use std::collections::HashMap;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt as _;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use serde_json::{json, Value};
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::error::ApiError;
use super::proxy::Tunnel;
use super::route::valid_name;
use super::spdy::{self, Frame, Headers};
use crate::cloud::store::Store;
use crate::http::{self, Body, Upgraded};
use crate::proto::stream::{Event, Stream};

/// The websocket subprotocol kubectl 1.31+ asks for.
const WS_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// `(namespace, pod)` if `path` is a port-forward path.
pub fn parse(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once("/pods/")?;
    let name = rest.strip_suffix("/portforward")?;
    (valid_name(ns) && valid_name(name)).then(|| (ns.to_string(), name.to_string()))
}

/// Where the edge connects: the pod's node, uid and address.
struct Target {
    node: String,
    uid: String,
    host: String,
}

pub async fn serve(store: &dyn Store, tunnel: &Tunnel, ns: &str, name: &str, mut req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let s = store.get(&format!("pods/{ns}/{name}"))?.ok_or_else(|| ApiError::not_found(format!("pods \"{name}\" not found")))?;
    let pod: Value = serde_json::from_slice(&s.value).unwrap_or(Value::Null);
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty());
    let Some(node) = node else {
        return Err(ApiError::bad(format!("pod {ns}/{name} is not on a node yet (no spec.nodeName): cannot port-forward")));
    };
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::bad(format!(
            "unable to forward port because pod is not running. Current status={}",
            pod["status"]["phase"].as_str().unwrap_or("Pending")
        )));
    }
    let host = if pod.pointer("/spec/hostNetwork") == Some(&Value::Bool(true)) {
        "127.0.0.1".to_string()
    } else {
        pod.pointer("/status/podIP").and_then(Value::as_str).unwrap_or("").to_string()
    };
    let target = Target { node: node.to_string(), uid: pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string(), host };
    tunnel.streams.check(&target.node).map_err(super::logs::open_error)?;
    let h = |n: header::HeaderName| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (upgrade, key, offered) = (h(header::UPGRADE).to_ascii_lowercase(), h(header::SEC_WEBSOCKET_KEY), h(header::SEC_WEBSOCKET_PROTOCOL));
    let websocket = upgrade == "websocket";
    if websocket && !offered.split(',').any(|p| p.trim() == WS_PROTOCOL) {
        return Err(ApiError::bad(format!("port-forward over websocket needs the subprotocol {WS_PROTOCOL}")));
    }
    if !websocket && !upgrade.starts_with("spdy/3.1") {
        return Err(ApiError::bad(format!("port-forward needs an upgrade to SPDY/3.1 or to a websocket with {WS_PROTOCOL}")));
    }
    log::info!(target: super::NAME, "port-forward to {ns}/{name} on node {}", target.node);
    let upgraded = hyper::upgrade::on(&mut req);
    let (ns, name, t) = (ns.to_string(), name.to_string(), tunnel.clone());
    let job = async move {
        let io = match upgraded.await {
            Ok(up) => Upgraded(up),
            Err(e) => return log::debug!(target: super::NAME, "port-forward to {ns}/{name}: upgrade failed: {e}"),
        };
        let transport = if websocket {
            let cfg = WebSocketConfig::default().max_message_size(Some(spdy::MAX_FRAME + 64));
            Transport::Ws(Box::new(WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await))
        } else {
            Transport::Raw(io)
        };
        if let Err(e) = session(transport, &t, &ns, &name, &target).await {
            log::warn!(target: super::NAME, "port-forward to {ns}/{name} ended: {e}");
        }
    };
    if tunnel.spawn.try_send(Box::pin(job)).is_err() {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "the API server is shutting down".into()));
    }
    let mut resp = http::bytes(StatusCode::SWITCHING_PROTOCOLS, "text/plain", Vec::new());
    resp.headers_mut().remove(header::CONTENT_TYPE);
    let headers: Vec<(&str, String)> = if websocket {
        vec![("upgrade", "websocket".into()), ("sec-websocket-accept", derive_accept_key(key.as_bytes())), ("sec-websocket-protocol", WS_PROTOCOL.into())]
    } else {
        vec![("upgrade", "SPDY/3.1".into()), ("x-stream-protocol-version", "portforward.k8s.io".into())]
    };
    for (k, v) in headers.into_iter().chain([("connection", "Upgrade".to_string())]) {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

/// Bytes to and from the client, whichever way they are carried.
enum Transport {
    Ws(Box<WebSocketStream<Upgraded>>),
    Raw(Upgraded),
}

impl Transport {
    /// Append what arrives to `buf`; false once the client is gone.
    async fn read(&mut self, buf: &mut Vec<u8>) -> bool {
        match self {
            Transport::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Binary(b))) => {
                        buf.extend_from_slice(&b);
                        break true;
                    }
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break false,
                    Some(Ok(_)) => continue,
                }
            },
            Transport::Raw(io) => {
                let mut chunk = [0u8; 16 << 10];
                match io.read(&mut chunk).await {
                    Ok(0) | Err(_) => false,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        true
                    }
                }
            }
        }
    }

    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        match self {
            Transport::Ws(ws) => ws.send(WsMessage::Binary(bytes.into())).await.map_err(|e| e.to_string()),
            Transport::Raw(io) => io.write_all(&bytes).await.map_err(|e| e.to_string()),
        }
    }
}

/// One `requestid`: its two SPDY streams, and where the data stream's bytes go.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: String,
}

async fn session(mut t: Transport, tunnel: &Tunnel, ns: &str, name: &str, target: &Target) -> Result<(), String> {
    let mut headers = Headers::default();
    let mut buf = Vec::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut to_edge: HashMap<u32, Sender<Vec<u8>>> = HashMap::new();
    let (out, frames) = smol::channel::bounded::<Vec<u8>>(64);
    enum Ev {
        Read(bool),
        Write(Option<Vec<u8>>),
    }
    loop {
        let ev = {
            let read = async { Ev::Read(t.read(&mut buf).await) };
            let write = async { Ev::Write(frames.recv().await.ok()) };
            write.or(read).await
        };
        match ev {
            Ev::Write(Some(f)) => {
                t.write(f).await?;
                continue;
            }
            Ev::Write(None) => continue,
            Ev::Read(false) => return Ok(()),
            Ev::Read(true) => {}
        }
        while let Some(frame) = spdy::next_frame(&mut buf)? {
            match frame {
                Frame::Control { kind: spdy::SYN_STREAM, body, .. } => {
                    let id = spdy::stream_id(&body)?;
                    let pairs_in = headers.decode(body.get(10..).unwrap_or_default())?;
                    let get = |k: &str| pairs_in.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
                    let reply = headers.encode(&[]);
                    let mut body = id.to_be_bytes().to_vec();
                    body.extend(reply);
                    t.write(spdy::control(spdy::SYN_REPLY, 0, &body)).await?;
                    let pair = pairs.entry(get("requestid")).or_default();
                    pair.port = get("port");
                    match get("streamtype").as_str() {
                        "error" => pair.error = Some(id),
                        "data" => pair.data = Some(id),
                        other => return Err(format!("SPDY stream of type `{other}`")),
                    }
                    if let (Some(error), Some(data)) = (pair.error, pair.data) {
                        let port = pair.port.clone();
                        pairs.remove(&get("requestid"));
                        match open(tunnel, ns, name, target, &port) {
                            Ok(stream) => {
                                let (tx, rx) = smol::channel::bounded(16);
                                to_edge.insert(data, tx);
                                let _ = tunnel.spawn.try_send(Box::pin(forward(stream, data, error, rx, out.clone())));
                            }
                            Err(why) => {
                                t.write(spdy::data(error, 0, why.as_bytes())).await?;
                                t.write(spdy::data(error, spdy::FLAG_FIN, &[])).await?;
                                t.write(spdy::data(data, spdy::FLAG_FIN, &[])).await?;
                            }
                        }
                    }
                }
                Frame::Control { kind: spdy::RST_STREAM, body, .. } => {
                    to_edge.remove(&spdy::stream_id(&body)?);
                }
                Frame::Control { kind: spdy::PING, body, .. } => t.write(spdy::control(spdy::PING, 0, &body)).await?,
                Frame::Control { kind: spdy::GOAWAY, .. } => return Ok(()),
                Frame::Control { .. } => {}
                Frame::Data { stream, data, .. } => {
                    // A FIN from kubectl (its local side ended) has no counterpart in the tunnel: the pod's side ends the connection.
                    if let Some(tx) = to_edge.get(&stream) {
                        if !data.is_empty() && tx.send(data).await.is_err() {
                            to_edge.remove(&stream);
                        }
                    }
                }
            }
        }
    }
}

fn open(tunnel: &Tunnel, ns: &str, name: &str, target: &Target, port: &str) -> Result<Stream, String> {
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port `{port}`"))?;
    if target.host.is_empty() {
        return Err(format!("pod {ns}/{name} has no IP address yet"));
    }
    let request = json!({"kind": "portForward", "namespace": ns, "pod": name, "uid": target.uid, "host": target.host, "port": port});
    tunnel.streams.open(&target.node, &request).map_err(|e| match e {
        crate::cloud::stream::OpenError::NotConnected(m) | crate::cloud::stream::OpenError::Limit(m) => m,
    })
}

/// One forwarded connection: the tunnel stream ⇄ SPDY data frames.
async fn forward(mut stream: Stream, data: u32, error: u32, from_client: Receiver<Vec<u8>>, out: Sender<Vec<u8>>) {
    enum Ev {
        Edge(Event),
        Client(Option<Vec<u8>>),
    }
    loop {
        let ev = {
            let edge = async { Ev::Edge(stream.recv().await) };
            let client = async { Ev::Client(from_client.recv().await.ok()) };
            edge.or(client).await
        };
        match ev {
            Ev::Edge(Event::Data(d)) => {
                if out.send(spdy::data(data, 0, &d)).await.is_err() {
                    return;
                }
            }
            Ev::Edge(Event::End(why)) => {
                if let Some(why) = why {
                    let _ = out.send(spdy::data(error, 0, why.as_bytes())).await;
                }
                let _ = out.send(spdy::data(data, spdy::FLAG_FIN, &[])).await;
                let _ = out.send(spdy::data(error, spdy::FLAG_FIN, &[])).await;
                return;
            }
            Ev::Client(Some(bytes)) => {
                if stream.send(&bytes).await.is_err() {
                    return;
                }
            }
            Ev::Client(None) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn port_forward_paths() {
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web/portforward"), Some(("default".into(), "web".into())));
        assert_eq!(super::parse("/api/v1/namespaces/default/pods/web/exec"), None);
    }
}
