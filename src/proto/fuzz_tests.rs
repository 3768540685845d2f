//! Fuzzing the tunnel's frame decoder (bytes from any TLS peer with a
//! node certificate): never a panic, and whatever decodes encodes back to
//! a frame that decodes to the same value.

use super::frame::{decode, encode, Frame, FrameError, Hello, ObjectChange, Welcome};
use crate::core::Message;
use crate::fuzz::Fuzzer;

fn seeds() -> Vec<Vec<u8>> {
    let m = Message::new("edgehub", "twin", "default/device/d1/twin/temp", "report", b"{\"v\":1}".to_vec());
    [
        Frame::Hello(Hello { hive_version: "0.1.0".into(), arch: "aarch64".into(), inventory: vec![("default/pod/web".into(), 7)] }),
        Frame::Welcome(Welcome { hive_version: "0.1.0".into(), node: "edge-1".into(), up_applied: 1 << 32 }),
        Frame::Message(m.clone()),
        Frame::Object(ObjectChange { key: "default/configmap/c".into(), version: 3, content: Some(b"{}".to_vec()) }),
        Frame::Object(ObjectChange { key: "default/pod/gone".into(), version: 4, content: None }),
        Frame::ObjectAck { key: "default/pod/web".into(), version: 7 },
        Frame::Up { seq: (2 << 32) + 5, msg: m },
        Frame::UpAck { seq: 99 },
    ]
    .iter()
    .map(|f| encode(f, 1 << 20).unwrap())
    .collect()
}

#[test]
fn tunnel_frames_never_panic_and_what_decodes_round_trips() {
    let mut f = Fuzzer::new("frames", seeds());
    f.run(|bytes| match decode(bytes, 1 << 20) {
        Ok(frame) => {
            let again = encode(&frame, 1 << 21).expect("a decoded frame encodes");
            assert_eq!(decode(&again, 1 << 21).as_ref(), Ok(&frame), "round trip");
            format!("ok {:?}", std::mem::discriminant(&frame))
        }
        Err(FrameError::TooLarge { .. }) => "too large".into(),
        Err(FrameError::WrongVersion(_)) => "wrong version".into(),
        // The decoder's own words, without the numbers in them.
        Err(FrameError::Malformed(m)) => m.split(|c: char| c.is_ascii_digit() || c == '(' || c == '{').next().unwrap_or("").chars().take(48).collect(),
    });
    assert!(f.outcomes.len() >= 6, "the fuzzer reached only {:?}", f.outcomes);
}
