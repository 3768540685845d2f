//! How EdgeHub reaches CloudHub (`edgehub.transport`): `websocket` is TCP,
//! TLS with the node certificate, and the upgrade on the tunnel's path;
//! `quic` is a QUIC connection (UDP, the same TLS identity, ALPN
//! `hive-tunnel/1`) whose first stream carries the same websocket framing.
//! Either way the result is a `Link`, and everything above is shared.
//!
//! QUIC tuning for cellular links: a keep-alive every 10 s keeps the
//! board's NAT binding (typically ~30 s for UDP) open, and a connection
//! quiet for 3 ping intervals is given up, as over websocket.
//!
//! Owns: dialing. Must not speak frames beyond the handshake's bytes.

use std::sync::Arc;

use futures_rustls::TlsConnector;
use smol::net::TcpStream;

use crate::config::{EdgeHubConfig, Transport};
use crate::proto::link::{Conn, Link};
use crate::proto::ws;
use crate::tls;

/// What dials the cloud, built from the node's TLS config (again after a
/// rotation or a join).
pub enum Dialer {
    Ws(TlsConnector),
    #[cfg(feature = "quic")]
    Quic(quinn::ClientConfig),
}

impl Dialer {
    pub fn new(cfg: &EdgeHubConfig, tls: Arc<rustls::ClientConfig>) -> Result<Dialer, String> {
        match cfg.transport {
            Transport::Websocket => Ok(Dialer::Ws(TlsConnector::from(tls))),
            #[cfg(feature = "quic")]
            Transport::Quic => {
                let tuning = crate::proto::quic::Tuning {
                    idle: std::time::Duration::from_secs(cfg.ping_interval_s.saturating_mul(3)),
                    keep_alive: Some(std::time::Duration::from_secs(cfg.ping_interval_s.min(10))),
                    peer_streams: 0,
                    max_frame: cfg.max_frame_bytes,
                };
                Ok(Dialer::Quic(tls::quic::client(&tls, &tuning).map_err(|e| e.to_string())?))
            }
            #[cfg(not(feature = "quic"))]
            Transport::Quic => Err(crate::features::missing("the QUIC transport", "quic")),
        }
    }

    /// Where this dials, for logs: `wss://host:port` or `quic://host:port`.
    pub fn target(&self, cfg: &EdgeHubConfig) -> String {
        match self {
            Dialer::Ws(_) => format!("wss://{}", cfg.server),
            #[cfg(feature = "quic")]
            Dialer::Quic(_) => format!("quic://{}", cfg.quic_addr()),
        }
    }

    /// A tunnel to the cloud, ready for Hello.
    pub async fn dial(&self, cfg: &EdgeHubConfig) -> Result<Link, String> {
        match self {
            Dialer::Ws(connector) => {
                let server = &cfg.server;
                let tcp = TcpStream::connect((server.host.as_str(), server.port)).await.map_err(|e| format!("TCP: {e}"))?;
                let _ = tcp.set_nodelay(true);
                let name = tls::server_name(&server.host).map_err(|e| e.to_string())?;
                let tls = connector.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
                let conn: Conn = Box::new(tls);
                let url = format!("wss://{server}{}", crate::proto::TUNNEL_PATH);
                let (link, _) = async_tungstenite::client_async_with_config(url, conn, Some(ws::ws_config(cfg.max_frame_bytes)))
                    .await
                    .map_err(|e| format!("websocket: {e}"))?;
                Ok(link)
            }
            #[cfg(feature = "quic")]
            Dialer::Quic(client) => {
                use crate::proto::quic::{describe, QuicStream};
                let server = cfg.quic_addr();
                let addr = smol::net::resolve((server.host.as_str(), server.port))
                    .await
                    .map_err(|e| format!("{server}: {e}"))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("{server}: no address"))?;
                let local: std::net::SocketAddr =
                    if addr.is_ipv6() { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { (std::net::Ipv4Addr::UNSPECIFIED, 0).into() };
                // One UDP socket per connection: a reconnect starts clean.
                let endpoint = quinn::Endpoint::client(local).map_err(|e| format!("UDP socket: {e}"))?;
                let connecting = endpoint.connect_with(client.clone(), addr, &server.host).map_err(|e| format!("QUIC: {e}"))?;
                let conn = connecting.await.map_err(|e| format!("QUIC: {}", describe(&e)))?;
                let (send, recv) = conn.open_bi().await.map_err(|e| format!("QUIC stream: {}", describe(&e)))?;
                Ok(QuicStream::new(conn, send, recv).into_link(false, cfg.max_frame_bytes))
            }
        }
    }
}
