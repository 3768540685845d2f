//! The cloud's certificate authority: `ca.pem` + `ca.key` (0600) in a
//! directory, created on first start, and the certificates it signs: the
//! cloud's server certificate and node certificates (`hive cert node NAME`,
//! CN `node:<name>`). Cloud only (rcgen); the edge never signs anything.
//! Must not open sockets.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::PemObject as _;
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
        // Node certificates are back-dated by seconds only: a revocation
        // refuses unknown node certificates dated before it, and one made
        // by hand right after must not be caught by it.
        let backdate = if server { TimeDuration::hours(1) } else { TimeDuration::seconds(2) };
        let key = KeyPair::generate().map_err(gen_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        params.not_before = OffsetDateTime::now_utc() - backdate;
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

    /// A certificate for node `name` on the key of a request made on the
    /// edge (`tls::csr`): only the request's key is taken (after its
    /// signature is checked), never its subject or extensions. Valid for
    /// `lifetime_s`, back-dated a little for clocks behind the cloud's.
    /// Returns the PEM and the new certificate's serial number.
    pub fn sign_node_csr(&self, name: &str, csr_pem: &str, lifetime_s: i64) -> Result<(String, Vec<u8>), TlsError> {
        check_node_name(name)?;
        let bad = |why: String| TlsError::Config(format!("certificate request: {why}"));
        let der = rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
            .map_err(|e| bad(format!("not a PEM CERTIFICATE REQUEST ({e})")))?;
        check_csr_key(der.as_ref()).map_err(bad)?;
        let mut csr = rcgen::CertificateSigningRequestParams::from_der(&der).map_err(|e| bad(e.to_string()))?;
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial).map_err(|_| gen_err("no system randomness"))?;
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{NODE_CN_PREFIX}{name}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let now = OffsetDateTime::now_utc();
        params.not_before = now - TimeDuration::seconds((lifetime_s / 10).clamp(0, 300));
        params.not_after = now + TimeDuration::seconds(lifetime_s);
        csr.params = params;
        let cert = csr.signed_by(&self.issuer).map_err(gen_err)?;
        Ok((cert.pem(), serial.to_vec()))
    }

    /// A client certificate for node `name`, valid for `days` (may be negative, for tests).
    pub fn issue_node(&self, name: &str, days: i64) -> Result<(String, String), TlsError> {
        check_node_name(name)?;
        self.issue(&format!("{NODE_CN_PREFIX}{name}"), vec![], false, OffsetDateTime::now_utc() + TimeDuration::days(days))
    }
}

/// Keys a node may have: ECDSA P-256/P-384, Ed25519, RSA of 2048 bits or more.
fn check_csr_key(der: &[u8]) -> Result<(), String> {
    use super::x509::{expect, tlv};
    let (csr, _) = expect(der, 0x30).ok_or("not DER")?;
    let (info, _) = expect(csr, 0x30).ok_or("no CertificationRequestInfo")?;
    let d = tlv(info).ok_or("no version")?.2;
    let d = tlv(d).ok_or("no subject")?.2;
    let (spki, _) = expect(d, 0x30).ok_or("no subject public key info")?;
    let (alg, rest) = expect(spki, 0x30).ok_or("no key algorithm")?;
    let (oid, params) = expect(alg, 0x06).ok_or("no key algorithm")?;
    const EC: &[u8] = b"\x2a\x86\x48\xce\x3d\x02\x01";
    const RSA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01";
    const ED25519: &[u8] = b"\x2b\x65\x70";
    const P256: &[u8] = b"\x2a\x86\x48\xce\x3d\x03\x01\x07";
    const P384: &[u8] = b"\x2b\x81\x04\x00\x22";
    match oid {
        EC => match expect(params, 0x06).map(|(c, _)| c) {
            Some(P256) | Some(P384) => Ok(()),
            _ => Err("the key is on an elliptic curve the cloud does not accept; use ECDSA P-256 (what `hive edge join` makes)".into()),
        },
        ED25519 => Ok(()),
        RSA => {
            let (bits, _) = expect(rest, 0x03).ok_or("no RSA key")?;
            let (key, _) = expect(bits.get(1..).unwrap_or_default(), 0x30).ok_or("bad RSA key")?;
            let (n, _) = expect(key, 0x02).ok_or("bad RSA modulus")?;
            let n = n.strip_prefix(&[0]).unwrap_or(n);
            let size = n.first().map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if size < 2048 {
                return Err(format!("an RSA key of {size} bits is too weak; use at least 2048 bits or ECDSA P-256"));
            }
            Ok(())
        }
        _ => Err("the key type is not accepted; use ECDSA P-256 (what `hive edge join` makes), Ed25519 or RSA of 2048+ bits".into()),
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
    fn requests_made_on_the_edge_are_signed_for_the_name_given_not_asked() {
        let d = tempfile::tempdir().unwrap();
        let ca = CertAuthority::load_or_create(d.path()).unwrap();
        let (key, csr) = crate::tls::csr::new_key_and_csr("asked-name").unwrap();
        let (cert, serial) = ca.sign_node_csr("edge-7", &csr, 30).unwrap();
        let der = &certs(&cert, "t").unwrap()[0];
        assert_eq!(node_name_of(der).unwrap(), "edge-7");
        let f = crate::tls::cert_fields(der.as_ref()).unwrap();
        assert_eq!(f.serial, &serial[..]);
        assert!((27..=36).contains(&(f.not_after - f.not_before)), "{} {}", f.not_before, f.not_after);
        client_config(&ca.cert_pem, &cert, &key).unwrap();
        let e = ca.sign_node_csr("edge-7", "garbage", 30).unwrap_err().to_string();
        assert!(e.contains("not a PEM CERTIFICATE REQUEST"), "{e}");
        // A request whose signature does not match its key.
        let (_, other) = crate::tls::csr::new_key_and_csr("x").unwrap();
        let mut bad = rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(other.as_bytes()).unwrap().as_ref().to_vec();
        let n = bad.len();
        bad[n - 5] ^= 0x55;
        let e = ca.sign_node_csr("edge-7", &crate::tls::csr::pem("CERTIFICATE REQUEST", &bad), 30).unwrap_err().to_string();
        assert!(e.contains("certificate request"), "{e}");
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
