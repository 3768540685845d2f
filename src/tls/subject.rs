//! The subject common name of an X.509 certificate, read straight from its
//! DER: the one field hive needs after rustls has verified the chain, so
//! the edge image carries no second X.509 parser.
//!
//! Owns: that walk (Certificate → TBSCertificate → subject → CN). Must not
//! verify anything (rustls did) and never panics on any input: every
//! length is checked against what is left.

/// OID 2.5.4.3, id-at-commonName, as DER contents.
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

/// One DER TLV: (tag, contents, rest after it).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&first, d) = d.split_first()?;
    let (len, d) = if first < 0x80 {
        (usize::from(first), d)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let len = d[..n].iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &d[n..])
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// The contents of a TLV with tag `want`, and what follows it.
fn expect(d: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(d)?;
    (tag == want).then_some((body, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;

/// The first common name in the certificate's subject, if it is a string.
pub fn common_name(der: &[u8]) -> Result<String, &'static str> {
    let (cert, _) = expect(der, SEQUENCE).ok_or("not a DER certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE).ok_or("no TBSCertificate")?;
    let mut d = tbs;
    if d.first() == Some(&VERSION) {
        d = tlv(d).ok_or("bad version")?.2;
    }
    // serialNumber, signature, issuer, validity; then subject.
    for what in ["no serial number", "no signature algorithm", "no issuer", "no validity"] {
        d = tlv(d).ok_or(what)?.2;
    }
    let (mut rdns, _) = expect(d, SEQUENCE).ok_or("no subject")?;
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, SET).ok_or("bad subject")?;
        rdns = rest;
        let mut attrs = set;
        while !attrs.is_empty() {
            let (attr, rest) = expect(attrs, SEQUENCE).ok_or("bad subject attribute")?;
            attrs = rest;
            let (oid, value) = expect(attr, OID).ok_or("bad subject attribute type")?;
            if oid != CN_OID {
                continue;
            }
            let (tag, s, _) = tlv(value).ok_or("bad common name")?;
            // UTF8String, PrintableString, IA5String.
            if !matches!(tag, 0x0c | 0x13 | 0x16) {
                return Err("common name is not a string");
            }
            return std::str::from_utf8(s).map(str::to_string).map_err(|_| "common name is not UTF-8");
        }
    }
    Err("no common name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_every_truncation_are_errors_never_panics() {
        for bad in [&b""[..], b"\x30", b"\x30\x05abc", b"\x30\x84\xff\xff\xff\xff", b"\x30\x80", b"\x02\x01\x00"] {
            assert!(common_name(bad).is_err(), "{bad:?}");
        }
        // A minimal hand-built certificate: subject O=x, CN=node:e1.
        let name = [&b"\x31\x0a\x30\x08\x06\x03\x55\x04\x0a\x0c\x01x"[..], b"\x31\x10\x30\x0e\x06\x03\x55\x04\x03\x0c\x07node:e1"].concat();
        let subject = [&[SEQUENCE, name.len() as u8][..], &name].concat();
        let tbs_body = [&b"\xa0\x03\x02\x01\x02\x02\x01\x01\x30\x00\x30\x00\x30\x00"[..], &subject].concat();
        let tbs = [&[SEQUENCE, tbs_body.len() as u8][..], &tbs_body].concat();
        let cert = [&[SEQUENCE, tbs.len() as u8][..], &tbs].concat();
        assert_eq!(common_name(&cert).unwrap(), "node:e1");
        for cut in 0..cert.len() {
            let _ = common_name(&cert[..cut]);
        }
    }
}
