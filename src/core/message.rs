//! The one message envelope every module speaks (KubeEdge's beehive `model.Message`).
//!
//! Owns: the `Message` type, id generation and the reply convention
//! (`parent_id` = id of the request). Must not know about routing, modules or
//! the tunnel; it is plain data that bincode can carry across the wire.

use std::time::{SystemTime, UNIX_EPOCH};

/// Identifier of a message. Random 64-bit values: unique enough across a
/// cloud and all its edges that a reply finds its request.
pub type MessageId = u64;

/// The envelope. `resource` is `"<namespace>/<kind>/<name>"` by convention;
/// `content` is opaque bytes (JSON for API objects, whatever a module agrees on).
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Message {
    pub id: MessageId,
    pub parent_id: Option<MessageId>,
    pub timestamp_ms: u64,
    pub source: String,
    pub group: String,
    pub resource: String,
    pub operation: String,
    pub content: Vec<u8>,
    /// Sequence number of a durable upstream message (edge outbox), 0 for
    /// every other message. A module applying upstream data records it with
    /// the data, so a resend after a partition is applied exactly once.
    pub seq: u64,
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Message {
    /// A new message from module `source`, in `group`, about `resource`.
    pub fn new(
        source: impl Into<String>,
        group: impl Into<String>,
        resource: impl Into<String>,
        operation: impl Into<String>,
        content: impl Into<Vec<u8>>,
    ) -> Message {
        Message {
            id: fastrand::u64(1..),
            parent_id: None,
            timestamp_ms: now_ms(),
            source: source.into(),
            group: group.into(),
            resource: resource.into(),
            operation: operation.into(),
            content: content.into(),
            seq: 0,
        }
    }

    /// The reply to `self`: same resource, operation `response`, parent = self.
    pub fn reply(&self, source: impl Into<String>, content: impl Into<Vec<u8>>) -> Message {
        let mut m = Message::new(source, self.group.clone(), self.resource.clone(), "response", content);
        m.parent_id = Some(self.id);
        m
    }

    /// Whether this message answers an earlier request.
    pub fn is_reply(&self) -> bool {
        self.parent_id.is_some()
    }

    /// Content as UTF-8 text, lossy (for logs).
    pub fn content_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_points_at_request() {
        let req = Message::new("edged", "meta", "default/pod/a", "query", b"".to_vec());
        let rep = req.reply("metamanager", b"{}".to_vec());
        assert_eq!(rep.parent_id, Some(req.id));
        assert_ne!(rep.id, req.id);
        assert_eq!(rep.resource, "default/pod/a");
        assert_eq!(rep.operation, "response");
        assert!(rep.is_reply() && !req.is_reply());
    }

    #[test]
    fn ids_differ() {
        let a = Message::new("a", "g", "r", "o", Vec::new());
        let b = Message::new("a", "g", "r", "o", Vec::new());
        assert_ne!(a.id, b.id);
        assert!(a.timestamp_ms > 1_600_000_000_000);
    }
}
