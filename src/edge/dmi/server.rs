//! DMI's gRPC server: `v1beta1.DeviceManagerService` on a unix socket
//! (edgecore's default `/etc/kubeedge/dmi.sock`), unary calls only, as
//! mappers make them. Each connection goes through authority.rs into
//! hyper's HTTP/2 server; each call is handed to the DMI module as a
//! [`Call`] over a channel and answered from its reply, so the state stays
//! with one owner on the edge's executor and this side holds none.
//!
//! Owns: the socket, HTTP/2 and gRPC framing. Must not interpret messages.

use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Limited};
use hyper::body::Frame;
use smol::channel::Sender;

/// grpc-go's default receive limit; a larger request is RESOURCE_EXHAUSTED.
pub const MAX_REQUEST: usize = 4 << 20;

/// A gRPC status other than OK.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub code: u32,
    pub message: String,
}

impl Status {
    pub fn new(code: u32, message: impl Into<String>) -> Status {
        Status { code, message: message.into() }
    }
}

pub const INVALID_ARGUMENT: u32 = 3;
pub const NOT_FOUND: u32 = 5;
pub const PERMISSION_DENIED: u32 = 7;
pub const RESOURCE_EXHAUSTED: u32 = 8;
pub const UNIMPLEMENTED: u32 = 12;
pub const UNAVAILABLE: u32 = 14;

/// The name of a gRPC code, as metrics label it.
pub fn code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        INVALID_ARGUMENT => "INVALID_ARGUMENT",
        NOT_FOUND => "NOT_FOUND",
        PERMISSION_DENIED => "PERMISSION_DENIED",
        RESOURCE_EXHAUSTED => "RESOURCE_EXHAUSTED",
        UNIMPLEMENTED => "UNIMPLEMENTED",
        UNAVAILABLE => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

/// One unary call: `method` is the path's last part (`MapperRegister`),
/// `request` the message without gRPC's 5-byte prefix.
pub struct Call {
    pub method: String,
    pub request: Bytes,
    pub reply: Sender<Result<Bytes, Status>>,
}

const SERVICE: &str = "/v1beta1.DeviceManagerService/";

/// Bind `path`: its directory made (0700 if new), a stale socket removed
/// (one that still answers is another process's, and is refused), the
/// socket itself 0600 (mappers run as root, as edgecore's do).
pub fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("DMI socket directory {}: {e}", dir.display()))?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!("DMI socket {}: another process serves it (another edge or edgecore?); stop it or set dmi.socket", path.display()));
    }
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::fs::remove_file(path) {
            Ok(()) => log::info!(target: super::NAME, "removed a stale DMI socket {}", path.display()),
            Err(e) => return Err(format!("DMI socket {}: {e} (remove it, or set dmi.socket)", path.display())),
        },
        Ok(_) => return Err(format!("DMI socket {}: something other than a socket is there; move it away or set dmi.socket", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("DMI socket {}: {e}", path.display())),
    }
    let l = std::os::unix::net::UnixListener::bind(path).map_err(|e| format!("DMI socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("DMI socket {}: {e}", path.display()))?;
    Ok(l)
}

/// Mapper connections served at once; more wait in the listen queue
/// (mapper-framework's mappers open one per call and close it).
const MAX_CONNECTIONS: usize = 32;
/// A connection silent this long is closed (a gRPC client reconnects).
const IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// Accept mappers until the listener fails; each connection on its own task.
pub async fn serve(listener: smol::net::unix::UnixListener, calls: Sender<Call>, path: PathBuf) {
    let slots = std::sync::Arc::new(smol::lock::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.acquire_arc().await;
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                log::warn!(target: super::NAME, "DMI socket {}: accept: {e}", path.display());
                smol::Timer::after(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        let calls = calls.clone();
        smol::spawn(async move {
            if let Err(e) = connection(conn, calls).await {
                log::debug!(target: super::NAME, "mapper connection: {e}");
            }
            drop(slot);
        })
        .detach();
    }
}

async fn connection(mapper: smol::net::unix::UnixStream, calls: Sender<Call>) -> Result<(), String> {
    let (ours, hypers) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let ours = smol::net::unix::UnixStream::try_from(ours).map_err(|e| e.to_string())?;
    let hypers = smol::net::unix::UnixStream::try_from(hypers).map_err(|e| e.to_string())?;
    // Mapper → hyper with header blocks mended; hyper → mapper as it is.
    // When the mapper's side fails (bad frames, silence past IDLE) both
    // sockets are shut, so hyper and the copy back end too.
    let up = async {
        let r = super::authority::forward(mapper.clone(), ours.clone(), IDLE).await;
        if r.is_err() {
            let _ = ours.shutdown(std::net::Shutdown::Both);
            let _ = mapper.shutdown(std::net::Shutdown::Both);
        }
        r.map_err(|e| e.to_string())
    };
    let down = async { smol::io::copy(ours.clone(), mapper.clone()).await.map(drop).map_err(|e| e.to_string()) };
    let svc = hyper::service::service_fn(move |req| handle(req, calls.clone()));
    let http =
        hyper::server::conn::http2::Builder::new(crate::http::SmolExec).max_concurrent_streams(8).serve_connection(smol_hyper::rt::FuturesIo::new(hypers), svc);
    let relay = async { futures_lite::future::zip(up, down).await.0 };
    futures_lite::future::zip(relay, async { http.await.map_err(|e| format!("HTTP/2: {e}")) }).await.0
}

type Body = http_body_util::StreamBody<futures_lite::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::convert::Infallible>>>>;

async fn handle(req: hyper::Request<hyper::body::Incoming>, calls: Sender<Call>) -> Result<hyper::Response<Body>, std::convert::Infallible> {
    Ok(match call(req, calls).await {
        Ok(msg) => answer(Some(msg), 0, ""),
        Err(s) => answer(None, s.code, &s.message),
    })
}

async fn call(req: hyper::Request<hyper::body::Incoming>, calls: Sender<Call>) -> Result<Bytes, Status> {
    let method = match req.uri().path().strip_prefix(SERVICE) {
        Some(m) if !m.is_empty() && !m.contains('/') => m.to_string(),
        _ => return Err(Status::new(UNIMPLEMENTED, format!("unknown method {} (this socket serves {SERVICE}*)", req.uri().path()))),
    };
    let body = Limited::new(req.into_body(), MAX_REQUEST + 5).collect().await.map_err(|e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
        Some(_) => Status::new(RESOURCE_EXHAUSTED, format!("{method}: a request over {MAX_REQUEST} bytes")),
        None => Status::new(UNAVAILABLE, format!("{method}: request: {e}")),
    })?;
    let request = unframe(body.to_bytes()).map_err(|e| Status::new(INVALID_ARGUMENT, format!("{method}: {e}")))?;
    let (reply, answer) = smol::channel::bounded(1);
    calls.send(Call { method: method.clone(), request, reply }).await.map_err(|_| Status::new(UNAVAILABLE, "the edge is stopping"))?;
    answer.recv().await.map_err(|_| Status::new(UNAVAILABLE, format!("{method}: no answer (the edge is stopping)")))?
}

/// The message inside gRPC's length-prefixed framing (uncompressed only).
pub fn unframe(mut b: Bytes) -> Result<Bytes, String> {
    if b.is_empty() {
        return Ok(b);
    }
    if b.len() < 5 {
        return Err(format!("a gRPC frame of {} bytes (the prefix alone is 5)", b.len()));
    }
    if b.get_u8() != 0 {
        return Err("a compressed message (no grpc-encoding is accepted)".into());
    }
    let len = b.get_u32() as usize;
    if len != b.len() {
        return Err(format!("a gRPC frame announcing {len} bytes holds {}", b.len()));
    }
    Ok(b)
}

pub fn frame(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(msg.len() + 5);
    b.put_u8(0);
    b.put_u32(msg.len() as u32);
    b.put_slice(msg);
    b.freeze()
}

/// A gRPC response: the message (if OK), then trailers with the status.
fn answer(msg: Option<Bytes>, code: u32, message: &str) -> hyper::Response<Body> {
    let mut frames = Vec::new();
    if let Some(m) = msg {
        frames.push(Ok(Frame::data(frame(&m))));
    }
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", code.into());
    if !message.is_empty() {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&escape(message)) {
            trailers.insert("grpc-message", v);
        }
    }
    frames.push(Ok(Frame::trailers(trailers)));
    let mut r = hyper::Response::new(http_body_util::StreamBody::new(futures_lite::stream::iter(frames)));
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/grpc"));
    r
}

/// grpc-message's percent-encoding (only printable ASCII but `%` as is).
fn escape(s: &str) -> String {
    s.bytes().map(|b| if (0x20..0x7f).contains(&b) && b != b'%' { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
