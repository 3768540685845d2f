//! The byte stream a tunnel's websocket runs on. Over TCP it is TLS; over
//! QUIC it is the connection's first bidirectional stream (quic.rs). Above
//! this, both transports are one code path: the same websocket framing,
//! frames, handshake and reliability rules.
//!
//! Owns: that boxed stream type. Must not know frames or sessions.

use smol::io::{AsyncRead, AsyncWrite};

/// Anything a tunnel can run on.
pub trait Duplex: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Duplex for T {}

/// A tunnel's byte stream, whichever the transport.
pub type Conn = Box<dyn Duplex>;

/// A tunnel: websocket framing on a `Conn`.
pub type Link = async_tungstenite::WebSocketStream<Conn>;
