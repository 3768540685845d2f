//! Certificates and TLS settings for the cloud ⇄ edge tunnel.
//!
//! Owns: rustls configs (ring provider only), node names (CN
//! `node:<name>`) and reading a node's name out of its verified
//! certificate, for both roles. The cloud's certificate authority is ca.rs
//! (built with the `cloud` feature only). Must not open sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

#[cfg(feature = "cloud")]
mod ca;
pub mod csr;
mod x509;
pub use x509::fields as cert_fields;
#[cfg(feature = "quic")]
pub mod quic;
#[cfg(feature = "edge")]
pub mod unverified;
#[cfg(feature = "cloud")]
pub use ca::CertAuthority;

/// Prefix of a node certificate's common name.
pub const NODE_CN_PREFIX: &str = "node:";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("invalid node name `{0}`: use 1-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit")]
    BadNodeName(String),
    #[error("peer certificate: {0}")]
    PeerCert(String),
}

pub(crate) fn file_err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Lower-case hex of `bytes`: certificate serials, key digests, tokens.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Node names follow Kubernetes object names (DNS-1123 subdomain, ≤ 63).
pub fn check_node_name(name: &str) -> Result<(), TlsError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(TlsError::BadNodeName(name.to_string()))
    }
}

/// Write `data` to `path` (mode 0600 for keys), creating parent dirs.
pub fn write_file(path: &Path, data: &str, secret: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| file_err(parent, format!("cannot create directory: {e}")))?;
    }
    // A temporary name of its own: two writers (or ca.key and ca.pem) never share one.
    let tmp =
        path.with_file_name(format!(".{}.{}-{:x}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file"), std::process::id(), fastrand::u64(..)));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(|e| file_err(&tmp, format!("cannot write: {e}")))?;
    f.write_all(data.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| file_err(&tmp, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, format!("cannot rename into place: {e}")))
}

pub(crate) fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| file_err(path, format!("cannot read: {e}")))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let v: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let v = v.map_err(|e| TlsError::Config(format!("{what}: {e}")))?;
    if v.is_empty() {
        return Err(TlsError::Config(format!("{what}: no certificate in PEM")));
    }
    Ok(v)
}

fn key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Config(format!("{what}: {e}")))
}

fn roots(ca_pem: &str) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca_pem, "CA certificate")? {
        roots.add(c).map_err(|e| TlsError::Config(format!("CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Is a (chain-verified) client certificate revoked?
pub type RevocationCheck = Arc<dyn Fn(&CertificateDer<'_>) -> bool + Send + Sync>;

/// WebPKI verification, then the cloud's revocation list: a revoked
/// certificate fails the handshake with the `certificate_revoked` alert.
#[derive(Debug)]
struct Revocable {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    revoked: RevokedFn,
}

struct RevokedFn(RevocationCheck);

impl std::fmt::Debug for RevokedFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationCheck")
    }
}

impl rustls::server::danger::ClientCertVerifier for Revocable {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end, chain, now)?;
        if (self.revoked.0)(end) {
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked));
        }
        Ok(ok)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The cloud's TLS config: client certificates signed by the CA are required.
pub fn server_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config_revocable(ca_pem, cert_pem, key_pem, Arc::new(|_: &CertificateDer<'_>| false))
}

/// As `server_config`, refusing the certificates `revoked` names.
pub fn server_config_revocable(ca_pem: &str, cert_pem: &str, key_pem: &str, revoked: RevocationCheck) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let inner = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let verifier = Arc::new(Revocable { inner, revoked: RevokedFn(revoked) });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem, "server certificate")?, key(key_pem, "server key")?)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    // No session resumption: a resumed session skips the client
    // certificate check, and with it revocation and expiry.
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// A server config without client certificates (the API: bearer tokens).
pub fn plain_server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs(cert_pem, "server certificate")?, key(key_pem, "server key")?)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    Ok(Arc::new(cfg))
}

/// The edge's TLS config: verify the cloud against the CA, present the node certificate.
pub fn client_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(certs(cert_pem, "node certificate")?, key(key_pem, "node key")?)
        .map_err(|e| TlsError::Config(format!("node certificate: {e}")))?;
    Ok(Arc::new(cfg))
}

/// A client config that presents no certificate (for tests of refusal).
pub fn anonymous_client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The server name to verify the cloud's certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string()).map_err(|e| TlsError::Config(format!("server name `{host}`: {e}")))
}

/// The node name in a (verified) client certificate: CN `node:<name>`.
pub fn node_name_of(der: &CertificateDer<'_>) -> Result<String, TlsError> {
    let cn = x509::common_name(der.as_ref()).map_err(|e| TlsError::PeerCert(e.into()))?;
    let name = cn.strip_prefix(NODE_CN_PREFIX).ok_or_else(|| TlsError::PeerCert(format!("common name `{cn}` is not `{NODE_CN_PREFIX}<name>`")))?;
    check_node_name(name)?;
    Ok(name.to_string())
}

/// The node name in a PEM certificate file (the edge reads its own name).
pub fn node_name_of_pem(path: &Path) -> Result<String, TlsError> {
    let pem = read(path)?;
    let c = certs(&pem, &path.display().to_string())?;
    node_name_of(&c[0]).map_err(|e| file_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_node_names_are_refused() {
        for bad in ["", "Edge", "a_b", "-a", "a-", &"x".repeat(64), "a/b", "node:x"] {
            assert!(check_node_name(bad).is_err(), "{bad:?}");
        }
        for good in ["e", "edge-1", "rack3.site-a", "0"] {
            check_node_name(good).unwrap();
        }
    }
}
