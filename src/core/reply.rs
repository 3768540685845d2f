//! The short replies modules answer requests with: `ok`, `stored <seq>` and
//! `error: <reason>`. They cross the tunnel as these exact bytes, so an older
//! edge and a newer cloud still agree; every other reply content is data
//! (an object, a list) that the asking module decodes itself.
//!
//! Owns: that encoding. Must not know which module sends which.

use std::fmt;

/// A reply that is not data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Done.
    Ok,
    /// Durably stored under this outbox sequence number.
    Stored(u64),
    /// Refused or failed, with a reason for a person.
    Error(String),
}

impl Reply {
    /// The bytes on the wire: `ok`, `stored <seq>`, `error: <reason>`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Ok => b"ok".to_vec(),
            Reply::Stored(seq) => format!("stored {seq}").into_bytes(),
            Reply::Error(why) => format!("error: {why}").into_bytes(),
        }
    }

    /// An encoded `Error` reply.
    pub fn error(why: impl fmt::Display) -> Vec<u8> {
        Reply::Error(why.to_string()).encode()
    }

    /// What `content` says, or None when it is data rather than a reply.
    pub fn parse(content: &[u8]) -> Option<Reply> {
        if content == b"ok" {
            return Some(Reply::Ok);
        }
        if let Some(n) = content.strip_prefix(b"stored ") {
            return std::str::from_utf8(n).ok()?.parse().ok().map(Reply::Stored);
        }
        let why = content.strip_prefix(b"error")?;
        let why = why.strip_prefix(b": ").unwrap_or(why);
        Some(Reply::Error(String::from_utf8_lossy(why).into_owned()))
    }

    /// The reason, if `content` is an error reply.
    pub fn error_of(content: &[u8]) -> Option<String> {
        match Reply::parse(content) {
            Some(Reply::Error(why)) => Some(why),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_encode_to_the_bytes_the_tunnel_has_always_carried() {
        assert_eq!(Reply::Ok.encode(), b"ok");
        assert_eq!(Reply::Stored(42).encode(), b"stored 42");
        assert_eq!(Reply::Error("refused: not yours".into()).encode(), b"error: refused: not yours");
        assert_eq!(Reply::error("502 node e1 is not connected"), b"error: 502 node e1 is not connected");
    }

    #[test]
    fn replies_parse_back_and_data_is_not_a_reply() {
        for r in [Reply::Ok, Reply::Stored(7), Reply::Error("x: y".into())] {
            assert_eq!(Reply::parse(&r.encode()), Some(r));
        }
        assert_eq!(Reply::parse(b"error"), Some(Reply::Error(String::new())));
        assert_eq!(Reply::parse(br#"{"kind":"Pod"}"#), None);
        assert_eq!(Reply::parse(b"stored x"), None);
        assert_eq!(Reply::error_of(b"error: gone"), Some("gone".into()));
        assert_eq!(Reply::error_of(b"ok"), None);
    }
}
