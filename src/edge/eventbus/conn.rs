//! One device client's socket: MQTT packets read through rumqttc's codec
//! (a packet larger than the session's limit is an error, not a buffer that
//! grows), and writes that must complete within a deadline — a client that
//! stops taking what it is sent is given up, never waited for.
//!
//! Owns: the byte I/O of a session. Must not interpret packets.

use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{self as mqtt, ConnAck, ConnectReturnCode, Packet};
use rumqttc::mqttbytes::Error as CodecError;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

/// A client that does not take what it is sent for this long is dropped
/// (when it set no keep-alive of its own).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Conn {
    pub tcp: TcpStream,
    pub buf: BytesMut,
    /// Largest packet accepted, bytes.
    pub max: usize,
}

impl Conn {
    pub async fn read(&mut self) -> Result<Packet, String> {
        loop {
            match mqtt::read(&mut self.buf, self.max) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(_)) => {}
                Err(e) => return Err(format!("bad MQTT packet: {e}")),
            }
            let mut chunk = [0u8; 4096];
            let n = self.tcp.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Write one packet; a client that does not take it within WRITE_TIMEOUT
/// is given up (its session ends, its slot comes free).
pub async fn send(tcp: &mut TcpStream, limit: Duration, write: impl FnOnce(&mut BytesMut) -> Result<usize, CodecError>) -> Result<(), String> {
    let mut out = BytesMut::new();
    write(&mut out).map_err(|e| format!("encode: {e}"))?;
    write_within(tcp, &out, limit).await
}

pub async fn write_within(tcp: &mut TcpStream, bytes: &[u8], limit: Duration) -> Result<(), String> {
    match crate::core::timeout(limit, tcp.write_all(bytes)).await {
        Some(r) => r.map_err(|e| format!("write: {e}")),
        None => Err(format!("not reading what it is sent for {} s", limit.as_secs())),
    }
}

/// Answer CONNECT with a refusal (best effort: the session ends anyway).
pub async fn refuse(out: &TcpStream, code: ConnectReturnCode) {
    let mut o = out.clone();
    let _ = send(&mut o, WRITE_TIMEOUT, |b| ConnAck::new(code, false).write(b)).await;
}
