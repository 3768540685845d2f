//! What crosses the cloud ⇄ edge tunnel: frames (frame.rs) and ServiceBus
//! messages (servicebus.rs) are plain data with no I/O, and stream.rs
//! multiplexes streams over a connection's frames; ws.rs carries
//! frames over a websocket; link.rs names the byte stream under it (TLS
//! over TCP, or a QUIC stream from quic.rs). ws.rs and quic.rs are the only
//! files here that do I/O.

pub mod frame;
pub mod link;
#[cfg(feature = "quic")]
pub mod quic;
pub mod servicebus;
pub mod stream;
pub mod ws;

#[cfg(test)]
mod fuzz_tests;

/// The websocket path of the cloud ⇄ edge tunnel.
pub const TUNNEL_PATH: &str = "/hive/v1/tunnel";

pub use frame::{decode, encode, Frame, FrameError, Hello, ObjectChange, Welcome, PROTOCOL_VERSION};
