//! ServiceBus messages: an HTTP request the cloud API forwards to an app
//! on an edge (`127.0.0.1:<port>`), and its response, as bincode in the
//! content of a tunnel message (cloud: resource `node/<n>/servicebus`,
//! operation `request`, group `servicebus`). An edge that cannot answer
//! replies `error: <code> <reason>` (502 unreachable, 504 timed out, 413 too big).
//!
//! Owns: those two shapes. Must not do I/O.

#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct HttpRequest {
    pub method: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Headers that describe one hop, never forwarded.
pub fn hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "authorization"
            | "content-length"
    )
}
