//! CloudHub's QUIC transport (`cloudhub.quic_listen`, UDP 10001 by
//! default): the same mutual TLS (ALPN `hive-tunnel/1`, TLS 1.3), then the
//! edge's first bidirectional stream carries the tunnel exactly as a
//! websocket does. A connection that moves to another address (a board's
//! NAT mapping or uplink changed) keeps its session: QUIC migrates it.
//!
//! Owns: the UDP endpoint, its accept loop and the QUIC handshake. Must not
//! run sessions (connection.rs does).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use smol::LocalExecutor;

use super::{Hub, NAME};
use crate::proto::quic::{describe, QuicStream, Tuning};

/// Bind the QUIC endpoint at `addr` with the tunnel's TLS config.
pub fn bind(hub_tls: &Arc<rustls::ServerConfig>, addr: SocketAddr, node_timeout: Duration, max_frame: usize) -> Result<quinn::Endpoint, String> {
    // The cloud sends no keep-alives: each edge does (its NAT binding is its own).
    let tuning = Tuning { idle: node_timeout, keep_alive: None, peer_streams: 1, max_frame };
    let cfg = crate::tls::quic::server(hub_tls, &tuning).map_err(|e| e.to_string())?;
    quinn::Endpoint::server(cfg, addr).map_err(|e| format!("cannot listen on UDP {addr} for QUIC (set cloudhub.quic_listen, or quic = false): {e}"))
}

/// Accept QUIC connections until the endpoint closes.
pub async fn accept_loop(hub: Rc<Hub>, endpoint: quinn::Endpoint, ex: &LocalExecutor<'_>) {
    while let Some(incoming) = endpoint.accept().await {
        let hub = hub.clone();
        ex.spawn(async move { hub.serve_quic(incoming).await }).detach();
    }
    log::warn!(target: NAME, "the QUIC endpoint closed");
}

impl Hub {
    /// One QUIC connection from handshake to close.
    async fn serve_quic(self: Rc<Self>, incoming: quinn::Incoming) {
        let peer = incoming.remote_address();
        let hub = self.clone();
        let handshake = async move {
            let conn = incoming.await.map_err(|e| format!("QUIC handshake: {}", describe(&e)))?;
            let der = conn
                .peer_identity()
                .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
                .and_then(|certs| certs.first().cloned())
                .ok_or_else(|| "no client certificate".to_string())?;
            let (node, serial) = hub.identify(&der)?;
            let (send, recv) = conn.accept_bi().await.map_err(|e| format!("node {node}: no tunnel stream: {}", describe(&e)))?;
            let mut wsock = QuicStream::new(conn, send, recv).into_link(true, hub.max_frame());
            let hello = hub.hello(&mut wsock, &node).await?;
            Ok((node, serial, hello, wsock))
        };
        self.accept(handshake, peer).await;
    }
}
