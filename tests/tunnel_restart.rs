//! A cloud restart under 200 connected edges (embedded in this process,
//! each a full edge role with its own sled database and TLS identity): all
//! reconnect, spread out by jittered backoff rather than in one burst, and
//! resynchronise their objects with the restarted cloud.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::drivers::{app, Applied, Cmd, Probe};
use common::inproc::{cloud_config, credentials, edge_config, free_port, InProc};

const DEFAULT_EDGES: usize = 200;

fn n() -> usize {
    std::env::var("HIVE_TEST_EDGES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_EDGES)
}

fn wait_ready(applied: &Arc<Mutex<Applied>>, n: usize, timeout: Duration) -> HashMap<String, Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let first: HashMap<String, Instant> = {
            let a = applied.lock().unwrap();
            let mut m = HashMap::new();
            for (node, at) in &a.ready_at {
                m.entry(node.clone()).or_insert(*at);
            }
            m
        };
        if first.len() >= n {
            return first;
        }
        assert!(Instant::now() < deadline, "only {} of {n} nodes Ready", first.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What each probe edge has seen: (key, version) pairs.
type Seen = Arc<Mutex<Vec<(String, u64)>>>;

fn wait_objects(probes: &[Seen], want: &[&str], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let behind = probes
            .iter()
            .filter(|p| {
                let mut keys: Vec<String> = p.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
                keys.sort();
                keys != want
            })
            .count();
        if behind == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{behind} edges do not hold exactly {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_cloud(dir: &std::path::Path, port: u16, applied: &Arc<Mutex<Applied>>) -> (InProc, smol::channel::Sender<Cmd>) {
    let (cmd_tx, cmd_rx) = smol::channel::unbounded();
    let (_idle, idle_rx) = smol::channel::unbounded();
    let a = applied.clone();
    let cloud = InProc::start(cloud_config(dir, port, "node_queue = 4096"), move |_, _| {
        std::mem::forget(_idle);
        vec![app(&a, cmd_rx, "app"), app(&a, idle_rx, "nodestatus")]
    });
    (cloud, cmd_tx)
}

#[test]
fn cloud_restart_under_200_edges_reconnects_with_jitter_and_resyncs() {
    let count = n();
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    let port = free_port();
    let applied = Arc::new(Mutex::new(Applied::default()));
    // The CA exists before the cloud starts: the test and the cloud must not both create it.
    hive::tls::CertAuthority::load_or_create(&cloud_dir).expect("ca");
    let (cloud, cmds) = start_cloud(&cloud_dir, port, &applied);
    let mut edges = Vec::new();
    let mut probes = Vec::new();
    for i in 0..count {
        let name = format!("e{i:03}");
        let edir = dir.path().join(&name);
        credentials(&cloud_dir, &edir, &name);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let cfg = edge_config(&edir, port, "backoff_min_ms = 500\nbackoff_max_ms = 8000");
        edges.push(InProc::start(cfg, move |_, _| vec![Box::new(Probe { seen: s })]));
        probes.push(seen);
    }
    wait_ready(&applied, count, Duration::from_secs(60));
    for i in 0..count {
        cmds.send_blocking(Cmd::Upsert(format!("e{i:03}"), "default/configmap/before".into(), b"1".to_vec())).unwrap();
    }
    wait_objects(&probes, &["default/configmap/before"], Duration::from_secs(60));

    // Restart the cloud: down for 2 s, then back on the same port and data.
    assert_eq!(cloud.stop(), 0);
    std::thread::sleep(Duration::from_secs(2));
    let applied2 = Arc::new(Mutex::new(Applied::default()));
    let t0 = Instant::now();
    let (cloud, cmds) = start_cloud(&cloud_dir, port, &applied2);
    let back = wait_ready(&applied2, count, Duration::from_secs(60));
    let mut delays: Vec<u64> = back.values().map(|t| t.duration_since(t0).as_millis() as u64).collect();
    delays.sort();
    let (p10, p50, p90, max) = (delays[count / 10], delays[count / 2], delays[count * 9 / 10], delays[count - 1]);
    let mut buckets: HashMap<u64, usize> = HashMap::new();
    for d in &delays {
        *buckets.entry(d / 100).or_default() += 1;
    }
    let densest = buckets.values().copied().max().unwrap_or(0);
    eprintln!("reconnect after restart (ms): p10 {p10} p50 {p50} p90 {p90} max {max}; densest 100 ms holds {densest} of {count}");
    assert!(max < 30_000, "all reconnect within 30 s: {max} ms");
    assert!(p90 - p10 >= 500, "reconnects are spread out, not synchronised: p10 {p10} p90 {p90}");
    assert!(densest <= count / 2, "{densest} of {count} edges reconnected within one 100 ms window");

    // Resync: the restarted cloud changes every node's set; all follow.
    for i in 0..count {
        let node = format!("e{i:03}");
        cmds.send_blocking(Cmd::Upsert(node.clone(), "default/configmap/after".into(), b"2".to_vec())).unwrap();
        cmds.send_blocking(Cmd::Delete(node, "default/configmap/before".into())).unwrap();
    }
    wait_objects(&probes, &["default/configmap/after"], Duration::from_secs(60));
    for e in edges {
        assert_eq!(e.stop(), 0);
    }
    assert_eq!(cloud.stop(), 0);
}
