//! The edge's sled cache at start: a corrupt or unusable database is moved
//! aside and rebuilt (logged), never a crash loop; a good one is kept.
//! Real `hive edge` processes, real sled files.

mod common;

use std::time::Duration;

use common::inproc::{credentials, free_port};
use common::{hive_bin, Proc};
use hive::edge::meta::MetaStore;
use hive::proto::ObjectChange;

fn edge_dir_with_creds(root: &std::path::Path) -> std::path::PathBuf {
    let edge = root.join("edge");
    credentials(&root.join("cloud"), &edge, "cache-1");
    edge
}

fn start_edge(root: &std::path::Path) -> Proc {
    let cfg = root.join("edge.toml");
    // Nobody listens on this port: the edge runs offline.
    std::fs::write(
        &cfg,
        format!("role = \"edge\"\ndata_dir = \"edge\"\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{}\"\n", free_port()),
    )
    .unwrap();
    Proc::start(&hive_bin(), &["edge", "--config", cfg.to_str().unwrap()], root)
}

fn aside_dirs(edge: &std::path::Path) -> usize {
    std::fs::read_dir(edge).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("db.corrupt-")).count()
}

#[test]
fn good_cache_is_kept_corrupt_one_is_moved_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge_dir_with_creds(dir.path());
    {
        let db = hive::store::open(&edge, 1 << 20).unwrap();
        let meta = MetaStore::open(&db).unwrap();
        for i in 0..3 {
            let c = ObjectChange { key: format!("default/configmap/c{i}"), version: 10 + i, content: Some(b"{}".to_vec()) };
            smol::block_on(meta.apply(&c)).unwrap();
        }
    }
    // A good cache: kept and counted.
    let mut p = start_edge(dir.path());
    p.wait_for("3 objects cached", Duration::from_secs(20));
    p.wait_for("hive edge ready", Duration::from_secs(20));
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(aside_dirs(&edge), 0);

    // An entry that does not decode: moved aside, started empty.
    {
        let db = hive::store::open(&edge, 1 << 20).unwrap();
        db.open_tree("meta").unwrap().insert("default/configmap/bad", &b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..]).unwrap();
        db.flush().unwrap();
    }
    let mut p = start_edge(dir.path());
    let line = p.wait_for("moved it aside", Duration::from_secs(20));
    assert!(line.contains("default/configmap/bad"), "{line}");
    p.wait_for("0 objects cached", Duration::from_secs(20));
    p.wait_for("hive edge ready", Duration::from_secs(20));
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(aside_dirs(&edge), 1, "the corrupt database is kept for inspection");

    // Something that is not a database at all where it should be.
    std::fs::remove_dir_all(edge.join("db")).unwrap();
    std::fs::write(edge.join("db"), "not a directory").unwrap();
    let mut p = start_edge(dir.path());
    p.wait_for("moved it aside", Duration::from_secs(20));
    p.wait_for("hive edge ready", Duration::from_secs(20));
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(aside_dirs(&edge), 1, "only the newest corrupt copy is kept");
    let kept =
        std::fs::read_dir(&edge).unwrap().map(|e| e.unwrap().path()).find(|p| p.file_name().unwrap().to_string_lossy().starts_with("db.corrupt-")).unwrap();
    assert!(kept.is_file(), "the newest copy (the file that stood where the database should be) is the one kept");
    assert!(!p.seen.iter().any(|l| l.contains("panicked")));
}
