//! The tunnel under bad networks: 3 edges behind a fault-injecting proxy
//! while the cloud pushes 1,000 object changes to each and each edge sends
//! 1,000 states and 1,000 events up, with 100 random faults (cuts, stalls,
//! delays, split writes). Afterwards every edge holds exactly the cloud's
//! objects at the latest versions, and the cloud applied every upstream
//! message exactly once, in order. Real TLS, real sockets, real sled files.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::drivers::{app, Applied, Cmd, Probe, Reporter};
use common::inproc::{cloud_config, credentials, edge_config, free_port, InProc};
use common::proxy::Proxy;
use hive::edge::meta::MetaStore;

const EDGES: usize = 3;
const CHANGES: usize = 1000;
const UPS: usize = 1000;
const FAULTS: usize = 100;

#[test]
fn objects_converge_and_upstream_applies_exactly_once_through_100_faults() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    let port = free_port();
    let applied = Arc::new(Mutex::new(Applied::default()));
    let (cmd_tx, cmd_rx) = smol::channel::unbounded();
    let (_idle_tx, idle_rx) = smol::channel::unbounded();
    let a = applied.clone();
    let cloud = InProc::start(cloud_config(&cloud_dir, port, ""), move |_, _| vec![app(&a, cmd_rx, "app"), app(&a, idle_rx, "nodestatus")]);
    let proxy = Proxy::start(port);
    let mut edges = Vec::new();
    let mut probes = Vec::new();
    let mut stored = Vec::new();
    for i in 0..EDGES {
        let name = format!("edge-{i}");
        let edir = dir.path().join(&name);
        credentials(&cloud_dir, &edir, &name);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(Mutex::new(0));
        let (s, c) = (seen.clone(), count.clone());
        edges.push(InProc::start(edge_config(&edir, proxy.port, ""), move |_, _| vec![Box::new(Reporter { n: UPS, stored: c }), Box::new(Probe { seen: s })]));
        probes.push(seen);
        stored.push(count);
    }

    // Chaos while the cloud changes objects.
    let chaos = {
        let proxy_port = proxy.port;
        let _ = proxy_port;
        let p = Arc::new(proxy);
        let p2 = p.clone();
        let h = std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(4242);
            for _ in 0..FAULTS {
                match rng.u8(0..5) {
                    0 | 1 => p2.cut(),
                    2 => p2.stall(Duration::from_millis(rng.u64(50..400))),
                    3 => p2.delay(Duration::from_millis(rng.u64(1..15))),
                    _ => p2.split_writes(rng.bool()),
                }
                std::thread::sleep(Duration::from_millis(rng.u64(20..80)));
                if rng.u8(0..4) == 0 {
                    p2.heal();
                }
            }
            p2.heal();
        });
        (p, h)
    };
    let mut expected: HashMap<String, BTreeMap<String, Vec<u8>>> = HashMap::new();
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..CHANGES {
        for i in 0..EDGES {
            let node = format!("edge-{i}");
            let key = format!("default/configmap/c{}", rng.usize(0..50));
            let set = expected.entry(node.clone()).or_default();
            if round % 10 == 9 && set.contains_key(&key) {
                set.remove(&key);
                cmd_tx.send_blocking(Cmd::Delete(node, key)).unwrap();
            } else {
                let body = format!("{{\"round\":{round},\"node\":\"{node}\"}}").into_bytes();
                set.insert(key.clone(), body.clone());
                cmd_tx.send_blocking(Cmd::Upsert(node, key, body)).unwrap();
            }
        }
        if round % 100 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (proxy, chaos_thread) = chaos;
    chaos_thread.join().unwrap();
    proxy.heal();

    // Converge: every probe sees exactly the expected keys; every event and state applied.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let objects_ok = (0..EDGES).all(|i| {
            let want: Vec<&String> = expected[&format!("edge-{i}")].keys().collect();
            let mut have: Vec<String> = probes[i].lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
            have.sort();
            have.iter().collect::<Vec<_>>() == want
        });
        let ups_ok = {
            let a = applied.lock().unwrap();
            (0..EDGES).all(|i| a.events.get(&format!("edge-{i}")).map(|v| v.len()).unwrap_or(0) >= UPS)
        };
        if objects_ok && ups_ok {
            break;
        }
        if Instant::now() > deadline {
            let a = applied.lock().unwrap();
            panic!(
                "no convergence: events applied {:?}, stored {:?}, probe sizes {:?}",
                (0..EDGES).map(|i| a.events.get(&format!("edge-{i}")).map(|v| v.len())).collect::<Vec<_>>(),
                stored.iter().map(|s| *s.lock().unwrap()).collect::<Vec<_>>(),
                probes.iter().map(|p| p.lock().unwrap().len()).collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the last acks land, then stop everything in order.
    std::thread::sleep(Duration::from_millis(500));
    for e in edges {
        assert_eq!(e.stop(), 0);
    }
    assert_eq!(cloud.stop(), 0);

    // Upstream: every event exactly once and in order; the newest state of each key.
    let a = applied.lock().unwrap();
    for i in 0..EDGES {
        let node = format!("edge-{i}");
        let want: Vec<String> = (0..UPS).map(|n| format!("e{n}")).collect();
        assert_eq!(a.events[&node], want, "{node}: events not exactly once in order");
        for k in 0..10 {
            let last = (0..UPS).filter(|n| n % 10 == k).max().unwrap();
            assert_eq!(a.states[&(node.clone(), format!("default/pod/p{k}"))], format!("s{last}"), "{node} p{k}");
        }
    }
    // Downstream: each edge's sled cache holds exactly the cloud's objects.
    let cdb = hive::store::open(&cloud_dir, 1 << 20).unwrap();
    let sync = hive::cloud::sync::ObjectSync::open(&cdb).unwrap();
    for i in 0..EDGES {
        let node = format!("edge-{i}");
        let edb = hive::store::open(&dir.path().join(&node), 1 << 20).unwrap();
        let meta = MetaStore::open(&edb).unwrap();
        let mut inv = meta.inventory().unwrap();
        inv.sort();
        assert_eq!(inv.len(), expected[&node].len(), "{node}: object count");
        for (key, version) in inv {
            let (cv, content) = sync.get(&node, &key).unwrap().expect("cloud has it");
            assert_eq!(version, cv, "{node} {key}: latest version");
            assert_eq!(meta.get(&key).unwrap().unwrap().1, content);
            assert_eq!(&content, &expected[&node][&key], "{node} {key}: content");
        }
    }
}
