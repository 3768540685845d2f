//! The tunnel over QUIC (issue 22), against the same rules as over
//! websocket:
//! - a mixed fleet (two QUIC edges, each behind a UDP fault proxy with 10%
//!   loss, duplication, reordering and delay, and one websocket edge)
//!   converges; every upstream message is applied exactly once and in
//!   order; and each QUIC edge moves to a new source address mid-run
//!   without a new session (connection migration: no resync);
//! - garbage datagrams, a client without a certificate, with another CA's,
//!   or speaking another ALPN are refused, and the listener keeps serving;
//!   a revoked node is told so over QUIC as over TCP.
//!
//! Real TLS, real UDP sockets on 127.0.0.1, real sled files, real processes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::drivers::{app, Applied, Cmd, Probe, Reporter};
use common::inproc::{cloud_config, credentials, edge_config, free_port, InProc};
use common::udp_proxy::{Faults, UdpProxy};
use common::{hive_bin, run, Proc, Site};
use hive::cloud::metrics::SESSIONS_OPENED;
use hive::edge::meta::MetaStore;
use hive::proto::{Frame, Hello};

const CHANGES: usize = 300;
const UPS: usize = 300;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn quic_edges_converge_through_loss_and_migrate_without_a_new_session_beside_a_websocket_edge() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    let (port, quic_port) = (free_port(), free_udp_port());
    let applied = Arc::new(Mutex::new(Applied::default()));
    let (cmd_tx, cmd_rx) = smol::channel::unbounded();
    let (_idle_tx, idle_rx) = smol::channel::unbounded();
    let a = applied.clone();
    let hub = format!("quic = true\nquic_listen = \"127.0.0.1:{quic_port}\"\njoin = false");
    let cloud = InProc::start(cloud_config(&cloud_dir, port, &hub), move |_, _| vec![app(&a, cmd_rx, "app"), app(&a, idle_rx, "nodestatus")]);
    let quic_addr: SocketAddr = format!("127.0.0.1:{quic_port}").parse().unwrap();
    let proxies: Vec<UdpProxy> = (0..2).map(|i| UdpProxy::start(quic_addr, 11 + i)).collect();
    let names = ["quic-0", "quic-1", "ws-0"];
    let (mut edges, mut probes, mut stored) = (Vec::new(), Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        let edir = dir.path().join(name);
        credentials(&cloud_dir, &edir, name);
        let extra = match proxies.get(i) {
            Some(p) => format!("transport = \"quic\"\nquic_server = \"127.0.0.1:{}\"", p.port),
            None => String::new(),
        };
        let (seen, count) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(0)));
        let (s, c) = (seen.clone(), count.clone());
        edges.push(InProc::start(edge_config(&edir, port, &extra), move |_, _| vec![Box::new(Reporter { n: UPS, stored: c }), Box::new(Probe { seen: s })]));
        probes.push(seen);
        stored.push(count);
    }
    // Faults start once every edge has its session: the session count must not move after.
    let deadline = Instant::now() + Duration::from_secs(20);
    while SESSIONS_OPENED.get() < 3 {
        assert!(Instant::now() < deadline, "only {} of 3 edges connected", SESSIONS_OPENED.get());
        std::thread::sleep(Duration::from_millis(20));
    }
    let sessions = SESSIONS_OPENED.get();
    for p in &proxies {
        p.set(Faults { loss: 0.10, dup: 0.03, reorder: 0.05, delay: Duration::from_millis(2) });
    }

    let mut expected: HashMap<String, BTreeMap<String, Vec<u8>>> = HashMap::new();
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..CHANGES {
        for node in names {
            let key = format!("default/configmap/c{}", rng.usize(0..30));
            let set = expected.entry(node.to_string()).or_default();
            if round % 10 == 9 && set.contains_key(&key) {
                set.remove(&key);
                cmd_tx.send_blocking(Cmd::Delete(node.into(), key)).unwrap();
            } else {
                let body = format!("{{\"round\":{round},\"node\":\"{node}\"}}").into_bytes();
                set.insert(key.clone(), body.clone());
                cmd_tx.send_blocking(Cmd::Upsert(node.into(), key, body)).unwrap();
            }
        }
        if round % 30 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
        // Each QUIC edge's address changes mid-run.
        if round == CHANGES / 3 || round == 2 * CHANGES / 3 {
            proxies[if round == CHANGES / 3 { 0 } else { 1 }].migrate();
        }
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let objects_ok = names.iter().enumerate().all(|(i, n)| {
            let want: Vec<&String> = expected[*n].keys().collect();
            let mut have: Vec<String> = probes[i].lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
            have.sort();
            have.iter().collect::<Vec<_>>() == want
        });
        let ups_ok = {
            let a = applied.lock().unwrap();
            names.iter().all(|n| a.events.get(*n).map(|v| v.len()).unwrap_or(0) >= UPS)
        };
        if objects_ok && ups_ok {
            break;
        }
        if Instant::now() > deadline {
            let a = applied.lock().unwrap();
            panic!(
                "no convergence: events applied {:?}, stored {:?}, probe sizes {:?}",
                names.iter().map(|n| a.events.get(*n).map(|v| v.len())).collect::<Vec<_>>(),
                stored.iter().map(|s| *s.lock().unwrap()).collect::<Vec<_>>(),
                probes.iter().map(|p| p.lock().unwrap().len()).collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(SESSIONS_OPENED.get(), sessions, "a migration or the losses cost a new session (a resync)");
    for p in &proxies {
        assert!(p.dropped() > 20, "the proxy dropped only {} datagrams", p.dropped());
        p.set(Faults::default());
    }
    std::thread::sleep(Duration::from_millis(500));
    for e in edges {
        assert_eq!(e.stop(), 0);
    }
    assert_eq!(cloud.stop(), 0);

    let a = applied.lock().unwrap();
    for node in names {
        let want: Vec<String> = (0..UPS).map(|n| format!("e{n}")).collect();
        assert_eq!(a.events[node], want, "{node}: events not exactly once in order");
    }
    let cdb = hive::store::open(&cloud_dir, 1 << 20).unwrap();
    let sync = hive::cloud::sync::ObjectSync::open(&cdb).unwrap();
    for node in names {
        let edb = hive::store::open(&dir.path().join(node), 1 << 20).unwrap();
        let meta = MetaStore::open(&edb).unwrap();
        let inv = meta.inventory().unwrap();
        assert_eq!(inv.len(), expected[node].len(), "{node}: object count");
        for (key, version) in inv {
            let (cv, content) = sync.get(node, &key).unwrap().expect("cloud has it");
            assert_eq!(version, cv, "{node} {key}: latest version");
            assert_eq!(&content, &expected[node][&key], "{node} {key}: content");
        }
    }
}

/// A QUIC connection with `tls` (as `alpn`), then Hello; Ok once Welcome came.
async fn hello_over_quic(addr: SocketAddr, tls: Arc<rustls::ClientConfig>, alpn: &[u8]) -> Result<(), String> {
    let mut c = (*tls).clone();
    c.alpn_protocols = vec![alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(c)).map_err(|e| e.to_string())?;
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
    let conn =
        endpoint.connect_with(quinn::ClientConfig::new(Arc::new(crypto)), addr, "127.0.0.1").map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())?;
    let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let mut link = hive::proto::quic::QuicStream::new(conn, send, recv).into_link(false, 1 << 20);
    let hello = Frame::Hello(Hello { hive_version: "test".into(), arch: "test".into(), inventory: vec![] });
    hive::proto::ws::send(&mut link, &hello, 1 << 20).await?;
    match hive::core::timeout(Duration::from_secs(5), hive::proto::ws::recv(&mut link, 1 << 20)).await {
        Some(hive::proto::ws::Incoming::Frame(Frame::Welcome(_))) => Ok(()),
        Some(hive::proto::ws::Incoming::Closed(why) | hive::proto::ws::Incoming::Bad(why)) => Err(why),
        other => Err(format!("no Welcome: {}", other.is_some())),
    }
}

fn creds(dir: &std::path::Path) -> (String, String, String) {
    let r = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    (r("ca.pem"), r("node.pem"), r("node.key"))
}

#[test]
fn quic_refuses_strangers_keeps_serving_and_tells_a_revoked_node() {
    let site = Site::new();
    let (mut cloud, port) = site.start_cloud("handshake_timeout_ms = 3000\nquic_listen = \"127.0.0.1:0\"");
    let line = cloud.wait_for("QUIC on UDP", Duration::from_secs(5));
    let quic: SocketAddr = line
        .split("QUIC on UDP ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"));
    let good = site.node_cert("good-1");
    let (ca, cert, key) = creds(&good);
    let good_tls = hive::tls::client_config(&ca, &cert, &key).unwrap();
    smol::block_on(async {
        // Garbage datagrams, of every size up to a full one.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = fastrand::Rng::with_seed(3);
        for n in 0..300 {
            let d: Vec<u8> = (0..rng.usize(1..=1500)).map(|_| rng.u8(..)).collect();
            udp.send_to(&d, quic).unwrap_or_else(|e| panic!("datagram {n}: {e}"));
        }
        // No certificate; another CA's; the right certificate with another ALPN.
        let anonymous = hello_over_quic(quic, hive::tls::anonymous_client_config(&ca).unwrap(), b"hive-tunnel/1").await;
        assert!(anonymous.is_err(), "a client without a certificate got a session");
        let other = hive::tls::CertAuthority::load_or_create(&site.path().join("other-ca")).unwrap();
        let (ocert, okey) = other.issue_node("good-1", 30).unwrap();
        let foreign = hello_over_quic(quic, hive::tls::client_config(&ca, &ocert, &okey).unwrap(), b"hive-tunnel/1").await;
        assert!(foreign.is_err(), "another CA's certificate got a session");
        let h3 = hello_over_quic(quic, good_tls.clone(), b"h3").await;
        assert!(h3.is_err(), "a client speaking h3 got a session");
        // The listener still serves a proper client.
        hello_over_quic(quic, good_tls.clone(), b"hive-tunnel/1").await.expect("a good client after the strangers");
    });
    cloud.wait_for("refused connection from", Duration::from_secs(5));
    let refusals = cloud.drain().iter().filter(|l| l.contains("refused connection from")).count();
    assert!(refusals >= 2, "refusals logged: {refusals}");

    // A real edge over QUIC, then revoked: it learns why, as over TCP.
    let cfg = site.edge_config("good-1", port, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("[edgehub]\n", &format!("[edgehub]\ntransport = \"quic\"\nquic_server = \"{quic}\"\n"));
    std::fs::write(&cfg, text).unwrap();
    let mut edge = Proc::start(&hive_bin(), &["edge", "--config", cfg.to_str().unwrap()], site.path());
    edge.wait_for("connected to cloud quic://", Duration::from_secs(20));
    cloud.wait_for("node good-1 connected", Duration::from_secs(5));
    let (code, out, err) = run(&hive_bin(), &["cert", "revoke", "good-1", "--kubeconfig", "cloud/kubeconfig"], site.path());
    assert_eq!(code, 0, "hive cert revoke: {out}{err}");
    cloud.wait_for("its certificates are revoked", Duration::from_secs(5));
    edge.wait_for("has revoked this node's certificate", Duration::from_secs(15));
}
