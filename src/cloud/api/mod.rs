//! The cloud's Kubernetes-style REST API (the apiserver module): kubectl
//! and controllers read and write resources in the `Store` through it.
//!
//! Owns: the listener, bearer-token authentication and the access log.
//! Must not reach into other modules. Paths are parsed in route.rs,
//! objects checked in object.rs, selectors in select.rs, namespaces in
//! namespace.rs, lists in list.rs (pages in page.rs), watches in watch.rs,
//! writes in handlers.rs, protobuf bodies in protobuf/, server-side
//! printing in table/, events.k8s.io views in events_v1.rs, ServiceBus
//! calls in proxy.rs, errors in error.rs, the resource table in
//! resources.rs, tokens in auth.rs, health checks and `/metrics` in
//! health.rs (request metrics in instrument.rs),
//! `kubectl logs` in logs.rs, `exec` and `attach` in exec.rs,
//! `port-forward` in portforward.rs (SPDY in spdy.rs).

pub mod auth;
mod binding;
mod cascade;
pub mod error;
mod events_v1;
mod exec;
pub mod handlers;
mod health;
mod instrument;
mod list;
mod logs;
mod namespace;
mod object;
mod page;
mod patch;
mod portforward;
mod protobuf;
mod proxy;
pub mod resources;
pub mod route;
mod scale;
mod select;
mod spdy;
mod table;
mod watch;
mod workload;

#[cfg(test)]
mod fuzz_tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use smol::future::FutureExt as _;

use crate::cloud::store::Store;
use crate::core::{Context, Module, ModuleError, ModuleFuture};
use crate::http;

pub const NAME: &str = "apiserver";

pub struct ApiServer {
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    limits: http::Limits,
    data_dir: PathBuf,
    server_names: Vec<String>,
    store: Arc<dyn Store + Send + Sync>,
    streams: crate::cloud::stream::Streams,
}

impl ApiServer {
    pub fn new(
        cfg: &crate::config::ApiConfig,
        data_dir: PathBuf,
        server_names: Vec<String>,
        store: Arc<dyn Store + Send + Sync>,
        streams: crate::cloud::stream::Streams,
    ) -> ApiServer {
        let limits = http::Limits { max_connections: cfg.max_connections, header_timeout: std::time::Duration::from_secs(cfg.idle_timeout_s) };
        ApiServer { listen: cfg.listen, metrics_listen: cfg.metrics_listen, limits, data_dir, server_names, store, streams }
    }
}

impl Module for ApiServer {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        "api"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let listener = smol::net::TcpListener::bind(self.listen).await.map_err(|e| ModuleError::new(format!("cannot listen on {}: {e}", self.listen)))?;
            let bound = listener.local_addr().map_err(|e| ModuleError::new(e.to_string()))?;
            // HTTPS with a certificate from the cloud's CA: kubectl sends tokens only over TLS.
            let ca = crate::tls::CertAuthority::load_or_create(&self.data_dir).map_err(ModuleError::new)?;
            let (cert, key) = ca.issue_server(&self.server_names).map_err(ModuleError::new)?;
            let tls = crate::tls::plain_server_config(&cert, &key).map_err(ModuleError::new)?;
            let token = Rc::new(auth::admin_token(&self.data_dir, &bound.to_string(), &ca.cert_pem).map_err(ModuleError::new)?);
            let metrics_listener = match self.metrics_listen {
                Some(a) => {
                    let l = smol::net::TcpListener::bind(a).await.map_err(|e| ModuleError::new(format!("cannot listen on {a} (api.metrics_listen): {e}")))?;
                    log::info!(target: NAME, "metrics on {} (plain HTTP, no authentication: /metrics and health only)", l.local_addr().map(|a| a.to_string()).unwrap_or_default());
                    Some(l)
                }
                None => None,
            };
            namespace::ensure_defaults(&*self.store).map_err(|e| ModuleError::new(format!("creating the default namespaces: {e}")))?;
            log::info!(target: NAME, "listening on {bound} (HTTPS, bearer token)");
            ctx.ready();
            let store = self.store.clone();
            // ServiceBus calls wait for the edge's app (10 s by default) plus the tunnel.
            // Websockets (exec, attach) live on after their upgrade: they run on `ex` below.
            let (spawn, spawned) = smol::channel::unbounded();
            let tunnel =
                Rc::new(proxy::Tunnel { router: ctx.router.clone(), timeout: ctx.request_timeout, max_body: 1 << 20, streams: self.streams.clone(), spawn });
            let router = ctx.router.clone();
            let handler = Rc::new(move |req: Request<Incoming>, peer: SocketAddr| {
                let (store, token, tunnel, router) = (store.clone(), token.clone(), tunnel.clone(), router.clone());
                async move {
                    let started = std::time::Instant::now();
                    let (method, path, query) = (req.method().clone(), req.uri().path().to_string(), req.uri().query().unwrap_or("").to_string());
                    let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    let health = if method == hyper::Method::GET { health::answer(&*store, &router, &path, &query) } else { None };
                    let resp = if let Some(h) = health {
                        h
                    } else if !auth::token_ok(auth, &token) {
                        http::status(StatusCode::UNAUTHORIZED, "Unauthorized", "a valid bearer token is required")
                    } else if let Some(m) = health::metrics(&*store, &router, &path).filter(|_| method == hyper::Method::GET) {
                        m
                    } else {
                        serve(store, &tunnel, req).await.unwrap_or_else(|e| e.response())
                    };
                    instrument::record(&method, &path, &query, resp.status().as_u16(), started);
                    log::debug!(target: NAME, "{method} {path} from {peer}: {}", resp.status().as_u16());
                    resp
                }
            });

            let ex = smol::LocalExecutor::new();
            let serve = http::serve_tls(listener, tls, &ex, handler, NAME, self.limits);
            let stop = async {
                ctx.shutdown.wait().await;
            };
            let upgraded = async {
                while let Ok(job) = spawned.recv().await {
                    ex.spawn(job).detach();
                }
            };
            let (store, router) = (self.store.clone(), ctx.router.clone());
            let metrics = async {
                match metrics_listener {
                    Some(l) => {
                        let handler = Rc::new(move |req: Request<Incoming>, _peer: SocketAddr| {
                            let (store, router) = (store.clone(), router.clone());
                            async move {
                                let (path, query) = (req.uri().path(), req.uri().query().unwrap_or(""));
                                let found = (req.method() == hyper::Method::GET)
                                    .then(|| health::metrics(&*store, &router, path).or_else(|| health::answer(&*store, &router, path, query)))
                                    .flatten();
                                found.unwrap_or_else(|| {
                                    http::status(StatusCode::NOT_FOUND, "NotFound", "this listener serves only GET /metrics, /healthz, /livez and /readyz")
                                })
                            }
                        });
                        http::serve(l, &ex, handler, NAME, self.limits).await
                    }
                    None => std::future::pending().await,
                }
            };
            ex.run(serve.or(stop).or(upgraded).or(metrics)).await;
            Ok(())
        })
    }
}

/// One authenticated request: a ServiceBus call through the tunnel, or the
/// store's REST API.
async fn serve(store: Arc<dyn Store + Send + Sync>, tunnel: &proxy::Tunnel, req: Request<Incoming>) -> Result<hyper::Response<http::Body>, error::ApiError> {
    if let Some(target) = proxy::parse(req.uri().path()) {
        let (node, port, path) = target?;
        return proxy::call(tunnel, &node, port, path, req).await;
    }
    if let Some((ns, pod)) = portforward::parse(req.uri().path()) {
        return portforward::serve(&*store, tunnel, &ns, &pod, req).await;
    }
    if let Some((ns, pod, attach)) = exec::parse(req.uri().path()) {
        return exec::serve(&*store, tunnel, &ns, &pod, attach, req).await;
    }
    if req.method() == hyper::Method::GET {
        if let Some((ns, pod)) = logs::parse(req.uri().path()) {
            return logs::serve(&*store, tunnel, &ns, &pod, req.uri().query().unwrap_or("")).await;
        }
    }
    handlers::handle(store, req).await
}
