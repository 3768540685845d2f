//! CloudHub's websocket transport: TLS over TCP (the client certificate
//! names the node), then the upgrade on the tunnel's path only, then Hello.
//!
//! Owns: that handshake. Must not run sessions (connection.rs does).

use std::net::SocketAddr;
use std::rc::Rc;

use futures_rustls::TlsAcceptor;
use smol::net::TcpStream;

use super::Hub;
use crate::proto::link::Conn;
use crate::proto::{ws, TUNNEL_PATH};

impl Hub {
    /// One connection from TLS handshake to close.
    pub(super) async fn serve(self: Rc<Self>, acceptor: TlsAcceptor, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let hub = self.clone();
        let handshake = async move {
            let tls = acceptor.accept(tcp).await.map_err(|e| format!("TLS handshake: {e}"))?;
            let der = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).cloned().ok_or_else(|| "no client certificate".to_string())?;
            let (node, serial) = hub.identify(&der)?;
            // Only the tunnel's own path is upgraded; anything else is a 404.
            #[allow(clippy::result_large_err)] // tungstenite's callback type
            let only_tunnel = |req: &async_tungstenite::tungstenite::handshake::server::Request, resp| {
                if req.uri().path() == TUNNEL_PATH {
                    Ok(resp)
                } else {
                    let mut r = async_tungstenite::tungstenite::handshake::server::ErrorResponse::new(Some(format!(
                        "no tunnel at {}; edges connect to {TUNNEL_PATH}",
                        req.uri().path()
                    )));
                    *r.status_mut() = async_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
                    Err(r)
                }
            };
            let conn: Conn = Box::new(tls);
            let mut wsock = async_tungstenite::accept_hdr_async_with_config(conn, only_tunnel, Some(ws::ws_config(hub.max_frame())))
                .await
                .map_err(|e| format!("node {node}: websocket upgrade: {e}"))?;
            let hello = hub.hello(&mut wsock, &node).await?;
            Ok((node, serial, hello, wsock))
        };
        self.accept(handshake, peer).await;
    }
}
