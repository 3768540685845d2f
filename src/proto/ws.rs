//! Frames over a websocket: the one piece of `proto` that does I/O.
//!
//! Owns: turning websocket messages into `Frame`s and back, with the size
//! cap, and the websocket limits. Must not know sessions or routing.

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt as _;
use smol::io::{AsyncRead, AsyncWrite};

use super::frame::{decode, encode, Frame};

/// Websocket limits matching the frame cap (plus a little for framing), and
/// small buffers: tungstenite's defaults (128 KiB each way) would cost the
/// cloud a quarter MiB per idle node.
pub fn ws_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(max_frame + 64)).max_frame_size(Some(max_frame + 64)).read_buffer_size(4096).write_buffer_size(0)
}

/// What reading the socket produced.
pub enum Incoming {
    Frame(Frame),
    /// A ping, pong or other control traffic: the peer is alive.
    Alive,
    /// The peer closed or the connection ended.
    Closed(String),
    /// The peer sent something we refuse; the connection must be closed.
    Bad(String),
}

/// Read the next thing from the socket.
pub async fn recv<S>(ws: &mut WebSocketStream<S>, cap: usize) -> Incoming
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match ws.next().await {
        None => Incoming::Closed("connection ended".into()),
        Some(Err(e)) => {
            let s = e.to_string();
            if s.contains("Space limit exceeded") || s.contains("too long") || s.contains("Capacity") {
                Incoming::Bad(format!("oversize message: {s}"))
            } else {
                Incoming::Closed(s)
            }
        }
        Some(Ok(WsMessage::Binary(b))) => match decode(&b, cap) {
            Ok(f) => Incoming::Frame(f),
            Err(e) => Incoming::Bad(e.to_string()),
        },
        Some(Ok(WsMessage::Close(c))) => {
            // tungstenite has queued the closing handshake's reply: send it now.
            let _ = futures_util::SinkExt::flush(ws).await;
            Incoming::Closed(c.map(|c| format!("closed by peer: {} {}", u16::from(c.code), c.reason)).unwrap_or_else(|| "closed by peer".into()))
        }
        Some(Ok(WsMessage::Text(_))) => Incoming::Bad("text message on a binary tunnel".into()),
        Some(Ok(_)) => Incoming::Alive,
    }
}

/// Send one frame.
pub async fn send<S>(ws: &mut WebSocketStream<S>, frame: &Frame, cap: usize) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let bytes = encode(frame, cap).map_err(|e| e.to_string())?;
    ws.send(WsMessage::Binary(bytes.into())).await.map_err(|e| e.to_string())
}

/// Send a ping (keepalive).
pub async fn ping<S>(ws: &mut WebSocketStream<S>) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(WsMessage::Ping(Vec::new().into())).await.map_err(|e| e.to_string())
}

/// Close with a reason the peer can log; errors are ignored (we are leaving).
pub async fn close<S>(ws: &mut WebSocketStream<S>, policy: bool, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let code = if policy { CloseCode::Policy } else { CloseCode::Normal };
    let reason: String = reason.chars().take(120).collect();
    let _ = ws.close(Some(CloseFrame { code, reason: reason.into() })).await;
    // The closing handshake: read what the peer sent meanwhile until its
    // close (at most 500 ms). Closing a TCP socket with unread data makes the
    // kernel send a reset, and a reset can discard our close frame, reason
    // and all, before the peer reads it.
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    let deadline = async {
        smol::Timer::after(std::time::Duration::from_millis(500)).await;
    };
    smol::future::or(drain, deadline).await;
}
