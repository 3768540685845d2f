//! One tunnel connection, whichever the transport: what every handshake
//! shares (the node from its certificate, the revocation check, Hello, the
//! time limit), then the twin-certificate refusal, the node's session
//! bookkeeping, Welcome, the steady-state session (session.rs) and the close.
//!
//! Owns: that sequence. Must not do a transport's own handshake
//! (websocket.rs: TLS over TCP and the upgrade; quic.rs: QUIC).

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::nodes::{self, NodeReady};
use super::{Hub, NAME};
use crate::cloud::metrics;
use crate::core::timeout;
use crate::proto::link::Link;
use crate::proto::ws::{self, Incoming};
use crate::proto::{Frame, Hello, Welcome};
use crate::tls;

impl Hub {
    /// The node a verified client certificate names, and its serial (hex).
    /// Checked again here (the handshake did): never a session for a
    /// revoked certificate.
    pub(super) fn identify(&self, der: &CertificateDer<'_>) -> Result<(String, String), String> {
        let node = tls::node_name_of(der).map_err(|e| e.to_string())?;
        let fields = tls::cert_fields(der.as_ref()).map_err(|e| format!("node {node}: certificate: {e}"))?;
        if self.registry.is_revoked(&node, fields.serial, fields.not_before) {
            return Err(format!("node {node}: certificate revoked"));
        }
        Ok((node, tls::hex(fields.serial)))
    }

    /// The edge's first frame, which must be Hello.
    pub(super) async fn hello(&self, wsock: &mut Link, node: &str) -> Result<Hello, String> {
        match ws::recv(wsock, self.max_frame()).await {
            Incoming::Frame(Frame::Hello(h)) => Ok(h),
            Incoming::Frame(_) => Err(format!("node {node}: first frame was not Hello")),
            Incoming::Bad(why) => {
                ws::close(wsock, true, &why).await;
                Err(format!("node {node}: {why}"))
            }
            Incoming::Alive | Incoming::Closed(_) => Err(format!("node {node}: closed before Hello")),
        }
    }

    /// Give a transport's `handshake` (node, serial, Hello, link) its time
    /// limit, count and log a refusal, and run what it accepted.
    pub(super) async fn accept<F>(self: Rc<Self>, handshake: F, peer: SocketAddr)
    where
        F: Future<Output = Result<(String, String, Hello, Link), String>>,
    {
        let (node, serial, hello, wsock) = match timeout(Duration::from_millis(self.cfg.handshake_timeout_ms), handshake).await {
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                metrics::CONNECTIONS_REFUSED.inc();
                log::warn!(target: NAME, "refused connection from {peer}: {e}");
                return;
            }
            None => {
                metrics::CONNECTIONS_REFUSED.inc();
                log::warn!(target: NAME, "refused connection from {peer}: handshake not done within {} ms", self.cfg.handshake_timeout_ms);
                return;
            }
        };
        self.run(node, serial, hello, wsock, peer).await;
    }

    /// Serve an identified node's connection until it ends.
    async fn run(self: Rc<Self>, node: String, serial: String, hello: Hello, mut wsock: Link, peer: SocketAddr) {
        let up_applied = match self.sync.up_applied(&node) {
            Ok(n) => n,
            Err(e) => {
                log::error!(target: NAME, "node {node}: {e}");
                ws::close(&mut wsock, false, "cloud storage error").await;
                return;
            }
        };
        let Hello { hive_version, arch, inventory } = hello;
        let twin = self.nodes.borrow_mut().refuse_twin(&node);
        if let Some(log) = twin {
            metrics::CONNECTIONS_REFUSED.inc();
            if log {
                log::error!(target: NAME, "node {node}: refusing a connection from {peer}: its live session was taken over {} times within {} s, so two edges seem to use the certificate of node {node}; give each edge its own (hive cert node NAME)", nodes::MAX_TAKEOVERS, nodes::TAKEOVER_WINDOW.as_secs());
            }
            ws::close(&mut wsock, true, &format!("node {node} is connected from elsewhere with the same certificate")).await;
            return;
        }
        let (ends, was_not_ready, replaced) = self.nodes.borrow_mut().connect(&node, &hive_version, &arch, self.cfg.node_queue);
        metrics::SESSIONS_OPENED.inc();
        if replaced {
            metrics::SESSIONS_REPLACED.inc();
            log::warn!(target: NAME, "node {node}: new connection from {peer} replaces the existing session");
        }
        log::info!(target: NAME, "node {node} connected from {peer} (hive {hive_version}, {arch}, holds {} objects, certificate serial {serial})", inventory.len());
        if was_not_ready {
            self.status_changed(&node, NodeReady::Ready, &hive_version, &arch);
        }
        let generation = ends.generation;
        let (stream_tx, stream_rx) = smol::channel::unbounded();
        let table = self.streams.attach(&node, generation, stream_tx, self.max_frame());
        let welcome = Frame::Welcome(Welcome { hive_version: env!("CARGO_PKG_VERSION").into(), node: node.clone(), up_applied });
        let why = match ws::send(&mut wsock, &welcome, self.max_frame()).await {
            Ok(()) => self.session(&node, &mut wsock, ends, (stream_rx, table), inventory).await,
            Err(e) => Err(e),
        };
        let reason = match &why {
            Ok(r) | Err(r) => r.clone(),
        };
        metrics::SESSIONS_CLOSED.inc(&[metrics::close_reason(why.is_ok(), &reason)]);
        self.streams.detach(&node, generation, &format!("the tunnel to node {node} closed ({reason})"));
        match why {
            Ok(reason) => log::info!(target: NAME, "node {node} disconnected ({peer}): {reason}"),
            Err(reason) => {
                log::warn!(target: NAME, "node {node} ({peer}): closing: {reason}");
                ws::close(&mut wsock, true, &reason).await;
            }
        }
        self.nodes.borrow_mut().disconnect(&node, generation);
    }
}
