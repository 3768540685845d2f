//! The part of SPDY/3.1 that `kubectl port-forward` uses, server side:
//! frames cut from a byte stream (kubectl 1.31+ carries it inside websocket
//! binary messages, older kubectl on the upgraded connection itself), and
//! header blocks: zlib with SPDY's preset dictionary from the client,
//! stored (uncompressed) deflate blocks from us, each header block ended
//! as a zlib sync flush ends, which any zlib reads.
//!
//! Owns: that codec. Must not know pods, streams or sockets.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// SPDY/3's header dictionary (the protocol's constant, 1423 bytes).
const DICTIONARY: &[u8] = include_bytes!("spdy3.dict");
/// Its Adler-32, as a client's zlib header names it.
const DICTIONARY_ID: u32 = 0xe3c6_a7c2;
/// Most header bytes one connection may send in all (they are kept as history).
const MAX_HEADER_HISTORY: usize = 1 << 20;
/// Largest frame taken.
pub const MAX_FRAME: usize = 1 << 20;

pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;
pub const FLAG_FIN: u8 = 1;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Control { kind: u16, flags: u8, body: Vec<u8> },
    Data { stream: u32, flags: u8, data: Vec<u8> },
}

/// Cut the next whole frame off the front of `buf`, if there is one.
pub fn next_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
    if len > MAX_FRAME {
        return Err(format!("SPDY frame of {len} bytes is over the limit of {MAX_FRAME}"));
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let flags = buf[4];
    let head = [buf[0], buf[1], buf[2], buf[3]];
    let body = buf[8..8 + len].to_vec();
    buf.drain(..8 + len);
    if head[0] & 0x80 != 0 {
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != 3 {
            return Err(format!("SPDY version {version}; only 3 is spoken"));
        }
        Ok(Some(Frame::Control { kind: u16::from_be_bytes([head[2], head[3]]), flags, body }))
    } else {
        Ok(Some(Frame::Data { stream: u32::from_be_bytes(head) & 0x7fff_ffff, flags, data: body }))
    }
}

pub fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80, 3];
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(body);
    f
}

pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

/// The first 4 bytes of a body: a stream id.
pub fn stream_id(body: &[u8]) -> Result<u32, String> {
    body.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff).ok_or_else(|| "SPDY control frame too short".to_string())
}

/// One connection's header codec, both directions.
pub struct Headers {
    inflater: Box<DecompressorOxide>,
    /// Dictionary + everything inflated so far (back-references reach into it).
    history: Vec<u8>,
    read_started: bool,
    write_started: bool,
}

impl Default for Headers {
    fn default() -> Self {
        Headers { inflater: Box::default(), history: DICTIONARY.to_vec(), read_started: false, write_started: false }
    }
}

impl Headers {
    /// A client's header block → its (name, value) pairs.
    pub fn decode(&mut self, mut block: &[u8]) -> Result<Vec<(String, String)>, String> {
        if !self.read_started {
            let (cmf, flg) = match block {
                [a, b, ..] => (*a, *b),
                _ => return Err("SPDY header block without its zlib header".into()),
            };
            if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err("SPDY header block is not zlib".into());
            }
            block = &block[2..];
            if flg & 0x20 != 0 {
                let id = block.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or("zlib header cut short")?;
                if id != DICTIONARY_ID {
                    return Err(format!("SPDY headers use dictionary {id:#x}, not SPDY/3's"));
                }
                block = &block[4..];
            }
            self.read_started = true;
        }
        let start = self.history.len();
        loop {
            let pos = self.history.len();
            if pos > MAX_HEADER_HISTORY + DICTIONARY.len() {
                return Err("too many SPDY headers on one connection".into());
            }
            self.history.resize(pos + 4096, 0);
            let flags = inflate_flags::TINFL_FLAG_HAS_MORE_INPUT | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
            let (status, used, out) = decompress(&mut self.inflater, block, &mut self.history, pos, flags);
            self.history.truncate(pos + out);
            block = &block[used..];
            match status {
                TINFLStatus::HasMoreOutput => continue,
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done => break,
                e => return Err(format!("SPDY header block does not inflate: {e:?}")),
            }
        }
        parse_pairs(&self.history[start..])
    }

    /// Our header block for `pairs`: stored deflate blocks in one zlib stream.
    pub fn encode(&mut self, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (pairs.len() as u32).to_be_bytes().to_vec();
        for (k, v) in pairs {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 8);
        if !std::mem::replace(&mut self.write_started, true) {
            out.extend_from_slice(&[0x78, 0x01]);
        }
        for part in raw.chunks(65_535) {
            let n = part.len() as u16;
            out.push(0); // not final, stored
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(part);
        }
        // An empty stored block, as zlib's sync flush ends with: Go's reader
        // hands out what it has on reaching it instead of reading past the frame.
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        out
    }
}

fn parse_pairs(b: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut at = 0;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = b.get(at..at + n).ok_or("SPDY header block cut short")?;
        at += n;
        Ok(s)
    };
    let word = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
    let count = word(take(4)?);
    let mut out = Vec::new();
    for _ in 0..count.min(256) {
        let k = take(4).map(word)?;
        let k = String::from_utf8_lossy(take(k)?).into_owned();
        let v = take(4).map(word)?;
        let v = String::from_utf8_lossy(take(v)?).into_owned();
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        let (mut a, mut b) = (1u32, 0u32);
        for x in DICTIONARY {
            a = (a + u32::from(*x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, DICTIONARY_ID);
        assert_eq!(DICTIONARY.len(), 1423);
    }

    #[test]
    fn headers_from_a_dictionary_zlib_stream_and_ours_round_trip() {
        // Python: zlib.compressobj(9, zdict=SPDY/3 dictionary), two blocks, each Z_SYNC_FLUSH.
        let z1: &[u8] = &hex("78f9e3c6a7c202253a48f95b044eea16061606409ab308125f99a074cc68004e892545a989b9d0c2863515141500000000ffff");
        let z2: &[u8] = &hex("225333a8a44a04000000ffff");
        let mut h = Headers::default();
        let first = h.decode(z1).unwrap();
        assert_eq!(first, vec![("port".into(), "8080".into()), ("requestid".into(), "0".into()), ("streamtype".into(), "error".into())]);
        let second = h.decode(z2).unwrap();
        assert_eq!(second[2], ("streamtype".into(), "data".into()));
        // Ours, read back by our own reader (any zlib reads stored blocks).
        let mut ours = Headers::default();
        let mut back = Headers::default();
        for _ in 0..2 {
            let block = ours.encode(&[("a", "b"), ("port", "8080")]);
            assert_eq!(back.decode(&block).unwrap(), vec![("a".into(), "b".into()), ("port".into(), "8080".into())]);
        }
        assert!(Headers::default().decode(b"\x00\x01junk").is_err());
    }

    #[test]
    fn frames_are_cut_from_a_byte_stream() {
        let mut buf = control(SYN_REPLY, 0, &[0, 0, 0, 1, 0, 0, 0, 0]);
        buf.extend(data(3, FLAG_FIN, b"hello"));
        let whole = buf.clone();
        let mut partial = whole[..20].to_vec();
        assert!(matches!(next_frame(&mut partial), Ok(Some(Frame::Control { kind: SYN_REPLY, .. }))));
        assert_eq!(next_frame(&mut partial), Ok(None), "half a data frame waits");
        assert!(matches!(next_frame(&mut buf), Ok(Some(Frame::Control { kind: SYN_REPLY, flags: 0, .. }))));
        assert_eq!(next_frame(&mut buf), Ok(Some(Frame::Data { stream: 3, flags: FLAG_FIN, data: b"hello".to_vec() })));
        let mut huge = vec![0x80, 3, 0, 1, 0, 0xff, 0xff, 0xff];
        assert!(next_frame(&mut huge).is_err());
        let mut v2 = control(PING, 0, &[0, 0, 0, 1]);
        v2[1] = 2;
        assert!(next_frame(&mut v2).is_err());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
