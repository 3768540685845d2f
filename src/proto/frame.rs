//! Tunnel frames: one websocket binary message = protocol version + one
//! bincode-encoded `Frame`, capped in size.
//!
//! Owns: the frame types and their codec. Must not know about sockets,
//! sessions or routing. A frame that does not decode is an error for the
//! caller to close the connection with; decoding never panics.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};

use crate::core::Message;

/// Bumped on any incompatible change of `Frame`.
pub const PROTOCOL_VERSION: u16 = 1;

/// Hard ceiling of any frame, whatever the config says (64 MiB).
pub const MAX_FRAME_CEILING: usize = 64 << 20;

type Cfg = Configuration<LittleEndian, Varint, Limit<MAX_FRAME_CEILING>>;

fn cfg() -> Cfg {
    config::standard().with_limit::<MAX_FRAME_CEILING>()
}

/// First frame of a session, edge → cloud.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Hello {
    pub hive_version: String,
    pub arch: String,
    /// Every object the edge holds: (key, version). The cloud answers with the difference.
    pub inventory: Vec<(String, u64)>,
}

/// The cloud's answer to `Hello`.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Welcome {
    pub hive_version: String,
    /// The node name the cloud read from the certificate.
    pub node: String,
    /// Highest upstream sequence number the cloud has applied for this node.
    pub up_applied: u64,
}

/// One object of the node's set, cloud → edge. `content: None` deletes it.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ObjectChange {
    pub key: String,
    pub version: u64,
    pub content: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Frame {
    Hello(Hello),
    Welcome(Welcome),
    /// A routed envelope, either way (requests, replies, notifications); not durable.
    Message(Message),
    /// Downstream object change (inventory sync).
    Object(ObjectChange),
    /// The edge stored this object version (or deletion).
    ObjectAck {
        key: String,
        version: u64,
    },
    /// Durable upstream message from the edge's outbox.
    Up {
        seq: u64,
        msg: Message,
    },
    /// Everything up to and including `seq` is applied in the cloud.
    UpAck {
        seq: u64,
    },
    /// Cloud → edge: open stream `id` for `request` (JSON; stream.rs).
    StreamOpen {
        id: u64,
        request: Vec<u8>,
    },
    /// One message of a stream, either way, within the peer's credit.
    StreamData {
        id: u64,
        data: Vec<u8>,
    },
    /// The receiver handed `bytes` more to its reader: the sender may send them.
    StreamCredit {
        id: u64,
        bytes: u32,
    },
    /// Either way: the stream ends; `error` is empty when it ended in order.
    StreamClose {
        id: u64,
        error: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the limit of {cap} bytes")]
    TooLarge { len: usize, cap: usize },
    #[error("frame of protocol version {0}; this hive speaks version {PROTOCOL_VERSION}")]
    WrongVersion(u16),
    #[error("undecodable frame: {0}")]
    Malformed(String),
}

/// Encode `frame`; fails if the result would exceed `cap` bytes.
pub fn encode(frame: &Frame, cap: usize) -> Result<Vec<u8>, FrameError> {
    let bytes = bincode::encode_to_vec((PROTOCOL_VERSION, frame), cfg()).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if bytes.len() > cap {
        return Err(FrameError::TooLarge { len: bytes.len(), cap });
    }
    Ok(bytes)
}

/// Decode one frame of at most `cap` bytes.
pub fn decode(bytes: &[u8], cap: usize) -> Result<Frame, FrameError> {
    if bytes.len() > cap {
        return Err(FrameError::TooLarge { len: bytes.len(), cap });
    }
    let (version, used): (u16, usize) = bincode::decode_from_slice(bytes, cfg()).map_err(|e| FrameError::Malformed(format!("no version: {e}")))?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::WrongVersion(version));
    }
    let rest = &bytes[used..];
    let (frame, n): (Frame, usize) = bincode::decode_from_slice(rest, cfg()).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if n != rest.len() {
        return Err(FrameError::Malformed(format!("{} trailing bytes", rest.len() - n)));
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = Frame::Message(Message::new("edged", "edgecontroller", "default/pod/a", "update", b"{}".to_vec()));
        let b = encode(&f, 1 << 20).unwrap();
        assert_eq!(decode(&b, 1 << 20).unwrap(), f);
    }

    #[test]
    fn oversize_both_ways() {
        let f = Frame::Message(Message::new("a", "g", "r", "o", vec![7u8; 5000]));
        assert!(matches!(encode(&f, 4096), Err(FrameError::TooLarge { cap: 4096, .. })));
        let b = encode(&f, 1 << 20).unwrap();
        assert!(matches!(decode(&b, 4096), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn future_version_and_garbage_are_errors_not_panics() {
        let f = Frame::Hello(Hello { hive_version: "9".into(), arch: "x".into(), inventory: vec![("a".into(), 1)] });
        let mut b = bincode::encode_to_vec((7u16, &f), cfg()).unwrap();
        assert_eq!(decode(&b, 1 << 20), Err(FrameError::WrongVersion(7)));
        b = encode(&f, 1 << 20).unwrap();
        b.push(0);
        assert!(matches!(decode(&b, 1 << 20), Err(FrameError::Malformed(_))));
        let mut rng = fastrand::Rng::with_seed(7);
        for len in 0..2000 {
            let junk: Vec<u8> = (0..len % 97).map(|_| rng.u8(..)).collect();
            let _ = decode(&junk, 1 << 20);
        }
        // A length prefix claiming a huge vector must not allocate it.
        let mut huge = bincode::encode_to_vec(PROTOCOL_VERSION, cfg()).unwrap();
        huge.extend_from_slice(&[2, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(&huge, 1 << 20).is_err());
    }
}
