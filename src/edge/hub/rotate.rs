//! Rotation of the node certificate over the live tunnel: when 80% of its
//! lifetime has passed, EdgeHub makes a new key here, sends a request
//! (`csr` to the cloud's hub; the cloud takes the node name from the
//! session, never from the request), installs the answer crash-safely and
//! reconnects at once with it — the outbox and inventory sync make that
//! reconnect lose and repeat nothing. A refused or unanswered request is
//! tried again after a twentieth of the lifetime (at least 5 s).
//!
//! Also what a failed connect says about the certificate: revoked (the
//! node was deleted) or expired (offline past its lifetime).
//!
//! Owns: the rotation schedule and the pending request. Must not hold the
//! connection.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Credentials, NAME};
use crate::core::{Message, MessageId, Reply};
use crate::tls;

pub struct Rotation {
    /// When to ask (next).
    pub due: Instant,
    /// When 80% of the certificate's lifetime has passed (Unix s).
    at: i64,
    /// Not before this (a clock ahead of the cloud's must not make the
    /// edge rotate and reconnect in a loop).
    not_before: Option<Instant>,
    lifetime: Duration,
    pending: Option<(MessageId, String)>,
}

/// (notBefore, notAfter) of the node certificate.
pub fn validity(data_dir: &Path) -> Option<(i64, i64)> {
    let pem = std::fs::read_to_string(Credentials::in_dir(data_dir).cert).ok()?;
    let c = tls::certs(&pem, "node certificate").ok()?;
    let f = tls::cert_fields(c[0].as_ref()).ok()?;
    Some((f.not_before, f.not_after))
}

impl Rotation {
    /// The schedule of the certificate now on disk; `last` is when the
    /// previous rotation was installed, if in this run.
    pub fn of(data_dir: &Path, last: Option<Instant>) -> Rotation {
        let (nb, na) = validity(data_dir).unwrap_or((0, i64::MAX / 2));
        let life = (na - nb).max(1);
        let lifetime = Duration::from_secs(life as u64);
        let not_before = last.map(|t| t + Self::gap(lifetime));
        let mut r = Rotation { due: Instant::now(), at: nb + life * 4 / 5, not_before, lifetime, pending: None };
        r.refresh();
        r
    }

    /// The least time between two asks: a twentieth of the lifetime, at least 5 s.
    fn gap(lifetime: Duration) -> Duration {
        (lifetime / 20).max(Duration::from_secs(5))
    }

    /// Recompute the due time from the wall clock (it may have been set or
    /// jumped since); called on every ping tick. A pending ask keeps its retry.
    pub fn refresh(&mut self) {
        if self.pending.is_some() {
            return;
        }
        let wait = Duration::from_secs((self.at - crate::kube::unix_now()).clamp(0, 10 * 365 * 86_400) as u64);
        let due = Instant::now() + wait;
        self.due = self.not_before.map_or(due, |nb| due.max(nb));
    }

    fn retry_later(&mut self) {
        self.due = Instant::now() + Self::gap(self.lifetime);
    }

    /// Time to ask: the request to send.
    pub fn request(&mut self, node: &str) -> Option<Message> {
        self.retry_later();
        match tls::csr::new_key_and_csr(node) {
            Ok((key, csr)) => {
                let m = Message::new(NAME, "hub", "cert", "csr", csr.into_bytes());
                self.pending = Some((m.id, key));
                log::info!(target: NAME, "node {node}: asking the cloud for a new certificate (80% of its lifetime has passed)");
                Some(m)
            }
            Err(e) => {
                log::error!(target: NAME, "node {node}: cannot make a key for rotation: {e}");
                None
            }
        }
    }

    /// A message from the cloud: if it answers our request, install the new
    /// certificate (Some(true): reconnect with it). None: not ours.
    pub fn on_reply(&mut self, data_dir: &Path, node: &str, m: &Message) -> Option<bool> {
        let (id, _) = self.pending.as_ref()?;
        if m.parent_id != Some(*id) {
            return None;
        }
        let (_, key) = self.pending.take()?;
        if Reply::error_of(&m.content).is_some() {
            log::warn!(target: NAME, "certificate rotation refused: {}; trying again later", m.content_text());
            return Some(false);
        }
        let cert = m.content_text();
        let creds = Credentials::in_dir(data_dir);
        let fits = std::fs::read_to_string(&creds.ca)
            .map_err(|e| e.to_string())
            .and_then(|ca| tls::client_config(&ca, &cert, &key).map_err(|e| e.to_string()))
            .and_then(|_| tls::certs(&cert, "rotated certificate").map_err(|e| e.to_string()))
            .and_then(|c| tls::node_name_of(&c[0]).map_err(|e| e.to_string()))
            .and_then(|name| if name == node { Ok(()) } else { Err(format!("it is for node {name}, not {node}")) });
        if let Err(e) = fits {
            log::error!(target: NAME, "the cloud's new certificate is unusable ({e}); keeping the old one");
            return Some(false);
        }
        match creds.install(&key, &cert, None) {
            Ok(()) => {
                let until = validity(data_dir).and_then(|(_, na)| crate::kube::rfc3339(na, None)).unwrap_or_default();
                log::info!(target: NAME, "node certificate rotated (valid until {until}); reconnecting with it");
                Some(true)
            }
            Err(e) => {
                log::error!(target: NAME, "new certificate not installed: {e}; keeping the old one");
                Some(false)
            }
        }
    }
}

/// What a failed connect says about this node's certificate, if anything:
/// a clearer message and the backoff bounds (ms) to use. A refusal as
/// revoked is remembered (Credentials::mark_revoked).
pub fn diagnose(err: &str, data_dir: &Path) -> Option<(String, u64, u64)> {
    if err.contains("CertificateRevoked") {
        Credentials::in_dir(data_dir).mark_revoked();
        return Some((
            "the cloud has revoked this node's certificate (the node was deleted, or `hive cert revoke`); restart with a join token (hive edge join --server … --token … --ca-cert-hash …, or [join]) to come back as a fresh node".into(),
            30_000,
            600_000,
        ));
    }
    match validity(data_dir) {
        Some((_, na)) if na <= crate::kube::unix_now() => Some((
            format!(
                "this node's certificate expired at {} (offline past its lifetime); restart with a join token in [join], or join again (hive edge join …)",
                crate::kube::rfc3339(na, None).unwrap_or_default()
            ),
            30_000,
            600_000,
        )),
        _ => None,
    }
}

/// The certificate expired while offline and a join token is at hand:
/// join again under the same name; the new TLS config.
pub async fn rejoin(data_dir: &Path, join: &crate::config::JoinConfig, node: &str, err: &str) -> Option<std::sync::Arc<rustls::ClientConfig>> {
    if join.token.is_empty() || err.contains("CertificateRevoked") || validity(data_dir).is_some_and(|(_, na)| na > crate::kube::unix_now()) {
        return None;
    }
    log::warn!(target: NAME, "node {node}: joining again with the configured token");
    match crate::edge::join::join_once(data_dir, join, node).await {
        Ok(()) => super::load_tls(data_dir, node).map(|(_, c)| c).map_err(|e| log::error!(target: NAME, "node {node}: {e}")).ok(),
        Err(e) => {
            log::error!(target: NAME, "node {node}: join again failed: {e}");
            None
        }
    }
}
