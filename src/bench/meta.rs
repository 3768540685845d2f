//! `hive bench meta`: a real `hive edge` process with N cached objects and
//! no cloud: cold start to first local answer, a full list, local API
//! requests per second (and per edge CPU-second), and the edge's RSS.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::edge::meta::MetaStore;
use crate::proto::ObjectChange;

fn pod(i: usize) -> Vec<u8> {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p{i}","namespace":"default","uid":"00000000-0000-0000-0000-{i:012}","labels":{{"app":"bench","shard":"{}"}}}},"spec":{{"nodeName":"bench-1","containers":[{{"name":"c","image":"localhost/busybox:1","command":["/bin/sleep","infinity"],"env":[{{"name":"A","value":"1"}}]}}]}},"status":{{"phase":"Running"}}}}"#,
        i % 16
    )
    .into_bytes()
}

/// One keep-alive HTTP/1.1 GET; returns the status.
fn get(r: &mut BufReader<TcpStream>, path: &str) -> Result<u16, String> {
    write!(r.get_mut(), "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
    super::read_response(r).map(|(status, _)| status)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<u64> = stat.rsplit(')').next().unwrap_or("").split_whitespace().filter_map(|x| x.parse().ok()).collect();
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

pub fn run(objects: usize, out: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("hive-bench-meta-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let edge_dir = dir.join("edge");
    super::node_credentials(&dir, &edge_dir, "bench-1")?;
    {
        let db = crate::store::open(&edge_dir, 2 << 20).map_err(|e| e.to_string())?;
        let store = MetaStore::open(&db).map_err(|e| e.to_string())?;
        let changes: Vec<ObjectChange> =
            (0..objects).map(|i| ObjectChange { key: format!("default/pod/p{i}"), version: i as u64 + 1, content: Some(pod(i)) }).collect();
        smol::block_on(store.load(&changes)).map_err(|e| e.to_string())?;
    }
    let free = |_| std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string());
    let (api, dead) = (free(0)?, free(1)?);
    let cfg = dir.join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "role = \"edge\"\ndata_dir = {:?}\n[metaserver]\nlisten = \"127.0.0.1:{api}\"\n[edgehub]\nserver = \"127.0.0.1:{dead}\"\n[dmi]\nsocket = {:?}\n",
            edge_dir.display().to_string(),
            edge_dir.join("dmi.sock").display().to_string()
        ),
    )
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let probe = format!("/api/v1/namespaces/default/pods/p{}", objects / 2);
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .args(["edge", "--config", &cfg.display().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let result = (|| {
        let first = loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", api)) {
                let mut r = BufReader::new(s);
                if get(&mut r, &probe) == Ok(200) {
                    break t0.elapsed();
                }
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err("no answer from the edge within 60 s".to_string());
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        let mut r = BufReader::new(TcpStream::connect(("127.0.0.1", api)).map_err(|e| e.to_string())?);
        let tl = Instant::now();
        get(&mut r, "/api/v1/namespaces/default/pods")?;
        let list_ms = tl.elapsed().as_millis();
        // Load: 2 keep-alive clients for 3 s.
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let cpu0 = cpu_ticks(pid);
        let tl = Instant::now();
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (stop, count) = (stop.clone(), count.clone());
                std::thread::spawn(move || {
                    let Ok(s) = TcpStream::connect(("127.0.0.1", api)) else { return };
                    let _ = s.set_nodelay(true);
                    let mut r = BufReader::new(s);
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        if get(&mut r, &format!("/api/v1/namespaces/default/pods/p{}", i % objects)) != Ok(200) {
                            return;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        i += 7;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        let secs = tl.elapsed().as_secs_f64();
        let cpu_s = (cpu_ticks(pid) - cpu0) as f64 / 100.0;
        let n = count.load(Ordering::Relaxed) as f64;
        Ok((first, list_ms, n / secs, if cpu_s > 0.0 { n / cpu_s } else { 0.0 }, super::rss_of(&pid.to_string())))
    })();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (first, list_ms, rps, rp_cpu, rss) = result?;
    let text = format!(
        "hive bench meta: a real `hive edge` with {objects} cached pods, no cloud\n\
         cold start (exec) to first local answer: {} ms\n\
         list of all {objects} pods: {list_ms} ms\n\
         local API GETs: {rps:.0}/s wall (2 keep-alive clients), {rp_cpu:.0} per edge CPU-second\n\
         edge RSS after the load: {rss} KiB\n",
        first.as_millis()
    );
    let json = format!(
        "{{\"objects\":{objects},\"first_answer_ms\":{},\"list_ms\":{list_ms},\"gets_per_s\":{rps:.0},\"gets_per_cpu_s\":{rp_cpu:.0},\"edge_rss_kib\":{rss}}}\n",
        first.as_millis()
    );
    super::write_report(out, "meta", &text, &json)
}
