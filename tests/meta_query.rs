//! A miss in the edge cache: online, the cloud is asked (through the
//! tunnel, for the node's own set only) and the answer is cached; offline,
//! the answer is an immediate "not found locally", never a hang.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::inproc::{cloud_config, credentials, free_port, InProc};
use common::{hive_bin, Proc};
use hive::cloud::sync::ObjectSync;

fn get(port: u16, path: &str) -> (u16, String) {
    common::http_get(port, path)
}

#[test]
fn a_miss_asks_the_cloud_online_and_fails_fast_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    credentials(&cloud_dir, &dir.path().join("edge"), "q-1");
    let port = free_port();
    let db_slot: Arc<Mutex<Option<sled::Db>>> = Arc::new(Mutex::new(None));
    let slot = db_slot.clone();
    let cloud = InProc::start(cloud_config(&cloud_dir, port, ""), move |db, _| {
        *slot.lock().unwrap() = Some(db.clone());
        vec![]
    });
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!("role = \"edge\"\ndata_dir = \"edge\"\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{port}\"\nbackoff_min_ms = 100\nbackoff_max_ms = 500\nping_interval_s = 1\n[dmi]\nsocket = \"dmi.sock\"\n"),
    )
    .unwrap();
    let mut edge = Proc::start(&hive_bin(), &["edge", "--config", cfg.to_str().unwrap()], dir.path());
    let line = edge.wait_for("local API on ", Duration::from_secs(20));
    let api: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    edge.wait_for("connected to cloud", Duration::from_secs(20));

    // Put an object into the node's set behind the hub's back: no push, so
    // only a query can bring it to the edge.
    let db = loop {
        if let Some(db) = db_slot.lock().unwrap().clone() {
            break db;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let sync = ObjectSync::open(&db).unwrap();
    sync.upsert("q-1", "default/configmap/late", br#"{"kind":"ConfigMap","metadata":{"name":"late"}}"#).unwrap();
    sync.upsert("other", "default/configmap/theirs", br#"{"kind":"ConfigMap"}"#).unwrap();

    let (code, body) = get(api, "/api/v1/namespaces/default/configmaps/late");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"name\":\"late\""), "{body}");
    // Another node's object is not reachable this way.
    let (code, body) = get(api, "/api/v1/namespaces/default/configmaps/theirs");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("not in node q-1's set"), "{body}");

    // Offline: what was fetched is cached; a miss fails at once.
    assert_eq!(cloud.stop(), 0);
    edge.wait_for("connection to cloud lost", Duration::from_secs(10));
    assert_eq!(get(api, "/api/v1/namespaces/default/configmaps/late").0, 200);
    // Wait until EdgeHub is between attempts (not mid-connect), then ask.
    edge.wait_for("cannot connect to cloud", Duration::from_secs(10));
    let t0 = Instant::now();
    let (code, body) = get(api, "/api/v1/namespaces/default/configmaps/nothing");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("not found locally") && body.contains("unreachable"), "{body}");
    assert!(t0.elapsed() < Duration::from_secs(2), "offline miss took {:?}", t0.elapsed());
    edge.signal("TERM");
    assert_eq!(edge.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
