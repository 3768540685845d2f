//! CRI `Exec` and `Attach`: the runtime answers with a URL on its streaming
//! server, which Edged then speaks to over websocket with Kubernetes'
//! `v4.channel.k8s.io` protocol (every message starts with its channel:
//! 0 stdin, 1 stdout, 2 stderr, 3 error as a JSON `Status`, 4 resize).
//! containerd's streaming server (the kubelet streaming library) takes it
//! as well as SPDY.
//!
//! Owns: those two calls and the websocket to the streaming server. Must
//! not decide what to run or where the bytes go.

use async_tungstenite::tungstenite::client::IntoClientRequest as _;
use async_tungstenite::WebSocketStream;
use smol::net::TcpStream;

use super::{Cri, CriError};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    #[prost(string, repeated, tag = "2")]
    pub cmd: Vec<String>,
    #[prost(bool, tag = "3")]
    pub tty: bool,
    #[prost(bool, tag = "4")]
    pub stdin: bool,
    #[prost(bool, tag = "5")]
    pub stdout: bool,
    #[prost(bool, tag = "6")]
    pub stderr: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AttachRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    #[prost(bool, tag = "2")]
    pub stdin: bool,
    #[prost(bool, tag = "3")]
    pub tty: bool,
    #[prost(bool, tag = "4")]
    pub stdout: bool,
    #[prost(bool, tag = "5")]
    pub stderr: bool,
}

/// ExecResponse and AttachResponse: the streaming URL.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UrlResponse {
    #[prost(string, tag = "1")]
    pub url: String,
}

/// The subprotocol Edged asks the streaming server for.
pub const PROTOCOL: &str = "v4.channel.k8s.io";

pub type StreamingSocket = WebSocketStream<TcpStream>;

impl Cri {
    /// The streaming URL for running `req.cmd` in a container.
    pub async fn exec(&self, req: &ExecRequest) -> Result<String, CriError> {
        self.runtime::<_, UrlResponse>("Exec", req).await.map(|r| r.url)
    }

    /// The streaming URL for attaching to a container's main process.
    pub async fn attach(&self, req: &AttachRequest) -> Result<String, CriError> {
        self.runtime::<_, UrlResponse>("Attach", req).await.map(|r| r.url)
    }
}

/// Connect to the streaming server at `url` (plain HTTP on loopback, as
/// containerd serves it by default).
pub async fn connect(url: &str) -> Result<StreamingSocket, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("the runtime's streaming URL {url} is not plain http:// (TLS streaming, enable_tls_streaming in containerd, is not supported)")
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    let tcp = TcpStream::connect(authority).await.map_err(|e| format!("streaming server {authority}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut req = format!("ws://{rest}").into_client_request().map_err(|e| format!("streaming URL {url}: {e}"))?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", async_tungstenite::tungstenite::http::HeaderValue::from_static(PROTOCOL));
    let (ws, resp) = async_tungstenite::client_async(req, tcp).await.map_err(|e| format!("streaming server {authority}: websocket: {e}"))?;
    let agreed = resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    if agreed != PROTOCOL {
        return Err(format!("streaming server {authority} answered with subprotocol `{agreed}`, not {PROTOCOL}"));
    }
    Ok(ws)
}
