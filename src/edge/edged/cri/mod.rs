//! A thin CRI v1 client: gRPC (unary calls only) over HTTP/2 (hyper) on
//! containerd's unix socket, with the prost messages of api.rs. One
//! connection, made on first use and again after it broke (containerd
//! restarted). Every call has a timeout; errors name the call and carry
//! the gRPC status code and message.
//!
//! Owns: the socket connection and gRPC framing. Must not decide anything
//! about pods.

pub mod api;
pub mod exec;
pub mod security;
pub mod streaming;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use smol::future::FutureExt as _;

const RUNTIME: &str = "runtime.v1.RuntimeService";
const IMAGES: &str = "runtime.v1.ImageService";
/// Replies larger than this are refused (ListContainers of a busy node fits easily).
const MAX_REPLY: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("container runtime socket {0} does not exist (is containerd running?)")]
    SocketMissing(PathBuf),
    #[error("cannot connect to container runtime at {0}: {1}")]
    Connect(PathBuf, String),
    #[error("CRI {method}: {code_name} ({code}): {message}")]
    Grpc { method: String, code: u32, code_name: &'static str, message: String },
    #[error("CRI {0}: {1}")]
    Transport(String, String),
    #[error("CRI {0}: no answer within {1} ms")]
    Timeout(String, u128),
}

impl CriError {
    /// gRPC NOT_FOUND (e.g. a container that is gone).
    pub fn is_not_found(&self) -> bool {
        matches!(self, CriError::Grpc { code: 5, .. })
    }
}

fn code_name(code: u32) -> &'static str {
    match code {
        1 => "Cancelled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        _ => "Error",
    }
}

/// grpc-message is percent-encoded (byte-wise: never slices inside a character).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let (b'%', Some(&h), Some(&l)) = (b[i], b.get(i + 1), b.get(i + 2)) {
            if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Cri {
    socket: PathBuf,
    timeout: Duration,
    conn: RefCell<Option<SendRequest<Full<Bytes>>>>,
}

impl Cri {
    pub fn new(socket: &Path, timeout: Duration) -> Cri {
        Cri { socket: socket.to_path_buf(), timeout, conn: RefCell::new(None) }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, CriError> {
        if let Some(c) = self.conn.borrow().as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        if !self.socket.exists() {
            return Err(CriError::SocketMissing(self.socket.clone()));
        }
        let s = smol::net::unix::UnixStream::connect(&self.socket).await.map_err(|e| CriError::Connect(self.socket.clone(), e.to_string()))?;
        let (send, conn) = hyper::client::conn::http2::Builder::new(crate::http::SmolExec)
            .handshake(smol_hyper::rt::FuturesIo::new(s))
            .await
            .map_err(|e| CriError::Connect(self.socket.clone(), format!("HTTP/2: {e}")))?;
        smol::spawn(async move {
            let _ = conn.await;
        })
        .detach();
        *self.conn.borrow_mut() = Some(send.clone());
        Ok(send)
    }

    /// One unary call: `service/method` with `req`, decoded as `Resp`.
    pub async fn call<Req: prost::Message, Resp: prost::Message + Default>(&self, service: &str, method: &str, req: &Req) -> Result<Resp, CriError> {
        let what = method.to_string();
        let started = std::time::Instant::now();
        let attempt = async { Some(self.call_once(service, method, req).await) };
        let late = async {
            smol::Timer::after(self.timeout).await;
            None
        };
        let outcome = attempt.or(late).await;
        crate::edge::metrics::CRI_CALLS.since(&[method], started);
        if !matches!(outcome, Some(Ok(_))) {
            crate::edge::metrics::CRI_ERRORS.inc(&[method]);
        }
        match outcome {
            Some(Err(e @ CriError::Transport(..))) => {
                // The connection may be stale (containerd restarted): forget it.
                *self.conn.borrow_mut() = None;
                Err(e)
            }
            Some(r) => r,
            None => {
                *self.conn.borrow_mut() = None;
                Err(CriError::Timeout(what, self.timeout.as_millis()))
            }
        }
    }

    async fn call_once<Req: prost::Message, Resp: prost::Message + Default>(&self, service: &str, method: &str, req: &Req) -> Result<Resp, CriError> {
        let t = |e: String| CriError::Transport(method.to_string(), e);
        let mut send = self.connect().await?;
        let mut body = BytesMut::with_capacity(req.encoded_len() + 5);
        body.put_u8(0);
        body.put_u32(req.encoded_len() as u32);
        req.encode(&mut body).map_err(|e| t(e.to_string()))?;
        let request = hyper::Request::post(format!("http://localhost/{service}/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(body.freeze()))
            .map_err(|e| t(e.to_string()))?;
        send.ready().await.map_err(|e| t(e.to_string()))?;
        let resp = send.send_request(request).await.map_err(|e| t(e.to_string()))?;
        let status_in = |h: &hyper::HeaderMap| -> Option<(u32, String)> {
            let code = h.get("grpc-status")?.to_str().ok()?.parse().ok()?;
            let msg = h.get("grpc-message").and_then(|m| m.to_str().ok()).map(unescape).unwrap_or_default();
            Some((code, msg))
        };
        if !resp.status().is_success() {
            return Err(t(format!("HTTP status {}", resp.status())));
        }
        let head_status = status_in(resp.headers());
        let collected = http_body_util::Limited::new(resp.into_body(), MAX_REPLY).collect().await.map_err(|e| t(e.to_string()))?;
        let trailer_status = collected.trailers().and_then(status_in);
        if let Some((code, message)) = trailer_status.or(head_status) {
            if code != 0 {
                return Err(CriError::Grpc { method: method.to_string(), code, code_name: code_name(code), message });
            }
        }
        let mut data = collected.to_bytes();
        if data.len() < 5 {
            return Ok(Resp::default());
        }
        let _compressed = data.get_u8();
        let len = data.get_u32() as usize;
        if data.len() < len {
            return Err(t(format!("reply cut short ({} of {len} bytes)", data.len())));
        }
        Resp::decode(&data[..len]).map_err(|e| t(format!("bad reply: {e}")))
    }

    pub async fn runtime<Req: prost::Message, Resp: prost::Message + Default>(&self, method: &str, req: &Req) -> Result<Resp, CriError> {
        self.call(RUNTIME, method, req).await
    }

    pub async fn images<Req: prost::Message, Resp: prost::Message + Default>(&self, method: &str, req: &Req) -> Result<Resp, CriError> {
        self.call(IMAGES, method, req).await
    }

    // The calls Edged makes, by their CRI names.

    pub async fn version(&self) -> Result<api::VersionResponse, CriError> {
        self.runtime("Version", &api::VersionRequest { version: "v1".into() }).await
    }

    pub async fn status(&self) -> Result<api::StatusResponse, CriError> {
        self.runtime("Status", &api::StatusRequest { verbose: false }).await
    }

    pub async fn run_pod_sandbox(&self, config: api::PodSandboxConfig) -> Result<String, CriError> {
        let r: api::RunPodSandboxResponse =
            self.runtime("RunPodSandbox", &api::RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() }).await?;
        Ok(r.pod_sandbox_id)
    }

    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        self.runtime::<_, api::Empty>("StopPodSandbox", &api::PodSandboxIdRequest { pod_sandbox_id: id.into() }).await.map(|_| ())
    }

    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        self.runtime::<_, api::Empty>("RemovePodSandbox", &api::PodSandboxIdRequest { pod_sandbox_id: id.into() }).await.map(|_| ())
    }

    pub async fn pod_sandbox_status(&self, id: &str) -> Result<api::PodSandboxStatus, CriError> {
        let r: api::PodSandboxStatusResponse = self.runtime("PodSandboxStatus", &api::PodSandboxIdRequest { pod_sandbox_id: id.into() }).await?;
        r.status.ok_or_else(|| CriError::Transport("PodSandboxStatus".into(), "no status in the reply".into()))
    }

    pub async fn list_pod_sandbox(&self, labels: std::collections::HashMap<String, String>) -> Result<Vec<api::PodSandbox>, CriError> {
        let r: api::ListPodSandboxResponse = self
            .runtime("ListPodSandbox", &api::ListPodSandboxRequest { filter: Some(api::PodSandboxFilter { id: String::new(), label_selector: labels }) })
            .await?;
        Ok(r.items)
    }

    pub async fn create_container(&self, sandbox: &str, config: api::ContainerConfig, sandbox_config: api::PodSandboxConfig) -> Result<String, CriError> {
        let r: api::CreateContainerResponse = self
            .runtime(
                "CreateContainer",
                &api::CreateContainerRequest { pod_sandbox_id: sandbox.into(), config: Some(config), sandbox_config: Some(sandbox_config) },
            )
            .await?;
        Ok(r.container_id)
    }

    pub async fn start_container(&self, id: &str) -> Result<(), CriError> {
        self.runtime::<_, api::Empty>("StartContainer", &api::ContainerIdRequest { container_id: id.into() }).await.map(|_| ())
    }

    pub async fn stop_container(&self, id: &str, grace_s: i64) -> Result<(), CriError> {
        self.runtime::<_, api::Empty>("StopContainer", &api::StopContainerRequest { container_id: id.into(), timeout: grace_s }).await.map(|_| ())
    }

    pub async fn remove_container(&self, id: &str) -> Result<(), CriError> {
        self.runtime::<_, api::Empty>("RemoveContainer", &api::ContainerIdRequest { container_id: id.into() }).await.map(|_| ())
    }

    pub async fn list_containers(&self, labels: std::collections::HashMap<String, String>) -> Result<Vec<api::Container>, CriError> {
        let filter = api::ContainerFilter { id: String::new(), pod_sandbox_id: String::new(), label_selector: labels };
        let r: api::ListContainersResponse = self.runtime("ListContainers", &api::ListContainersRequest { filter: Some(filter) }).await?;
        Ok(r.containers)
    }

    pub async fn container_status(&self, id: &str) -> Result<api::ContainerStatus, CriError> {
        let r: api::ContainerStatusResponse = self.runtime("ContainerStatus", &api::ContainerIdRequest { container_id: id.into() }).await?;
        r.status.ok_or_else(|| CriError::Transport("ContainerStatus".into(), "no status in the reply".into()))
    }

    /// The image, if present.
    pub async fn image_status(&self, image: &str) -> Result<Option<api::Image>, CriError> {
        let r: api::ImageStatusResponse = self.images("ImageStatus", &api::ImageStatusRequest { image: Some(api::ImageSpec { image: image.into() }) }).await?;
        Ok(r.image)
    }

    pub async fn pull_image(&self, image: &str, auth: Option<api::AuthConfig>) -> Result<String, CriError> {
        let r: api::PullImageResponse = self.images("PullImage", &api::PullImageRequest { image: Some(api::ImageSpec { image: image.into() }), auth }).await?;
        Ok(r.image_ref)
    }

    pub async fn list_images(&self) -> Result<Vec<api::Image>, CriError> {
        let r: api::ListImagesResponse = self.images("ListImages", &api::ListImagesRequest {}).await?;
        Ok(r.images)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn grpc_messages_are_unescaped() {
        assert_eq!(super::unescape("image%20%22x%22 not found"), "image \"x\" not found");
        assert_eq!(super::unescape("100%"), "100%");
        assert_eq!(super::unescape("%é%zz"), "%é%zz");
    }
}
