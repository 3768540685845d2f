//! The cloud's certificate authority: `ca.pem` + `ca.key` (0600) in a
//! directory, created on first start, and the certificates it signs: the
//! cloud's server certificate and node certificates (`hive cert node NAME`,
//! CN `node:<name>`). Cloud only (rcgen); the edge never signs anything.
//! Must not open sockets.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use time::{Duration as TimeDuration, OffsetDateTime};

use super::{check_node_name, file_err, read, write_file, TlsError, NODE_CN_PREFIX};

fn gen_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Generate(e.to_string())
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

#[cfg(test)]
mod tests {
    use super::super::{certs, client_config, node_name_of, server_config};
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
    fn corrupt_ca_files_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(CertAuthority::cert_path(d.path()), "garbage").unwrap();
        std::fs::write(CertAuthority::key_path(d.path()), "garbage").unwrap();
        let e = CertAuthority::load_or_create(d.path()).err().unwrap().to_string();
        assert!(e.contains("ca.key") || e.contains("ca.pem"), "{e}");
    }
}
