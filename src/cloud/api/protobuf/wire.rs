//! The protobuf wire format, read only: a message is a run of fields, each
//! a key (field number and wire type) and a value (a varint, 8 or 4 fixed
//! bytes, or length-delimited bytes). Bounds are checked on every read.
//!
//! Owns: splitting bytes into fields. Must not know any Kubernetes type
//! (schema.rs) or JSON (convert.rs).

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl Wire<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "a varint",
            Wire::Fixed64(_) => "a 64-bit value",
            Wire::Fixed32(_) => "a 32-bit value",
            Wire::Bytes(_) => "length-delimited bytes",
        }
    }
}

/// Fields of one message, in wire order.
pub struct Fields<'a> {
    rest: &'a [u8],
}

pub fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { rest: bytes }
}

fn varint(b: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&byte, rest) = b.split_first().ok_or("a varint runs past the end")?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a varint is longer than 10 bytes".into())
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err(format!("a value of {n} bytes runs past the end ({} left)", b.len()));
    }
    let (v, rest) = b.split_at(n);
    *b = rest;
    Ok(v)
}

impl<'a> Iterator for Fields<'a> {
    /// (field number, value), or what is malformed.
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = (|| {
            let key = varint(&mut self.rest)?;
            let no = u32::try_from(key >> 3).ok().filter(|n| *n > 0).ok_or_else(|| format!("field number {} is out of range", key >> 3))?;
            let value = match key & 7 {
                0 => Wire::Varint(varint(&mut self.rest)?),
                1 => Wire::Fixed64(u64::from_le_bytes(take(&mut self.rest, 8)?.try_into().unwrap_or_default())),
                2 => {
                    let n = usize::try_from(varint(&mut self.rest)?).map_err(|_| "a length is out of range".to_string())?;
                    Wire::Bytes(take(&mut self.rest, n)?)
                }
                5 => Wire::Fixed32(u32::from_le_bytes(take(&mut self.rest, 4)?.try_into().unwrap_or_default())),
                t => return Err(format!("field {no} has wire type {t}, which this decoder does not read (groups are not used by Kubernetes)")),
            };
            Ok((no, value))
        })();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type_and_refuses_truncation() {
        // field 1 varint 300, field 2 bytes "hi", field 3 fixed32, field 4 fixed64
        let b = [0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x1d, 1, 0, 0, 0, 0x21, 2, 0, 0, 0, 0, 0, 0, 0];
        let got: Vec<_> = fields(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, vec![(1, Wire::Varint(300)), (2, Wire::Bytes(b"hi")), (3, Wire::Fixed32(1)), (4, Wire::Fixed64(2))]);
        for cut in 1..b.len() {
            let r: Result<Vec<_>, _> = fields(&b[..cut]).collect();
            if ![3, 7, 12].contains(&cut) {
                assert!(r.is_err(), "cut at {cut} must be refused");
            }
        }
        assert!(fields(&[0x0b]).next().unwrap().is_err(), "groups");
        assert!(fields(&[0x00, 0]).next().unwrap().is_err(), "field 0");
        assert!(fields(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).next().unwrap().is_err(), "11-byte varint");
    }
}
