//! kill -9 of a real edge process, 25 times at random moments during
//! upstream traffic, over websocket and over QUIC: no message acknowledged
//! as stored is lost, none is applied twice. The edge is this test binary re-executed in "child" mode
//! (an embedded edge role plus a driver printing what was stored); the cloud
//! runs in the test. Real processes, real SIGKILL, real sled files, real TLS.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::drivers::{app, Applied, EventPrinter};
use common::inproc::{cloud_config, credentials, edge_config, free_port, InProc};

const KILLS: usize = 25;
const KILLS_QUIC: usize = 6;

fn child_mode() -> Option<(String, u16, String)> {
    let dir = std::env::var("HIVE_KILL_CHILD_DIR").ok()?;
    let port = std::env::var("HIVE_KILL_CHILD_PORT").ok()?.parse().ok()?;
    let tag = std::env::var("HIVE_KILL_CHILD_TAG").ok()?;
    Some((dir, port, tag))
}

/// The edge's [edgehub] lines for QUIC at `quic` (none: websocket). While
/// the cloud holds a QUIC edge off, its outbox grows past the default cap
/// (whose oldest entries are dropped, counted, by design): lift it here.
fn transport(quic: Option<u16>) -> String {
    quic.map(|q| format!("transport = \"quic\"\nquic_server = \"127.0.0.1:{q}\"\noutbox_max_events = 1000000")).unwrap_or_default()
}

#[test]
fn kill_9_of_the_edge_loses_nothing_stored_and_applies_nothing_twice() {
    kills("kill_9_of_the_edge_loses_nothing_stored_and_applies_nothing_twice", false);
}

/// Over QUIC a killed edge's session outlives it (no FIN: it ends at the
/// idle timeout), so each restart takes that session over, and beyond 3
/// takeovers a minute the cloud suspects two edges share the certificate
/// and waits until the old session has been silent for 5 s. Hence fewer,
/// longer-lived rounds here.
#[test]
fn kill_9_of_a_quic_edge_loses_nothing_stored_and_applies_nothing_twice() {
    kills("kill_9_of_a_quic_edge_loses_nothing_stored_and_applies_nothing_twice", true);
}

fn kills(test: &str, over_quic: bool) {
    let (kills, life_ms) = if over_quic { (KILLS_QUIC, 5_500..7_000) } else { (KILLS, 150..700) };
    if let Some((dir, port, tag)) = child_mode() {
        // Child: an edge that runs until killed.
        let quic = std::env::var("HIVE_KILL_CHILD_QUIC").ok().and_then(|q| q.parse().ok());
        let edge = InProc::start(edge_config(std::path::Path::new(&dir), port, &transport(quic)), move |_, _| vec![Box::new(EventPrinter { from: 0, tag })]);
        std::thread::sleep(Duration::from_secs(3600));
        drop(edge);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    let edge_dir = dir.path().join("edge-k");
    credentials(&cloud_dir, &edge_dir, "edge-k");
    let port = free_port();
    let quic = over_quic.then(|| std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let hub = quic.map(|q| format!("quic = true\nquic_listen = \"127.0.0.1:{q}\"")).unwrap_or_default();
    let applied = Arc::new(Mutex::new(Applied::default()));
    let (_cmd_tx, cmd_rx) = smol::channel::unbounded();
    let a = applied.clone();
    let cloud = InProc::start(cloud_config(&cloud_dir, port, &hub), move |_, _| vec![app(&a, cmd_rx, "app")]);

    let me = std::env::current_exe().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut rng = fastrand::Rng::with_seed(99);
    for round in 0..=kills {
        let mut child = Command::new(&me)
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env("HIVE_KILL_CHILD_QUIC", quic.map(|q| q.to_string()).unwrap_or_default())
            .env("HIVE_KILL_CHILD_DIR", &edge_dir)
            .env("HIVE_KILL_CHILD_PORT", port.to_string())
            .env("HIVE_KILL_CHILD_TAG", format!("r{round}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(body) = line.strip_prefix("stored ") {
                    let _ = tx.send(body.to_string());
                }
            }
        });
        // Let it store some, then kill -9 at a random moment.
        let until = Instant::now() + Duration::from_millis(rng.u64(life_ms.clone()));
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if round < kills {
            child.kill().unwrap(); // SIGKILL
        } else {
            // Last round: let it run until the cloud has caught up, then kill it too.
            std::thread::sleep(Duration::from_millis(500));
            child.kill().unwrap();
        }
        let _ = child.wait();
        let _ = reader.join();
        acknowledged.extend(rx.try_iter());
    }
    assert!(acknowledged.len() > kills * 5, "too little traffic to mean anything: {}", acknowledged.len());

    // Run the edge once more (not killed) so the outbox drains, then compare.
    let edge = InProc::start(edge_config(&edge_dir, port, &transport(quic)), |_, _| vec![]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let have: HashSet<String> = applied.lock().unwrap().events.get("edge-k").cloned().unwrap_or_default().into_iter().collect();
        if acknowledged.iter().all(|a| have.contains(a)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged events never applied: {:?}",
            acknowledged.iter().filter(|a| !have.contains(*a)).take(5).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(edge.stop(), 0);
    assert_eq!(cloud.stop(), 0);
    let events = applied.lock().unwrap().events.get("edge-k").cloned().unwrap_or_default();
    let mut seen = HashSet::new();
    for e in &events {
        assert!(seen.insert(e.clone()), "applied twice: {e}");
    }
    // Per round, events are applied in the order they were produced.
    for round in 0..=kills {
        let tag = format!("r{round}-");
        let nums: Vec<usize> = events.iter().filter_map(|e| e.strip_prefix(&tag)).filter_map(|n| n.parse().ok()).collect();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "round {round} out of order: {nums:?}");
    }
    eprintln!("{} acknowledged, {} applied, over {} kills", acknowledged.len(), events.len(), kills);
}
