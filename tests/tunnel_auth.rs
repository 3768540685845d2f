//! CloudHub refuses what it must: no certificate, a foreign CA, an expired
//! certificate, garbage, oversize frames, frames of a future version — and
//! keeps serving everyone else. Real cloud process, real TLS on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message as WsMessage;
use futures_rustls::TlsConnector;
use futures_util::StreamExt;
use hive::proto::{encode, Frame, Hello};
use hive::tls::{self, CertAuthority};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;

use common::Site;

type Wss = async_tungstenite::WebSocketStream<futures_rustls::client::TlsStream<TcpStream>>;

/// Connect with `cfg` and do the websocket upgrade; Err(text) on any failure.
async fn dial(port: u16, cfg: Arc<rustls::ClientConfig>) -> Result<Wss, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(cfg).connect(tls::server_name("127.0.0.1").unwrap(), tcp).await.map_err(|e| format!("tls: {e}"))?;
    let (ws, _) = async_tungstenite::client_async(format!("wss://127.0.0.1:{port}/hive/v1/tunnel"), tls).await.map_err(|e| format!("ws: {e}"))?;
    Ok(ws)
}

/// Dial, say Hello, and expect Welcome.
async fn join(port: u16, cfg: Arc<rustls::ClientConfig>) -> Result<Wss, String> {
    let mut ws = dial(port, cfg).await?;
    let hello = Frame::Hello(Hello { hive_version: "test".into(), arch: "test".into(), inventory: vec![] });
    ws.send(WsMessage::Binary(encode(&hello, 1 << 20).unwrap().into())).await.map_err(|e| e.to_string())?;
    match ws.next().await {
        Some(Ok(WsMessage::Binary(b))) => match hive::proto::decode(&b, 1 << 20) {
            Ok(Frame::Welcome(_)) => Ok(ws),
            other => Err(format!("not welcome: {other:?}")),
        },
        other => Err(format!("no welcome: {other:?}")),
    }
}

fn creds(dir: &std::path::Path) -> (String, String, String) {
    let r = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    (r("ca.pem"), r("node.pem"), r("node.key"))
}

/// After a refusal the connection must be closed by the cloud.
async fn closed_by_cloud(ws: &mut Wss) -> Option<String> {
    for _ in 0..10 {
        match hive::core::timeout(Duration::from_secs(5), ws.next()).await {
            Some(Some(Ok(WsMessage::Close(c)))) => return Some(c.map(|c| c.reason.to_string()).unwrap_or_default()),
            Some(Some(Ok(_))) => continue,
            Some(Some(Err(e))) => return Some(e.to_string()),
            Some(None) => return Some("eof".into()),
            None => return None,
        }
    }
    None
}

#[test]
fn refusals_and_the_cloud_keeps_serving() {
    let site = Site::new();
    let (mut cloud, port) = site.start_cloud("max_frame_bytes = 65536\nhandshake_timeout_ms = 2000");

    let good = site.node_cert("good-1");
    let (ca, cert, key) = creds(&good);
    let good_cfg = tls::client_config(&ca, &cert, &key).unwrap();

    smol::block_on(async {
        // 1. No client certificate.
        let r = join(port, tls::anonymous_client_config(&ca).unwrap()).await;
        assert!(r.is_err(), "anonymous client was let in");
        cloud.wait_for("refused connection", Duration::from_secs(5));

        // 2. A certificate from another CA.
        let other_dir = site.path().join("other-ca");
        let other = CertAuthority::load_or_create(&other_dir).unwrap();
        let (ocert, okey) = other.issue_node("good-1", 30).unwrap();
        let r = join(port, tls::client_config(&ca, &ocert, &okey).unwrap()).await;
        assert!(r.is_err(), "foreign CA was let in");

        // 3. An expired certificate from the right CA.
        let cloud_ca = CertAuthority::load(&site.path().join("cloud")).unwrap();
        let (xcert, xkey) = cloud_ca.issue_node("expired-1", -2).unwrap();
        let r = join(port, tls::client_config(&ca, &xcert, &xkey).unwrap()).await;
        assert!(r.is_err(), "expired certificate was let in");

        // 4. Garbage instead of TLS.
        let mut raw = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02garbage").await.unwrap();
        let mut buf = [0u8; 64];
        let n = hive::core::timeout(Duration::from_secs(5), smol::io::AsyncReadExt::read(&mut raw, &mut buf)).await;
        assert!(matches!(n, Some(Ok(_)) | Some(Err(_))), "cloud neither answered nor closed");

        // 5. Valid node, then a frame over the cap: closed with a reason.
        let mut ws = join(port, good_cfg.clone()).await.expect("good node joins");
        let big = vec![0u8; 200_000];
        let _ = ws.send(WsMessage::Binary(big.into())).await;
        assert!(closed_by_cloud(&mut ws).await.is_some(), "oversize frame did not close the connection");
        cloud.wait_for("node good-1", Duration::from_secs(5));

        // 6. A frame of a future protocol version.
        let mut ws = join(port, good_cfg.clone()).await.expect("good node joins again");
        let mut future = bincode::encode_to_vec(99u16, bincode::config::standard()).unwrap();
        future.extend_from_slice(&[0, 1, 2, 3]);
        ws.send(WsMessage::Binary(future.into())).await.unwrap();
        let reason = closed_by_cloud(&mut ws).await.expect("future version must close");
        assert!(reason.contains("version 99") || reason.is_empty() || reason == "eof", "{reason}");
        cloud.wait_for("frame of protocol version 99", Duration::from_secs(5));

        // 7. Undecodable bytes in a binary message.
        let mut ws = join(port, good_cfg.clone()).await.expect("good node joins again");
        ws.send(WsMessage::Binary(vec![1, 0, 0xff, 0xff, 0xff].into())).await.unwrap();
        assert!(closed_by_cloud(&mut ws).await.is_some());
        cloud.wait_for("undecodable frame", Duration::from_secs(5));

        // 8. A text message.
        let mut ws = join(port, good_cfg.clone()).await.expect("good node joins again");
        ws.send(WsMessage::Text("hello".into())).await.unwrap();
        assert!(closed_by_cloud(&mut ws).await.is_some());

        // 9. A TCP connection that never handshakes is dropped after the timeout.
        let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let n = hive::core::timeout(Duration::from_secs(6), smol::io::AsyncReadExt::read(&mut idle, &mut buf)).await;
        assert!(matches!(n, Some(Ok(0)) | Some(Err(_))), "idle connection not dropped: {n:?}");
        cloud.wait_for("handshake not done within 2000 ms", Duration::from_secs(5));

        // 10. A second connection of the same node replaces the first.
        let mut first = join(port, good_cfg.clone()).await.expect("first");
        let _second = join(port, good_cfg.clone()).await.expect("second");
        assert!(closed_by_cloud(&mut first).await.is_some(), "first session not closed");
        cloud.wait_for("replaces the existing session", Duration::from_secs(5));

        // 11. Two edges with one certificate: after a few takeovers of a live
        // session, newcomers are refused (logged once) instead of flapping.
        let twin = site.node_cert("twin-1");
        let (ca2, cert2, key2) = creds(&twin);
        let twin_cfg = tls::client_config(&ca2, &cert2, &key2).unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(join(port, twin_cfg.clone()).await.expect("takeover"));
        }
        let r = join(port, twin_cfg.clone()).await;
        assert!(r.is_err(), "a fifth takeover within a minute was let in");
        cloud.wait_for("two edges seem to use the certificate of node twin-1", Duration::from_secs(5));
        let _ = join(port, twin_cfg.clone()).await;
        let twice = cloud.drain().iter().filter(|l| l.contains("two edges seem to use")).count();
        assert_eq!(twice, 1, "the twin is logged once, not per attempt");
        drop(held);

        // 12. The tunnel lives at one path; any other is not upgraded.
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let tls = TlsConnector::from(good_cfg.clone()).connect(tls::server_name("127.0.0.1").unwrap(), tcp).await.unwrap();
        let r = async_tungstenite::client_async(format!("wss://127.0.0.1:{port}/elsewhere"), tls).await;
        assert!(matches!(&r, Err(async_tungstenite::tungstenite::Error::Http(resp)) if resp.status() == 404), "{:?}", r.err());
    });

    // After all of that, a real edge process still connects and is Ready.
    let mut edge = site.start_edge("good-1", port, "");
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    cloud.wait_for("node good-1 is Ready", Duration::from_secs(5));
    assert!(!cloud.drain().iter().any(|l| l.contains("panicked")));
    edge.signal("TERM");
    assert_eq!(edge.wait_exit(Duration::from_secs(10)).code(), Some(0));
    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
