//! The few fields hive reads from an X.509 certificate, straight from its
//! DER: the subject's common name (the node name, after rustls verified the
//! chain), the serial number and validity (revocation and rotation) and the
//! SubjectPublicKeyInfo (the CA pin of `hive edge join`). The edge image
//! carries no second X.509 parser.
//!
//! Owns: that walk (Certificate → TBSCertificate → fields). Must not verify
//! anything (rustls does) and never panics on any input: every length is
//! checked against what is left.

/// OID 2.5.4.3, id-at-commonName, as DER contents.
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

/// One DER TLV: (tag, contents, rest after it).
pub(crate) fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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
pub(crate) fn expect(d: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(d)?;
    (tag == want).then_some((body, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;

/// The fields of a TBSCertificate hive reads, as DER slices.
pub struct Fields<'a> {
    /// The serial number's contents (big-endian, as encoded).
    pub serial: &'a [u8],
    /// notBefore / notAfter, seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    subject: &'a [u8],
    /// The whole SubjectPublicKeyInfo TLV (what the CA pin hashes).
    pub spki: &'a [u8],
}

/// Walk a certificate to its fields.
pub fn fields(der: &[u8]) -> Result<Fields<'_>, &'static str> {
    let (cert, _) = expect(der, SEQUENCE).ok_or("not a DER certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE).ok_or("no TBSCertificate")?;
    let mut d = tbs;
    if d.first() == Some(&VERSION) {
        d = tlv(d).ok_or("bad version")?.2;
    }
    let (serial, d) = expect(d, 0x02).ok_or("no serial number")?;
    let d = tlv(d).ok_or("no signature algorithm")?.2;
    let d = tlv(d).ok_or("no issuer")?.2;
    let (validity, d) = expect(d, SEQUENCE).ok_or("no validity")?;
    let (nb, rest) = time(validity).ok_or("bad notBefore")?;
    let (na, _) = time(rest).ok_or("bad notAfter")?;
    let (subject, d) = expect(d, SEQUENCE).ok_or("no subject")?;
    let (_, _, after) = tlv(d).ok_or("no subject public key info")?;
    let spki = &d[..d.len() - after.len()];
    if spki.first() != Some(&SEQUENCE) {
        return Err("bad subject public key info");
    }
    Ok(Fields { serial, not_before: nb, not_after: na, subject, spki })
}

/// A UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as Unix seconds.
fn time(d: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, body, rest) = tlv(d)?;
    let digits = |s: &[u8]| -> Option<i64> { s.iter().try_fold(0i64, |a, c| c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))) };
    let (year, body) = match (tag, body.len()) {
        (0x17, 13) => {
            let y = digits(&body[..2])?;
            (if y < 50 { 2000 + y } else { 1900 + y }, &body[2..])
        }
        (0x18, 15) => (digits(&body[..4])?, &body[4..]),
        _ => return None,
    };
    if body[10] != b'Z' {
        return None;
    }
    let (mo, day, h, mi, s) = (digits(&body[0..2])?, digits(&body[2..4])?, digits(&body[4..6])?, digits(&body[6..8])?, digits(&body[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + s, rest))
}

/// The first common name in the certificate's subject, if it is a string.
pub fn common_name(der: &[u8]) -> Result<String, &'static str> {
    let mut rdns = fields(der)?.subject;
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
        let validity = b"\x30\x1e\x17\x0d700101000000Z\x17\x0d700102000000Z";
        let tbs_body = [&b"\xa0\x03\x02\x01\x02\x02\x01\x01\x30\x00\x30\x00"[..], validity, &subject, b"\x30\x00"].concat();
        let tbs = [&[SEQUENCE, tbs_body.len() as u8][..], &tbs_body].concat();
        let cert = [&[SEQUENCE, tbs.len() as u8][..], &tbs].concat();
        assert_eq!(common_name(&cert).unwrap(), "node:e1");
        let f = fields(&cert).unwrap();
        assert_eq!((f.serial, f.not_before, f.not_after, f.spki), (&[1u8][..], 0, 86_400, &b"\x30\x00"[..]));
        for cut in 0..cert.len() {
            let _ = common_name(&cert[..cut]);
        }
    }
}
