//! Certificates and TLS settings for the cloud ⇄ edge tunnel.
//!
//! Owns: the cloud's certificate authority (created on first start, key
//! 0600), the cloud's server certificate, node certificates (`hive cert node
//! NAME`, CN `node:<name>`), rustls configs (ring provider only) and reading
//! a node's name out of its verified certificate. Must not open sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::{Duration as TimeDuration, OffsetDateTime};

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

fn file_err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.to_path_buf(), reason: reason.to_string() }
}

fn gen_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Generate(e.to_string())
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

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| file_err(path, format!("cannot read: {e}")))
}

/// A certificate another creator is about to put next to its key: wait for
/// it, at most 5 s (a key without one after that is reported by `load`).
fn wait_for(cert: &Path) {
    for _ in 0..100 {
        if cert.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The cloud's certificate authority: `ca.pem` + `ca.key` in a directory.
pub struct CertAuthority {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertAuthority {
    pub fn cert_path(dir: &Path) -> PathBuf {
        dir.join("ca.pem")
    }
    pub fn key_path(dir: &Path) -> PathBuf {
        dir.join("ca.key")
    }

    /// Load the CA from `dir`, or create it there if it does not exist yet.
    pub fn load_or_create(dir: &Path) -> Result<CertAuthority, TlsError> {
        let (cp, kp) = (Self::cert_path(dir), Self::key_path(dir));
        if cp.exists() || kp.exists() {
            wait_for(&cp);
            return Self::load(dir);
        }
        let key = KeyPair::generate().map_err(gen_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "hive cloud CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - TimeDuration::hours(1);
        params.not_after = now + TimeDuration::days(3650);
        let cert = params.self_signed(&key).map_err(gen_err)?;
        // Two creators at once (a cloud starting while `hive cert` runs) must
        // not end with a key from one and a certificate from the other: the
        // key is linked into place only if none is there (link(2) is
        // exclusive), and only its winner puts its certificate next to it.
        let tmp_key = kp.with_file_name(format!(".ca.key.{}-{:x}.tmp", std::process::id(), fastrand::u64(..)));
        write_file(&tmp_key, &key.serialize_pem(), true)?;
        let won = std::fs::hard_link(&tmp_key, &kp);
        let _ = std::fs::remove_file(&tmp_key);
        match won {
            Ok(()) => {
                write_file(&cp, &cert.pem(), false)?;
                log::info!(target: "tls", "created certificate authority {}", cp.display());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => wait_for(&cp),
            Err(e) => return Err(file_err(&kp, format!("cannot create: {e}"))),
        }
        Self::load(dir)
    }

    /// Load an existing CA from `dir`.
    pub fn load(dir: &Path) -> Result<CertAuthority, TlsError> {
        let (cp, kp) = (Self::cert_path(dir), Self::key_path(dir));
        let cert_pem = read(&cp)?;
        let key = KeyPair::from_pem(&read(&kp)?).map_err(|e| file_err(&kp, format!("not a usable private key: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| file_err(&cp, format!("not a usable CA certificate: {e}")))?;
        Ok(CertAuthority { cert_pem, issuer })
    }

    fn issue(&self, cn: &str, sans: Vec<SanType>, server: bool, not_after: OffsetDateTime) -> Result<(String, String), TlsError> {
        let key = KeyPair::generate().map_err(gen_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        params.not_before = OffsetDateTime::now_utc() - TimeDuration::hours(1);
        params.not_after = not_after;
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A server certificate for the cloud covering localhost, 127.0.0.1, ::1 and `names`.
    pub fn issue_server(&self, names: &[String]) -> Result<(String, String), TlsError> {
        let mut sans = vec![
            SanType::DnsName("localhost".try_into().map_err(gen_err)?),
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
        ];
        for n in names {
            match n.parse::<std::net::IpAddr>() {
                Ok(ip) => sans.push(SanType::IpAddress(ip)),
                Err(_) => sans.push(SanType::DnsName(n.clone().try_into().map_err(|e| gen_err(format!("{n}: {e}")))?)),
            }
        }
        self.issue("hive cloud", sans, true, OffsetDateTime::now_utc() + TimeDuration::days(825))
    }

    /// A client certificate for node `name`, valid for `days` (may be negative, for tests).
    pub fn issue_node(&self, name: &str, days: i64) -> Result<(String, String), TlsError> {
        check_node_name(name)?;
        self.issue(&format!("{NODE_CN_PREFIX}{name}"), vec![], false, OffsetDateTime::now_utc() + TimeDuration::days(days))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

/// The cloud's TLS config: client certificates signed by the CA are required.
pub fn server_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem, "server certificate")?, key(key_pem, "server key")?)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
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
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| TlsError::PeerCert(e.to_string()))?;
    let cn = cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).ok_or_else(|| TlsError::PeerCert("no common name".into()))?;
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
    fn ca_persists_and_signs_node_certs_with_the_name_in_cn() {
        let d = tempfile::tempdir().unwrap();
        let ca = CertAuthority::load_or_create(d.path()).unwrap();
        let again = CertAuthority::load_or_create(d.path()).unwrap();
        assert_eq!(ca.cert_pem, again.cert_pem, "second start reuses the CA");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(CertAuthority::key_path(d.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (cert, key) = again.issue_node("edge-1", 365).unwrap();
        let der = &certs(&cert, "t").unwrap()[0];
        assert_eq!(node_name_of(der).unwrap(), "edge-1");
        client_config(&ca.cert_pem, &cert, &key).unwrap();
        let (scert, skey) = ca.issue_server(&["cloud.example".into(), "10.1.2.3".into()]).unwrap();
        server_config(&ca.cert_pem, &scert, &skey).unwrap();
    }

    #[test]
    fn concurrent_creators_end_with_one_ca() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        let pems: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8).map(|_| s.spawn(|| CertAuthority::load_or_create(&dir).unwrap().cert_pem)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(pems.iter().all(|p| *p == pems[0]), "creators disagree on the CA");
        let ca = CertAuthority::load(&dir).unwrap();
        assert_eq!(ca.cert_pem, pems[0]);
        // The key on disk belongs to the certificate on disk.
        let key = KeyPair::from_pem(&std::fs::read_to_string(CertAuthority::key_path(&dir)).unwrap()).unwrap();
        let der = &certs(&ca.cert_pem, "ca").unwrap()[0];
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        assert_eq!(&*cert.public_key().subject_public_key.data, key.public_key_raw(), "ca.key does not match ca.pem");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn bad_node_names_are_refused() {
        for bad in ["", "Edge", "a_b", "-a", "a-", &"x".repeat(64), "a/b", "node:x"] {
            assert!(check_node_name(bad).is_err(), "{bad:?}");
        }
        for good in ["e", "edge-1", "rack3.site-a", "0"] {
            check_node_name(good).unwrap();
        }
    }

    #[test]
    fn corrupt_ca_files_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(CertAuthority::cert_path(d.path()), "garbage").unwrap();
        std::fs::write(CertAuthority::key_path(d.path()), "garbage").unwrap();
        let e = CertAuthority::load_or_create(d.path()).err().unwrap().to_string();
        assert!(e.contains("ca.key") || e.contains("ca.pem"), "{e}");
    }
}
