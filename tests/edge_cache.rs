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
        format!("role = \"edge\"\ndata_dir = \"edge\"\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[eventbus]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{}\"\n[dmi]\nsocket = \"dmi.sock\"\n", free_port()),
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

/// A cache of `n` configmaps written the way MetaManager writes them.
fn fill(edge: &std::path::Path, n: u64) {
    let db = hive::store::open(edge, 1 << 20).unwrap();
    let meta = MetaStore::open(&db).unwrap();
    let big = format!("{{\"data\":\"{}\"}}", "x".repeat(2000));
    for i in 0..n {
        let c = ObjectChange { key: format!("default/configmap/c{i}"), version: 10 + i, content: Some(big.clone().into_bytes()) };
        smol::block_on(meta.apply(&c)).unwrap();
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn a_cache_that_lost_writes_after_a_clean_stop_is_detected_and_rebuilt() {
    for damage in ["cut to half", "overwritten with random bytes", "rolled back to an older copy"] {
        let dir = tempfile::tempdir().unwrap();
        let edge = edge_dir_with_creds(dir.path());
        fill(&edge, 100);
        let older = dir.path().join("older-db");
        copy_dir(&edge.join("db"), &older);
        fill(&edge, 200);
        // A clean run seals what the cache holds.
        let mut p = start_edge(dir.path());
        p.wait_for("200 objects cached", Duration::from_secs(20));
        p.signal("TERM");
        assert_eq!(p.wait_exit(Duration::from_secs(10)).code(), Some(0));
        assert_eq!(std::fs::read_to_string(edge.join("db.seal")).unwrap().trim(), "200", "sealed at the clean stop (200 changes applied)");
        let file = edge.join("db").join("db");
        let len = std::fs::metadata(&file).unwrap().len();
        match damage {
            "cut to half" => std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len / 2).unwrap(),
            "overwritten with random bytes" => {
                let mut rng = fastrand::Rng::with_seed(7);
                std::fs::write(&file, (0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>()).unwrap();
            }
            _ => {
                // A flash that kept an older state of the file (a lost write-back, a restored backup).
                std::fs::remove_dir_all(edge.join("db")).unwrap();
                copy_dir(&older, &edge.join("db"));
            }
        }
        let mut p = start_edge(dir.path());
        let why = p.wait_for("moved it aside", Duration::from_secs(20));
        eprintln!("{damage}: {why}");
        if damage.starts_with("rolled back") {
            assert!(why.contains("lost writes"), "the seal caught it: {why}");
        }
        p.wait_for("0 objects cached", Duration::from_secs(20));
        p.wait_for("hive edge ready", Duration::from_secs(20));
        p.signal("TERM");
        assert_eq!(p.wait_exit(Duration::from_secs(10)).code(), Some(0), "{damage}");
        assert!(!p.seen.iter().any(|l| l.contains("panicked")), "{damage}");
    }
}
