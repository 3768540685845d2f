//! A node's own key and its certificate signing request, made on the board
//! (the private key never leaves it): ECDSA P-256 with ring, the PKCS#10
//! request written in DER by hand (a few fixed structures; the edge image
//! carries no certificate builder). Also the CA pin of `hive edge join`:
//! `sha256:<hex>` of the CA's SubjectPublicKeyInfo, as kubeadm's
//! `--discovery-token-ca-cert-hash`.
//!
//! Owns: key generation, the request's encoding, the pin. Must not open
//! sockets or files.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};

use super::TlsError;

/// id-ecPublicKey, prime256v1 (the SubjectPublicKeyInfo's algorithm).
const EC_P256: &[u8] = b"\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07";
/// ecdsa-with-SHA256 (the request's signature algorithm).
const ECDSA_SHA256: &[u8] = b"\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02";
/// id-at-commonName.
const CN: &[u8] = b"\x06\x03\x55\x04\x03";

/// One DER TLV.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

/// PEM armour with 64-column lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A new key (PKCS#8 PEM) and a request for CN `node:<name>` signed by it (PEM).
pub fn new_key_and_csr(node: &str) -> Result<(String, String), TlsError> {
    super::check_node_name(node)?;
    let rng = SystemRandom::new();
    let gen = |e: ring::error::Unspecified| TlsError::Generate(format!("ECDSA P-256 key: {e}"));
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(gen)?;
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).map_err(|e| TlsError::Generate(format!("ECDSA P-256 key: {e}")))?;
    let point = [&[0u8][..], key.public_key().as_ref()].concat();
    let spki = der(0x30, &[EC_P256, &der(0x03, &point)].concat());
    let cn = format!("{}{node}", super::NODE_CN_PREFIX);
    let attr = der(0x30, &[CN, &der(0x0c, cn.as_bytes())].concat());
    let name = der(0x30, &der(0x31, &attr));
    // version 0, subject, key, no attributes ([0] IMPLICIT SET OF, empty).
    let info = der(0x30, &[&b"\x02\x01\x00"[..], &name, &spki, b"\xa0\x00"].concat());
    let sig = key.sign(&rng, &info).map_err(gen)?;
    let sig_bits = [&[0u8][..], sig.as_ref()].concat();
    let csr = der(0x30, &[&info[..], ECDSA_SHA256, &der(0x03, &sig_bits)].concat());
    Ok((pem("PRIVATE KEY", pkcs8.as_ref()), pem("CERTIFICATE REQUEST", &csr)))
}

/// `sha256:<hex>` of a certificate's SubjectPublicKeyInfo.
pub fn ca_pin(cert_der: &[u8]) -> Result<String, TlsError> {
    let f = super::x509::fields(cert_der).map_err(|e| TlsError::PeerCert(e.into()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, f.spki);
    Ok(format!("sha256:{}", crate::tls::hex(digest.as_ref())))
}

/// The pin of the first certificate in a PEM text.
pub fn ca_pin_of_pem(pem: &str) -> Result<String, TlsError> {
    let c = super::certs(pem, "CA certificate")?;
    ca_pin(c[0].as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_are_encoded_in_long_form() {
        assert_eq!(der(0x04, &[1; 3])[..2], [0x04, 3]);
        assert_eq!(der(0x04, &[1; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der(0x04, &[1; 300])[..4], [0x04, 0x82, 1, 44]);
    }

    #[test]
    fn bad_names_are_refused_before_any_key_is_made() {
        assert!(new_key_and_csr("Bad_Name").is_err());
    }
}
