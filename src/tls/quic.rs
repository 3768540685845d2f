//! The tunnel's TLS configs made fit for QUIC: the same certificates,
//! verifiers and revocation checks as over TCP (they are clones of those
//! configs), plus the ALPN `hive-tunnel/1`, and no early data (0-RTT would
//! skip the client certificate check, and with it revocation).
//!
//! Owns: that conversion. Must not pick transport parameters (proto::quic).

use std::sync::Arc;

use super::TlsError;
use crate::proto::quic::{Tuning, ALPN};

/// The cloud's QUIC server config from its tunnel TLS config.
pub fn server(tls: &Arc<rustls::ServerConfig>, tuning: &Tuning) -> Result<quinn::ServerConfig, TlsError> {
    let mut c = (**tls).clone();
    c.alpn_protocols = vec![ALPN.to_vec()];
    c.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(Arc::new(c)).map_err(|e| TlsError::Config(format!("QUIC server: {e}")))?;
    let mut s = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    s.transport_config(crate::proto::quic::transport(tuning)).migration(true);
    Ok(s)
}

/// An edge's QUIC client config from its tunnel TLS config.
pub fn client(tls: &Arc<rustls::ClientConfig>, tuning: &Tuning) -> Result<quinn::ClientConfig, TlsError> {
    let mut c = (**tls).clone();
    c.alpn_protocols = vec![ALPN.to_vec()];
    c.enable_early_data = false;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(c)).map_err(|e| TlsError::Config(format!("QUIC client: {e}")))?;
    let mut q = quinn::ClientConfig::new(Arc::new(crypto));
    q.transport_config(crate::proto::quic::transport(tuning));
    Ok(q)
}
