//! A small HTTP/1.1 server on smol (hyper 1.x through smol-hyper), shared by
//! the edge-local API and, later, the cloud API: whole responses, JSON,
//! Kubernetes-style `Status` errors, and streamed bodies for watches.
//!
//! Connections may be upgraded (`Upgraded`: a websocket for `kubectl exec`).
//! `https_call` is the one-request client hive's own commands use (`hive
//! token`, `hive edge join`).
//!
//! Owns: connection handling and response helpers. Must not know routes.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use smol::channel::Receiver;
use smol::net::TcpListener;
use smol::LocalExecutor;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// One HTTPS request on a connection of its own: the status and the whole
/// body (at most `max_body` bytes). Errors name the address.
pub async fn https_call(
    tls: std::sync::Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    req: Request<Full<Bytes>>,
    max_body: usize,
) -> Result<(StatusCode, Bytes), String> {
    let at = format!("{host}:{port}");
    let tcp = smol::net::TcpStream::connect((host, port)).await.map_err(|e| format!("{at}: {e}"))?;
    let name = crate::tls::server_name(host).map_err(|e| e.to_string())?;
    let tls = futures_rustls::TlsConnector::from(tls).connect(name, tcp).await.map_err(|e| format!("{at}: TLS: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(smol_hyper::rt::FuturesIo::new(tls)).await.map_err(|e| format!("{at}: {e}"))?;
    let driver = smol::spawn(async move {
        let _ = conn.await;
    });
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = send.send_request(req).await.map_err(|e| format!("{at}: {method} {path}: {e}"))?;
    let status = resp.status();
    let body = http_body_util::Limited::new(resp.into_body(), max_body).collect().await.map_err(|e| format!("{at}: {method} {path}: {e}"))?.to_bytes();
    drop(driver);
    Ok((status, body))
}

/// A whole response.
pub fn bytes(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response from already-encoded JSON.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    bytes(status, "application/json", body)
}

/// A Kubernetes `Status` error.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    json(code, body.to_string())
}

/// The Kubernetes health paths, or None for another `path`: `/livez`
/// (the process answers), `/healthz` (and its storage reads: `storage` is
/// the check's name and the check), `/readyz` (and every module of
/// `router` serves).
pub fn health(path: &str, query: &str, storage: (&str, &dyn Fn() -> Result<(), String>), router: &crate::core::Router) -> Option<Response<Body>> {
    let what = match path.trim_end_matches('/') {
        "/healthz" => "healthz",
        "/livez" => "livez",
        "/readyz" => "readyz",
        _ => return None,
    };
    let mut checks: Vec<(String, Result<(), String>)> = vec![("ping".into(), Ok(()))];
    if what != "livez" {
        checks.push((storage.0.to_string(), (storage.1)()));
    }
    if what == "readyz" {
        for (module, ready) in router.readiness() {
            checks.push((format!("module-{module}"), if ready { Ok(()) } else { Err("not serving yet".into()) }));
        }
    }
    Some(health_text(what, &checks, query))
}

/// A Kubernetes-style health answer (`/healthz`, `/livez`, `/readyz`):
/// `ok`, or with `?verbose` (or on failure) one `[+]name ok` /
/// `[-]name failed: why` line per check and a verdict; 500 on failure.
fn health_text<N: AsRef<str>>(what: &str, checks: &[(N, Result<(), String>)], query: &str) -> Response<Body> {
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let verbose = query.split('&').any(|p| p == "verbose" || p.starts_with("verbose="));
    let body = if verbose || !ok {
        let mut b = String::new();
        for (name, r) in checks {
            match r {
                Ok(()) => b.push_str(&format!("[+]{} ok\n", name.as_ref())),
                Err(e) => b.push_str(&format!("[-]{} failed: {e}\n", name.as_ref())),
            }
        }
        b.push_str(&format!("{what} check {}\n", if ok { "passed" } else { "failed" }));
        b
    } else {
        "ok".to_string()
    };
    bytes(if ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR }, "text/plain; charset=utf-8", body)
}

/// A streamed response: each item of `rx` is sent as it comes; the response
/// ends when the channel closes.
pub fn stream(content_type: &str, rx: Receiver<Bytes>) -> Response<Body> {
    stream_of(content_type, futures_lite::stream::unfold(rx, |rx| async move { Some((rx.recv().await.ok()?, rx)) }))
}

/// A streamed response from any stream of chunks.
pub fn stream_of(content_type: &str, chunks: impl futures_lite::Stream<Item = Bytes> + Send + 'static) -> Response<Body> {
    use futures_lite::StreamExt as _;
    let frames = chunks.map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)));
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// What one listener allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once; one more is closed at once (and logged,
    /// at most once a minute).
    pub max_connections: usize,
    /// A request's headers must arrive within this time, and an idle
    /// keep-alive connection is closed after it. A response being streamed
    /// (a watch) is never cut by it.
    pub header_timeout: Duration,
}

/// As `serve`, with TLS on every connection (handshakes that fail are logged at debug).
pub async fn serve_tls<H, F>(
    listener: TcpListener,
    tls: std::sync::Arc<rustls::ServerConfig>,
    ex: &LocalExecutor<'_>,
    handler: Rc<H>,
    target: &'static str,
    limits: Limits,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Body>> + 'static,
{
    accept_loop(listener, ex, handler, target, Some(futures_rustls::TlsAcceptor::from(tls)), limits).await
}

/// Serve connections from `listener` on `ex` until the returned future is dropped.
pub async fn serve<H, F>(listener: TcpListener, ex: &LocalExecutor<'_>, handler: Rc<H>, target: &'static str, limits: Limits)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Body>> + 'static,
{
    accept_loop(listener, ex, handler, target, None, limits).await
}

/// Counts a connection while it lives.
struct Open(Rc<Cell<usize>>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    ex: &LocalExecutor<'_>,
    handler: Rc<H>,
    target: &'static str,
    tls: Option<futures_rustls::TlsAcceptor>,
    limits: Limits,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Body>> + 'static,
{
    let open = Rc::new(Cell::new(0usize));
    let mut refused = crate::logging::Throttle::new(Duration::from_secs(60));
    let mut failed = crate::logging::Throttle::new(Duration::from_secs(10));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                if let Some(n) = failed.allow() {
                    log::warn!(target: target, "accept failed: {e} ({n} more failures not logged)");
                }
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.get() >= limits.max_connections {
            if let Some(n) = refused.allow() {
                log::warn!(target: target, "connection from {peer} closed: {} connections open, the most this listener takes ({n} more refused since the last warning)", open.get());
            }
            drop(tcp);
            continue;
        }
        open.set(open.get() + 1);
        let guard = Open(open.clone());
        let _ = tcp.set_nodelay(true);
        let (h, tls) = (handler.clone(), tls.clone());
        ex.spawn(async move {
            let _guard = guard;
            match tls {
                None => serve_conn(tcp, peer, h, target, limits).await,
                Some(acceptor) => match crate::core::timeout(limits.header_timeout.min(Duration::from_secs(10)), acceptor.accept(tcp)).await {
                    Some(Ok(stream)) => serve_conn(stream, peer, h, target, limits).await,
                    Some(Err(e)) => log::debug!(target: target, "TLS from {peer}: {e}"),
                    None => log::debug!(target: target, "TLS from {peer}: handshake timed out"),
                },
            }
        })
        .detach();
    }
}

/// One HTTP/1.1 connection.
async fn serve_conn<S, H, F>(io: S, peer: SocketAddr, h: Rc<H>, target: &'static str, limits: Limits)
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Body>> + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let fut = h(req, peer);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(smol_hyper::rt::SmolTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(smol_hyper::rt::FuturesIo::new(io), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        log::debug!(target: target, "connection from {peer}: {e}");
    }
}

/// A connection hyper handed over after `101 Switching Protocols`, as a
/// futures-io stream (for a websocket).
pub struct Upgraded(pub hyper::upgrade::Upgraded);

impl smol::io::AsyncRead for Upgraded {
    fn poll_read(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut [u8]) -> std::task::Poll<std::io::Result<usize>> {
        let mut rb = hyper::rt::ReadBuf::new(buf);
        match hyper::rt::Read::poll_read(std::pin::Pin::new(&mut self.get_mut().0), cx, rb.unfilled()) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(rb.filled().len())),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl smol::io::AsyncWrite for Upgraded {
    fn poll_write(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        hyper::rt::Write::poll_write(std::pin::Pin::new(&mut self.get_mut().0), cx, buf)
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        hyper::rt::Write::poll_flush(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
    fn poll_close(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        hyper::rt::Write::poll_shutdown(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
}

/// hyper's executor for HTTP/2 connections (the CRI client, DMI): their
/// tasks go on smol's global executor.
#[derive(Clone, Copy)]
pub struct SmolExec;

impl<F> hyper::rt::Executor<F> for SmolExec
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        smol::spawn(fut).detach();
    }
}
