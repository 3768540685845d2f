//! The tunnel over QUIC: the edge opens one bidirectional stream and both
//! sides run the websocket framing on it (no HTTP upgrade: the ALPN
//! `hive-tunnel/1` already says what the connection is for). Frames,
//! handshake and reliability are the websocket transport's; QUIC adds loss
//! recovery without head-of-line stalls across connections, and keeps a
//! session through an address change (migration).
//!
//! Owns: the stream wrapper, the ALPN and the transport parameters. Must
//! not know sessions, nodes or certificates.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::Role;
use smol::io::{AsyncRead, AsyncWrite};

use super::link::{Conn, Link};

/// What a hive tunnel connection says it is at the TLS handshake; anything
/// else (or nothing) is refused there.
pub const ALPN: &[u8] = b"hive-tunnel/1";

/// Application close codes.
pub const CLOSE_NORMAL: u32 = 0;
pub const CLOSE_POLICY: u32 = 1;

/// Tuning for cellular links and small boards.
pub struct Tuning {
    /// The connection is dropped after this long without a packet.
    pub idle: Duration,
    /// Send a PING when quiet this long (the edge: under ~30 s NAT bindings).
    pub keep_alive: Option<Duration>,
    /// Bidirectional streams the peer may open (the cloud: 1, the edge: 0).
    pub peer_streams: u32,
    /// Largest frame: the stream's receive window holds at least one.
    pub max_frame: usize,
}

/// QUIC transport parameters from `t`. Flow-control windows are limits, not
/// allocations: a quiet connection costs little.
pub fn transport(t: &Tuning) -> Arc<quinn::TransportConfig> {
    let mut c = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(t.idle).unwrap_or_else(|_| quinn::IdleTimeout::from(quinn::VarInt::from_u32(40_000)));
    let window = (t.max_frame as u64 + 64 * 1024).clamp(256 * 1024, 16 << 20);
    let varint = |n: u64| quinn::VarInt::from_u64(n).unwrap_or(quinn::VarInt::from_u32(1 << 20));
    c.max_idle_timeout(Some(idle))
        .keep_alive_interval(t.keep_alive)
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(t.peer_streams))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .stream_receive_window(varint(window))
        .receive_window(varint(window * 2))
        .send_window(window * 2)
        .datagram_receive_buffer_size(None);
    Arc::new(c)
}

/// One QUIC stream as a byte stream. Holds its connection: the connection
/// closes when the last handle goes.
pub struct QuicStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    conn: quinn::Connection,
}

impl QuicStream {
    pub fn new(conn: quinn::Connection, send: quinn::SendStream, recv: quinn::RecvStream) -> QuicStream {
        QuicStream { send, recv, conn }
    }

    /// The websocket framing on this stream (`server`: the cloud's side).
    pub fn into_link(self, server: bool, max_frame: usize) -> Link {
        let role = if server { Role::Server } else { Role::Client };
        let conn: Conn = Box::new(self);
        // from_raw_socket is async only in name: it does no I/O.
        smol::future::block_on(async_tungstenite::WebSocketStream::from_raw_socket(conn, role, Some(super::ws::ws_config(max_frame))))
    }
}

impl Drop for QuicStream {
    fn drop(&mut self) {
        // Let what was written (a close frame) go out before the connection closes.
        let _ = self.send.finish();
        self.conn.close(quinn::VarInt::from_u32(CLOSE_NORMAL), b"tunnel closed");
    }
}

impl QuicStream {
    /// A stream error says only "connection lost"; the connection knows
    /// why (a TLS alert such as CertificateRevoked, the peer's reason).
    fn why<T>(&self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match (r, self.conn.close_reason()) {
            (Poll::Ready(Err(e)), Some(reason)) => Poll::Ready(Err(io::Error::new(e.kind(), describe(&reason)))),
            (r, _) => r,
        }
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let r = AsyncRead::poll_read(Pin::new(&mut self.recv), cx, buf);
        self.why(r)
    }
}

impl AsyncWrite for QuicStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = AsyncWrite::poll_write(Pin::new(&mut self.send), cx, buf);
        self.why(r)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = AsyncWrite::poll_flush(Pin::new(&mut self.send), cx);
        self.why(r)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = AsyncWrite::poll_close(Pin::new(&mut self.send), cx);
        self.why(r)
    }
}

/// A connection error in words `rotate::diagnose` and logs understand: a
/// TLS alert from the peer names it (CertificateRevoked, …).
pub fn describe(e: &quinn::ConnectionError) -> String {
    let code = match e {
        quinn::ConnectionError::TransportError(t) => Some(u64::from(t.code)),
        quinn::ConnectionError::ConnectionClosed(c) => Some(u64::from(c.error_code)),
        _ => None,
    };
    match code {
        Some(c) if (0x100..0x200).contains(&c) => format!("TLS alert {:?}: {e}", rustls::AlertDescription::from((c - 0x100) as u8)),
        _ => e.to_string(),
    }
}
