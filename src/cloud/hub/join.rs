//! The join endpoint (KubeEdge's CloudHub certificate server, port 10002):
//! HTTPS with the cloud's server certificate and no client certificate.
//! - `GET /ca.crt`: the CA, for the edge to check against its pin before
//!   it sends anything secret;
//! - `POST /join` `{"token", "nodeName", "csr"}` → `{"certificate", "ca"}`:
//!   a bootstrap token (../../bootstrap) and a request made on the edge
//!   become a node certificate (CN `node:<name>`), recorded in the
//!   registry (certs.rs). Refusals are `Status` JSON naming the reason;
//!   more than `MAX_FAILURES` failed attempts from one address (an IPv6
//!   /64) within `WINDOW` are answered 429 until it passes, others are
//!   still served.
//!
//! A name is taken while it holds a live certificate and its Node exists;
//! a name that joined but never connected (the answer was lost) may join
//! again, its earlier certificates revoked. A revoked name joins again
//! only with a token created after the revocation (the board's old
//! firmware token cannot bring it back).
//!
//! Owns: that endpoint and its rate limit. Must not touch sessions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::certs::CertRegistry;
use super::NAME;
use crate::cloud::bootstrap;
use crate::cloud::store::Store;
use crate::http::{self, Body};
use crate::kube::unix_now;
use crate::tls::CertAuthority;

pub const MAX_FAILURES: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
const MAX_BODY: usize = 64 << 10;

pub struct Join {
    pub store: Arc<dyn Store + Send + Sync>,
    pub ca: Rc<CertAuthority>,
    pub registry: CertRegistry,
    pub lifetime_s: u64,
    failures: RefCell<HashMap<IpAddr, Vec<Instant>>>,
    /// When the failure table was last pruned.
    pruned: std::cell::Cell<Option<Instant>>,
}

/// The address failures are counted against: IPv4 as is, IPv6 by /64.
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

type Refusal = (StatusCode, &'static str, String);

impl Join {
    pub fn new(store: Arc<dyn Store + Send + Sync>, ca: Rc<CertAuthority>, registry: CertRegistry, lifetime_s: u64) -> Join {
        Join { store, ca, registry, lifetime_s, failures: RefCell::default(), pruned: Default::default() }
    }

    /// How long `ip` must wait, if it is over the limit (and whether this is
    /// the first refusal of its window, to log once).
    fn limited(&self, ip: IpAddr) -> Option<(Duration, bool)> {
        let mut f = self.failures.borrow_mut();
        let list = f.get_mut(&source(ip))?;
        list.retain(|t| t.elapsed() < WINDOW);
        if list.len() < MAX_FAILURES {
            return None;
        }
        let first = list.len() == MAX_FAILURES;
        if first {
            list.push(Instant::now()); // marks "logged"; the window still runs from the oldest
        }
        Some((WINDOW.saturating_sub(list[0].elapsed()), first))
    }

    fn failed(&self, ip: IpAddr) {
        let mut f = self.failures.borrow_mut();
        // Old entries go at most once a second, so a flood costs no more.
        if self.pruned.get().is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            f.retain(|_, l| l.last().is_some_and(|t| t.elapsed() < WINDOW));
            self.pruned.set(Some(Instant::now()));
        }
        if f.len() < 100_000 {
            f.entry(source(ip)).or_default().push(Instant::now());
        }
    }

    pub async fn serve(self: Rc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/ca.crt") => http::bytes(StatusCode::OK, "application/x-pem-file", self.ca.cert_pem.clone()),
            (&Method::POST, "/join") => {
                if let Some((wait, first)) = self.limited(peer.ip()) {
                    if first {
                        log::warn!(target: NAME, "join from {peer}: refused for {} s, {MAX_FAILURES} failed attempts within {} s", wait.as_secs() + 1, WINDOW.as_secs());
                    }
                    let msg = format!("too many failed join attempts from {}; try again in {} s", peer.ip(), wait.as_secs() + 1);
                    return http::status(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", &msg);
                }
                match self.join(req, peer).await {
                    Ok(r) => r,
                    Err((code, reason, msg)) => {
                        log::warn!(target: NAME, "join from {peer} refused: {msg}");
                        self.failed(peer.ip());
                        http::status(code, reason, &msg)
                    }
                }
            }
            _ => http::status(StatusCode::NOT_FOUND, "NotFound", "the join endpoint serves GET /ca.crt and POST /join"),
        }
    }

    async fn join(&self, req: Request<Incoming>, peer: SocketAddr) -> Result<Response<Body>, Refusal> {
        let bad = |m: String| (StatusCode::BAD_REQUEST, "BadRequest", m);
        let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| bad(format!("request body: {e} (at most {MAX_BODY} bytes)")))?;
        let v: serde_json::Value = serde_json::from_slice(&body.to_bytes()).map_err(|e| bad(format!("request body is not JSON: {e}")))?;
        let field = |k: &str| v[k].as_str().ok_or_else(|| bad(format!("field `{k}` (a string) is missing")));
        let (token, node, csr) = (field("token")?, field("nodeName")?, field("csr")?);
        let refused = |e: bootstrap::Refused| match e {
            bootstrap::Refused::Store(m) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", m),
            other => (StatusCode::UNAUTHORIZED, "Unauthorized", other.to_string()),
        };
        let token_ok = bootstrap::check(&*self.store, token, unix_now(), false).map_err(refused)?;
        crate::tls::check_node_name(node).map_err(|e| bad(e.to_string()))?;
        let conflict = |m: String| (StatusCode::CONFLICT, "AlreadyExists", m);
        let io = |e: crate::store::DbError| (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string());
        let exists = self.store.get(&format!("nodes/{node}")).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()))?.is_some();
        let live = self.registry.has_live(node).map_err(io)?;
        if live && exists {
            return Err(conflict(format!(
                "node {node} has already joined and holds a valid certificate; delete it first (kubectl delete node {node}) or join under another --node-name"
            )));
        }
        if exists && !self.registry.knows(node).map_err(io)? {
            return Err(conflict(format!("node {node} exists with a certificate made by hand (hive cert node); delete it first (kubectl delete node {node}) or join under another --node-name")));
        }
        if let Some(at) = self.registry.revoked_at(node) {
            if token_ok.created.is_none_or(|c| c <= at) {
                let when = crate::kube::rfc3339(at, None).unwrap_or_default();
                return Err((
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!("node {node} was revoked at {when}; it joins again only with a token created after that (hive token create)"),
                ));
            }
        }
        let lifetime = self.lifetime_s.min(i64::MAX as u64) as i64;
        let (cert, serial) = self.ca.sign_node_csr(node, csr, lifetime).map_err(|e| bad(e.to_string()))?;
        let id = bootstrap::check(&*self.store, token, unix_now(), true).map_err(refused)?.id;
        if live {
            // Joined before but never connected (its answer was lost): that one no longer counts.
            self.registry.supersede(node).map_err(io)?;
            log::warn!(target: NAME, "node {node} joins again before ever connecting; its earlier certificates are revoked");
        }
        self.registry.record(node, &serial, unix_now() + lifetime).map_err(io)?;
        log::info!(target: NAME, "node {node} joined from {peer} with bootstrap token {id} (certificate valid {lifetime} s)");
        let body = serde_json::json!({"certificate": cert, "ca": self.ca.cert_pem});
        Ok(http::json(StatusCode::OK, body.to_string()))
    }
}
