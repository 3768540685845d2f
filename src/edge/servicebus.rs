//! ServiceBus: the cloud calls an HTTP app running on this edge. A
//! `request` message (bincode `HttpRequest`) from the cloud becomes an
//! HTTP/1.1 call to `http://127.0.0.1:<port><path>` (hyper client on
//! smol) with a timeout and a body cap; the reply is a bincode
//! `HttpResponse`, or `error: 502/504/413 <reason>`.
//!
//! Owns: those calls. Must not reach anything but 127.0.0.1.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use smol::future::FutureExt as _;

use crate::core::Reply;
use crate::core::{Context, Message, Module, ModuleError, ModuleFuture};
use crate::proto::servicebus::{hop_by_hop, HttpRequest, HttpResponse};

pub const NAME: &str = super::names::SERVICEBUS;

pub struct ServiceBus {
    timeout: Duration,
    max_body: usize,
}

impl ServiceBus {
    pub fn new(timeout: Duration, max_body: usize) -> ServiceBus {
        ServiceBus { timeout, max_body }
    }
}

impl Module for ServiceBus {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            let ex = smol::LocalExecutor::new();
            let (timeout, max_body) = (self.timeout, self.max_body);
            ex.run(async {
                while let Some(m) = ctx.recv().await {
                    if m.operation != "request" {
                        continue;
                    }
                    let router = ctx.router.clone();
                    ex.spawn(async move {
                        let reply = answer(&m, timeout, max_body).await;
                        if let Err(e) = router.respond(NAME, &m, reply) {
                            log::warn!(target: NAME, "reply not delivered: {e}");
                        }
                    })
                    .detach();
                }
            })
            .await;
            Ok::<(), ModuleError>(())
        })
    }
}

async fn answer(m: &Message, timeout: Duration, max_body: usize) -> Vec<u8> {
    let req: HttpRequest = match crate::store::from_bytes(&m.content) {
        Ok(r) => r,
        Err(e) => return Reply::Error(format!("502 bad request from the cloud: {e}")).encode(),
    };
    let what = format!("{} 127.0.0.1:{}{}", req.method, req.port, req.path);
    let call = async { Some(call(&req, max_body).await) };
    let late = async {
        smol::Timer::after(timeout).await;
        None
    };
    match call.or(late).await {
        Some(Ok(r)) => {
            log::debug!(target: NAME, "{what}: {}", r.status);
            crate::store::to_bytes(&r)
        }
        Some(Err(e)) => {
            log::info!(target: NAME, "{what}: {e}");
            Reply::error(e)
        }
        None => {
            log::info!(target: NAME, "{what}: no answer within {} ms", timeout.as_millis());
            Reply::Error(format!("504 the app on 127.0.0.1:{} did not answer within {} ms", req.port, timeout.as_millis())).encode()
        }
    }
}

async fn call(req: &HttpRequest, max_body: usize) -> Result<HttpResponse, String> {
    if req.body.len() > max_body {
        return Err(format!("413 request body of {} bytes is over the {max_body}-byte cap", req.body.len()));
    }
    let tcp = smol::net::TcpStream::connect(("127.0.0.1", req.port)).await.map_err(|e| format!("502 cannot reach 127.0.0.1:{}: {e}", req.port))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(smol_hyper::rt::FuturesIo::new(tcp)).await.map_err(|e| format!("502 HTTP: {e}"))?;
    // Drives the connection; once it ends, the exchange below reports the outcome.
    let driver = async move {
        let _ = conn.await;
        std::future::pending::<Option<Result<HttpResponse, String>>>().await
    };
    let mut b = hyper::Request::builder().method(req.method.as_str()).uri(req.path.as_str()).header("host", format!("127.0.0.1:{}", req.port));
    for (k, v) in &req.headers {
        if !hop_by_hop(k) {
            b = b.header(k.as_str(), v.as_slice());
        }
    }
    let request = b.body(Full::new(Bytes::from(req.body.clone()))).map_err(|e| format!("502 bad request: {e}"))?;
    let exchange = async {
        let resp = sender.send_request(request).await.map_err(|e| format!("502 the app failed: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().iter().filter(|(k, _)| !hop_by_hop(k.as_str())).map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec())).collect();
        let body =
            Limited::new(resp.into_body(), max_body).collect().await.map_err(|e| format!("502 response body: {e} (cap {max_body} bytes)"))?.to_bytes().to_vec();
        Ok(HttpResponse { status, headers, body })
    };
    async { Some(exchange.await) }.or(driver).await.unwrap_or_else(|| Err("502 the app closed the connection".into()))
}
