//! The `:authority` mend in front of DMI's HTTP/2 server. gRPC clients on a
//! unix socket (grpc-go's passthrough resolver, which every KubeEdge mapper
//! uses, and grpcio's `unix://` channels) send the socket path,
//! percent-encoded, as `:authority` (`%2Fetc%2Fkubeedge%2Fdmi.sock`). The h2
//! crate under hyper parses it as a URI authority and resets the stream
//! (PROTOCOL_ERROR), so every real mapper would be refused.
//!
//! This module sits between the mapper's connection and hyper's: the
//! server's side is copied untouched; on the client's side every header
//! block (HEADERS and its CONTINUATIONs) is decoded with the connection's
//! HPACK decoder, an `:authority` that is not a plain host is replaced by
//! `localhost`, and the block is encoded again with an encoder whose table
//! matches h2's decoder (both start at HPACK's 4,096 bytes and only the
//! encoder here ever writes to the server). Every other frame passes
//! through as it came.
//!
//! Owns: the rewriting of one connection's client-to-server frames. Must
//! not interpret requests (that is the gRPC service's job).

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};

/// HTTP/2's connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The largest frame payload a peer must accept without settings (§4.2);
/// what is written here never exceeds it.
const MAX_FRAME: usize = 16_384;
/// A header block larger than this (all its frames) ends the connection.
const MAX_BLOCK: usize = 64 << 10;
/// A header list that decodes to more than this ends the connection (a
/// gRPC request's is a few hundred bytes).
const MAX_LIST: usize = 16 << 10;

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

async fn read_frame(r: &mut (impl AsyncRead + Unpin), max: usize) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 9];
    match r.read_exact(&mut head).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    if len > max {
        return Err(bad(format!("a frame of {len} bytes (at most {max})")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    Ok(Some(Frame { kind: head[3], flags: head[4], stream, payload }))
}

/// `read`, or a TimedOut error after `idle`.
async fn within<T>(idle: Duration, read: impl std::future::Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    let late = async {
        smol::Timer::after(idle).await;
        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("HTTP/2 from a mapper: nothing for {} s", idle.as_secs())))
    };
    read.or(late).await
}

fn put_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("HTTP/2 from a mapper: {what}"))
}

/// An `:authority` h2 accepts: a host (name, IPv4 or bracketed IPv6) and an
/// optional port, nothing percent-encoded and no path.
fn plain_authority(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(b))
}

/// The header block of a HEADERS frame without its padding and priority:
/// (priority bytes, fragment).
fn split_headers(f: &Frame) -> std::io::Result<(Vec<u8>, &[u8])> {
    let mut p = &f.payload[..];
    let mut pad = 0;
    if f.flags & PADDED != 0 {
        let (&n, rest) = p.split_first().ok_or_else(|| bad("HEADERS without its pad length".into()))?;
        (pad, p) = (n as usize, rest);
    }
    let mut priority = Vec::new();
    if f.flags & PRIORITY != 0 {
        if p.len() < 5 {
            return Err(bad("HEADERS with a short priority".into()));
        }
        priority = p[..5].to_vec();
        p = &p[5..];
    }
    if pad > p.len() {
        return Err(bad("HEADERS padded beyond its length".into()));
    }
    Ok((priority, &p[..p.len() - pad]))
}

/// One connection's header rewriting state.
pub struct Mend {
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
}

impl Default for Mend {
    fn default() -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        // HPACK's default, which h2 announces too: a client may not grow
        // the table beyond it.
        decoder.set_max_allowed_table_size(4096);
        Mend { decoder, encoder: loona_hpack::Encoder::new() }
    }
}

impl Mend {
    /// The block again, with a plain `:authority`. A block that decodes to
    /// more than MAX_LIST (references to one large table entry repeated)
    /// ends the connection.
    pub fn block(&mut self, block: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut size = 0usize;
        self.decoder
            .decode_with_cb(block, |name, value| {
                // RFC 9113 §6.5.2's size: name + value + 32 per field.
                size += name.len() + value.len() + 32;
                if size <= MAX_LIST {
                    headers.push((name.into_owned(), value.into_owned()));
                }
            })
            .map_err(|e| bad(format!("header block: {e:?}")))?;
        if size > MAX_LIST {
            return Err(bad(format!("a header list of {size} bytes (at most {MAX_LIST})")));
        }
        for (name, value) in headers.iter_mut() {
            if name == b":authority" && !plain_authority(value) {
                *value = b"localhost".to_vec();
            }
        }
        Ok(self.encoder.encode(headers.iter().map(|(n, v)| (&n[..], &v[..]))))
    }
}

/// Copy frames from a mapper (`from`) to hyper (`to`) until either side
/// closes, mending each header block; a mapper silent for `idle` is an
/// error.
pub async fn forward(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, idle: Duration) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    within(idle, from.read_exact(&mut preface)).await?;
    if &preface != PREFACE {
        return Err(bad("no HTTP/2 preface (is the client speaking gRPC?)".into()));
    }
    to.write_all(PREFACE).await?;
    let mut mend = Mend::default();
    // Frames larger than 16 KiB are refused by hyper anyway (its default
    // SETTINGS_MAX_FRAME_SIZE); this bounds what is read here.
    while let Some(f) = within(idle, read_frame(&mut from, MAX_FRAME)).await? {
        let mut out = Vec::with_capacity(f.payload.len() + 9);
        if f.kind != HEADERS {
            put_frame(&mut out, f.kind, f.flags, f.stream, &f.payload);
            to.write_all(&out).await?;
            continue;
        }
        let (priority, fragment) = split_headers(&f)?;
        let mut block = fragment.to_vec();
        let mut end = f.flags & END_HEADERS != 0;
        while !end {
            let c = within(idle, read_frame(&mut from, MAX_FRAME)).await?.ok_or_else(|| bad("closed inside a header block".into()))?;
            if c.kind != CONTINUATION || c.stream != f.stream {
                return Err(bad(format!("frame type {} inside a header block (CONTINUATION expected)", c.kind)));
            }
            block.extend_from_slice(&c.payload);
            if block.len() > MAX_BLOCK {
                return Err(bad(format!("a header block over {MAX_BLOCK} bytes")));
            }
            end = c.flags & END_HEADERS != 0;
        }
        let block = mend.block(&block)?;
        // HEADERS carries the priority and as much of the block as fits,
        // CONTINUATIONs the rest; END_HEADERS on the last one.
        let room = MAX_FRAME - priority.len();
        let (first, mut rest) = block.split_at(block.len().min(room));
        let flags = (f.flags & (END_STREAM | PRIORITY)) | if rest.is_empty() { END_HEADERS } else { 0 };
        put_frame(&mut out, HEADERS, flags, f.stream, &[&priority[..], first].concat());
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_FRAME));
            rest = tail;
            put_frame(&mut out, CONTINUATION, if rest.is_empty() { END_HEADERS } else { 0 }, f.stream, chunk);
        }
        to.write_all(&out).await?;
    }
    to.close().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn headers_frame(enc: &mut loona_hpack::Encoder<'_>, authority: &str, flags: u8) -> Vec<u8> {
        let block = enc.encode([
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":path", b"/v1beta1.DeviceManagerService/MapperRegister"),
            (b":authority", authority.as_bytes()),
        ]);
        let mut out = Vec::new();
        put_frame(&mut out, HEADERS, flags | END_HEADERS, 1, &block);
        out
    }

    fn decoded(bytes: &[u8], dec: &mut loona_hpack::Decoder<'_>) -> Vec<(String, String)> {
        let f = smol::block_on(read_frame(&mut &bytes[..], MAX_FRAME)).unwrap().unwrap();
        assert_eq!(f.kind, HEADERS);
        let (_, block) = split_headers(&f).unwrap();
        dec.decode(block).unwrap().into_iter().map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap())).collect()
    }

    #[test]
    fn a_percent_encoded_socket_path_becomes_localhost_and_a_host_is_kept() {
        let mut input = PREFACE.to_vec();
        let mut enc = loona_hpack::Encoder::new();
        input.extend(headers_frame(&mut enc, "%2Fetc%2Fkubeedge%2Fdmi.sock", END_STREAM));
        input.extend(headers_frame(&mut enc, "edge-1:8080", 0));
        let mut out = Vec::new();
        smol::block_on(forward(&input[..], &mut out, T)).unwrap();
        assert_eq!(&out[..24], PREFACE);
        let mut dec = loona_hpack::Decoder::new();
        let first = decoded(&out[24..], &mut dec);
        assert!(first.contains(&(":authority".into(), "localhost".into())), "{first:?}");
        assert!(first.contains(&(":path".into(), "/v1beta1.DeviceManagerService/MapperRegister".into())));
        let len = u32::from_be_bytes([0, out[24], out[25], out[26]]) as usize;
        assert_eq!(out[24 + 4] & END_STREAM, END_STREAM, "END_STREAM kept");
        let second = decoded(&out[24 + 9 + len..], &mut dec);
        assert!(second.contains(&(":authority".into(), "edge-1:8080".into())), "{second:?}");
    }

    #[test]
    fn a_block_split_over_continuations_and_padding_is_read_whole() {
        let mut enc = loona_hpack::Encoder::new();
        let block = enc.encode([(&b":method"[..], &b"POST"[..]), (b":authority", b"tmp%2Fdmi.sock"), (b"x-long", &[b'a'; 100][..])]);
        let (a, b) = block.split_at(10);
        let mut input = PREFACE.to_vec();
        let mut padded = vec![3u8];
        padded.extend_from_slice(a);
        padded.extend_from_slice(&[0, 0, 0]);
        put_frame(&mut input, HEADERS, PADDED, 3, &padded);
        put_frame(&mut input, CONTINUATION, END_HEADERS, 3, b);
        let mut out = Vec::new();
        smol::block_on(forward(&input[..], &mut out, T)).unwrap();
        let got = decoded(&out[24..], &mut loona_hpack::Decoder::new());
        assert_eq!(got[1], (":authority".into(), "localhost".into()));
        assert_eq!(got[2].1.len(), 100);
    }

    #[test]
    fn a_block_that_decodes_to_megabytes_or_grows_the_table_is_refused() {
        // One 4 KiB entry into the table, then a block of one-byte references to it.
        let mut enc = loona_hpack::Encoder::new();
        let big = vec![b'a'; 4000];
        let mut block = enc.encode([(&b"x-big"[..], &big[..])]);
        block.extend(std::iter::repeat_n(0xbe, 20_000)); // indexed field 62: the newest table entry
        let mut input = PREFACE.to_vec();
        let (a, rest) = block.split_at(MAX_FRAME);
        put_frame(&mut input, HEADERS, 0, 1, a);
        put_frame(&mut input, CONTINUATION, END_HEADERS, 1, rest);
        let e = smol::block_on(forward(&input[..], &mut Vec::new(), T)).unwrap_err();
        assert!(e.to_string().contains("header list of"), "{e}");
        // A dynamic table size update to 1 MiB (0x3f, then 2^20 - 31 as HPACK's integer).
        let mut input = PREFACE.to_vec();
        put_frame(&mut input, HEADERS, END_HEADERS, 1, &[0x3f, 0xe1, 0xff, 0x3f, 0x82]);
        let e = smol::block_on(forward(&input[..], &mut Vec::new(), T)).unwrap_err();
        assert!(e.to_string().contains("header block"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_naming_it_not_a_panic() {
        let mut out = Vec::new();
        let e = smol::block_on(forward(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], &mut out, T)).unwrap_err();
        assert!(e.to_string().contains("preface"), "{e}");
        let mut input = PREFACE.to_vec();
        put_frame(&mut input, HEADERS, END_HEADERS | PADDED, 1, &[200, 1, 2]);
        let e = smol::block_on(forward(&input[..], &mut out, T)).unwrap_err();
        assert!(e.to_string().contains("padded"), "{e}");
        let mut input = PREFACE.to_vec();
        put_frame(&mut input, HEADERS, 0, 1, &[0x82]);
        put_frame(&mut input, 0x0, 0, 1, b"data");
        let e = smol::block_on(forward(&input[..], &mut out, T)).unwrap_err();
        assert!(e.to_string().contains("CONTINUATION"), "{e}");
    }
}
