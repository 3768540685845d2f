//! DMI's client side: what changes on this node goes to the mapper that
//! serves it (`DeviceMapperService` on the socket it registered). One
//! worker per mapper sends its pushes in order, one connection per call
//! (as edgecore does; a mapper restarts freely), each within 10 s; a
//! failed call is retried with backoff for about a minute, then dropped
//! with a warning (the mapper gets the current state when it registers
//! again). A slow or vanished mapper holds up only its own worker.
//!
//! Owns: the connections to mappers. Must not decide what to push.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use prost::Message as _;
use smol::channel::Sender;
use smol::future::FutureExt as _;

use super::api;

const SERVICE: &str = "v1beta1.DeviceMapperService";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff between attempts of one push: 1, 2, 4, … 16 s (about a minute).
const ATTEMPTS: u32 = 6;

/// One call for a mapper.
#[derive(Debug, Clone)]
pub enum Push {
    CreateModel(api::DeviceModel),
    UpdateModel(api::DeviceModel),
    RemoveModel { namespace: String, name: String },
    Register(api::Device),
    Update(api::Device),
    Remove { namespace: String, name: String },
}

impl Push {
    fn method(&self) -> &'static str {
        match self {
            Push::CreateModel(_) => "CreateDeviceModel",
            Push::UpdateModel(_) => "UpdateDeviceModel",
            Push::RemoveModel { .. } => "RemoveDeviceModel",
            Push::Register(_) => "RegisterDevice",
            Push::Update(_) => "UpdateDevice",
            Push::Remove { .. } => "RemoveDevice",
        }
    }

    fn what(&self) -> String {
        match self {
            Push::CreateModel(m) | Push::UpdateModel(m) => format!("model {}/{}", m.namespace, m.name),
            Push::RemoveModel { namespace, name } => format!("model {namespace}/{name}"),
            Push::Register(d) | Push::Update(d) => format!("device {}/{}", d.namespace, d.name),
            Push::Remove { namespace, name } => format!("device {namespace}/{name}"),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self.clone() {
            Push::CreateModel(m) => api::CreateDeviceModelRequest { model: Some(m) }.encode_to_vec(),
            Push::UpdateModel(m) => api::UpdateDeviceModelRequest { model: Some(m) }.encode_to_vec(),
            Push::RemoveModel { namespace, name } => api::RemoveDeviceModelRequest { model_name: name, model_namespace: namespace }.encode_to_vec(),
            Push::Register(d) => api::RegisterDeviceRequest { device: Some(d) }.encode_to_vec(),
            Push::Update(d) => api::UpdateDeviceRequest { device: Some(d) }.encode_to_vec(),
            Push::Remove { namespace, name } => api::RemoveDeviceRequest { device_name: name, device_namespace: namespace }.encode_to_vec(),
        }
    }
}

/// Pushes waiting for one mapper at most.
pub const QUEUE: usize = 1024;

/// Start a mapper's worker; pushes sent to it go out in order. Dropping
/// the task stops it, its queue and retries with it (a mapper registering
/// again gets a new worker, and the state of now).
pub fn worker(mapper: String, socket: PathBuf) -> (Sender<Push>, smol::Task<()>) {
    let (tx, rx) = smol::channel::bounded::<Push>(QUEUE);
    let task = smol::spawn(async move {
        while let Ok(p) = rx.recv().await {
            let mut delay = Duration::from_secs(1);
            for attempt in 1..=ATTEMPTS {
                match call(&socket, p.method(), p.encode()).await {
                    Ok(()) => {
                        log::info!(target: super::NAME, "mapper `{mapper}`: {} {}", p.method(), p.what());
                        break;
                    }
                    Err(e) if attempt == ATTEMPTS => {
                        crate::edge::metrics::DMI_PUSH_FAILURES.inc(&[p.method()]);
                        log::warn!(target: super::NAME, "mapper `{mapper}`: {} {}: {e}; given up after {ATTEMPTS} attempts (sent again when the mapper registers)", p.method(), p.what());
                    }
                    Err(e) => {
                        log::info!(target: super::NAME, "mapper `{mapper}`: {} {}: {e}; again in {} s", p.method(), p.what(), delay.as_secs());
                        smol::Timer::after(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
    });
    (tx, task)
}

/// One unary call on a fresh connection, within TIMEOUT.
pub async fn call(socket: &Path, method: &str, msg: Vec<u8>) -> Result<(), String> {
    let attempt = async { Some(call_once(socket, method, msg).await) };
    let late = async {
        smol::Timer::after(TIMEOUT).await;
        None
    };
    attempt.or(late).await.unwrap_or_else(|| Err(format!("no answer within {} s", TIMEOUT.as_secs())))
}

async fn call_once(socket: &Path, method: &str, msg: Vec<u8>) -> Result<(), String> {
    let s = smol::net::unix::UnixStream::connect(socket).await.map_err(|e| format!("{}: {e}", socket.display()))?;
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(crate::http::SmolExec)
        .handshake(smol_hyper::rt::FuturesIo::new(s))
        .await
        .map_err(|e| format!("HTTP/2: {e}"))?;
    let driver = smol::spawn(async move {
        let _ = conn.await;
    });
    let body = super::server::frame(&msg);
    let req = hyper::Request::post(format!("http://localhost/{SERVICE}/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP status {}", resp.status()));
    }
    let head = status(resp.headers());
    let got = http_body_util::Limited::new(resp.into_body(), 1 << 20).collect().await.map_err(|e| e.to_string())?;
    drop(driver);
    match got.trailers().and_then(status).or(head) {
        Some((0, _)) => {
            let mut data: Bytes = got.to_bytes();
            // The reply's content is not used; check only that it is framed.
            if !data.is_empty() && (data.len() < 5 || data.get_u8() != 0) {
                return Err("a malformed gRPC reply".into());
            }
            Ok(())
        }
        Some((code, message)) => Err(format!("gRPC status {code}: {message}")),
        None => Err("no grpc-status in the reply".into()),
    }
}

fn status(h: &hyper::HeaderMap) -> Option<(u32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let msg = h.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or("").to_string();
    Some((code, msg))
}
