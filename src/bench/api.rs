//! `hive bench api`: a real `hive cloud` process and its HTTPS API, driven
//! the way kubectl and controllers drive it: create N configmaps over
//! keep-alive connections (writes/s, write latency — every write is
//! durable before it is answered), store size on disk and cloud RSS with N
//! objects, a full LIST, then W concurrent watchers and the latency from a
//! write to its event at every watcher, then a restart with N objects.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{pct, rss_of, write_report};

pub(super) type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;
/// A keep-alive connection to the cloud API.
pub(super) type Conn = BufReader<Tls>;

pub(super) struct Cloud {
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) hub: u16,
    pub(super) ready_ms: u128,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `hive cloud` in `dir` running `modules` (TOML list), API and hub on free ports.
pub(super) fn start_cloud(dir: &Path, modules: &str) -> Result<Cloud, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let cfg = dir.join("cloud.toml");
    std::fs::write(
        &cfg,
        format!("role = \"cloud\"\ndata_dir = \"cloud\"\nmodules = {modules}\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .map_err(|e| format!("{}: {e}", cfg.display()))?;
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .args(["cloud", "--config", "cloud.toml"])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start hive cloud: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut port, mut hub) = (0, 0);
    let port_in = |rest: &str| rest.split_whitespace().next().and_then(|a| a.rsplit(':').next()).and_then(|p| p.parse().ok()).unwrap_or(0);
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).map_err(|_| "hive cloud did not become ready in 60 s".to_string())?;
        if let Some(rest) = line.split("apiserver] listening on ").nth(1) {
            port = port_in(rest);
        }
        if let Some(rest) = line.split("cloudhub] listening on ").nth(1) {
            hub = port_in(rest);
        }
        if line.contains("hive cloud ready") {
            break;
        }
    }
    if port == 0 {
        return Err("hive cloud did not log its API port".into());
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Ok(Cloud { child, port, hub, ready_ms: t0.elapsed().as_millis() })
}

pub(super) struct Client {
    pub(super) port: u16,
    pub(super) token: String,
    tls: Arc<rustls::ClientConfig>,
}

impl Client {
    /// A client of the cloud in `dir` (its token and CA).
    pub(super) fn of(dir: &Path, port: u16) -> Result<Client, String> {
        let token = std::fs::read_to_string(dir.join("cloud/admin.token")).map_err(|e| e.to_string())?;
        let ca = std::fs::read_to_string(dir.join("cloud/ca.pem")).map_err(|e| e.to_string())?;
        Ok(Client { port, token: token.trim().to_string(), tls: crate::tls::anonymous_client_config(&ca).map_err(|e| e.to_string())? })
    }

    pub(super) fn connect(&self) -> Result<BufReader<Tls>, String> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| format!("127.0.0.1:{}: {e}", self.port))?;
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
        let name = crate::tls::server_name("127.0.0.1").map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(self.tls.clone(), name).map_err(|e| e.to_string())?;
        Ok(BufReader::new(rustls::StreamOwned::new(conn, tcp)))
    }

    /// One keep-alive request; returns (status, body).
    pub(super) fn call(&self, s: &mut BufReader<Tls>, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let w = s.get_mut();
        let ctype = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
        write!(
            w,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            self.token,
            body.len()
        )
        .and_then(|_| w.write_all(body))
        .and_then(|_| w.flush())
        .map_err(|e| e.to_string())?;
        super::read_response(s)
    }

    /// Create namespace `ns` (201, or 409 if it is there already).
    pub(super) fn namespace(&self, s: &mut BufReader<Tls>, ns: &str) -> Result<(), String> {
        let body = format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#);
        match self.call(s, "POST", "/api/v1/namespaces", body.as_bytes())? {
            (201 | 409, _) => Ok(()),
            (code, body) => Err(format!("create namespace {ns}: {code} {}", String::from_utf8_lossy(&body))),
        }
    }
}

fn configmap(name: &str) -> Vec<u8> {
    format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{"app":"bench"}}}},"data":{{"config.yaml":"level: info\nport: 8080\n"}}}}"#).into_bytes()
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Create `n` configmaps over `conns` connections; returns per-write latencies (µs).
fn fill(c: &Arc<Client>, n: usize, conns: usize) -> Result<Vec<u64>, String> {
    let handles: Vec<_> = (0..conns)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || -> Result<Vec<u64>, String> {
                let mut s = c.connect()?;
                let mut lat = Vec::new();
                for i in (t..n).step_by(conns) {
                    let t0 = Instant::now();
                    let (code, body) = c.call(&mut s, "POST", "/api/v1/namespaces/bench/configmaps", &configmap(&format!("cm-{i}")))?;
                    if code != 201 {
                        return Err(format!("create cm-{i}: {code} {}", String::from_utf8_lossy(&body)));
                    }
                    lat.push(t0.elapsed().as_micros() as u64);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| "writer thread panicked".to_string())??);
    }
    all.sort_unstable();
    Ok(all)
}

/// One watcher: reports (round, when) for every `fan-<round>` event it sees.
fn watcher(c: Arc<Client>, rev: u64, seen: mpsc::Sender<(usize, Instant)>, started: mpsc::Sender<Result<(), String>>) {
    let mut s = match c.connect() {
        Ok(s) => s,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let req =
        format!("GET /api/v1/namespaces/fan/configmaps?watch=true&resourceVersion={rev} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", c.token);
    if let Err(e) = s.get_mut().write_all(req.as_bytes()) {
        let _ = started.send(Err(e.to_string()));
        return;
    }
    let mut line = String::new();
    if s.read_line(&mut line).is_err() || !line.contains(" 200") {
        let _ = started.send(Err(format!("watch answered `{}`", line.trim())));
        return;
    }
    let _ = started.send(Ok(()));
    let needle = b"\"name\":\"fan-";
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = Instant::now();
        buf.extend_from_slice(&chunk[..n]);
        while let Some(i) = buf.windows(needle.len()).position(|w| w == needle) {
            let rest = &buf[i + needle.len()..];
            let Some(end) = rest.iter().position(|b| *b == b'"') else { break };
            if let Some(k) = std::str::from_utf8(&rest[..end]).ok().and_then(|d| d.parse().ok()) {
                if seen.send((k, now)).is_err() {
                    return;
                }
            }
            buf.drain(..i + needle.len() + end);
        }
        if buf.len() > needle.len() {
            buf.drain(..buf.len() - needle.len());
        }
    }
}

pub fn run(objects: usize, watchers: usize, rounds: u64, out: &Path) -> Result<(), String> {
    let dir: PathBuf = std::env::temp_dir().join(format!("hive-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = measure(&dir, objects, watchers, rounds, out);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(dir: &Path, objects: usize, watchers: usize, rounds: u64, out: &Path) -> Result<(), String> {
    let cloud = start_cloud(dir, "[\"apiserver\"]")?;
    let pid = cloud.child.id().to_string();
    let rss_idle = rss_of(&pid);
    let c = Arc::new(Client::of(dir, cloud.port)?);
    for ns in ["bench", "fan"] {
        c.namespace(&mut c.connect()?, ns)?;
    }

    // 1. Writes.
    let conns = 8;
    let t0 = Instant::now();
    let lat = fill(&c, objects, conns)?;
    let fill_s = t0.elapsed().as_secs_f64();
    let writes_per_s = objects as f64 / fill_s;
    std::thread::sleep(Duration::from_secs(2));
    let rss_full = rss_of(&pid);
    let store_bytes = dir_size(&dir.join("cloud/db"));

    // 2. A full LIST.
    let mut s = c.connect()?;
    let t0 = Instant::now();
    let (code, body) = c.call(&mut s, "GET", "/api/v1/namespaces/bench/configmaps", b"")?;
    let list_ms = t0.elapsed().as_millis();
    if code != 200 {
        return Err(format!("list: {code}"));
    }
    let listed = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["items"].as_array().map(Vec::len)).unwrap_or(0);
    drop(body);
    let rss_list = rss_of(&pid);

    // 3. Watch fan-out.
    let (_, body) = c.call(&mut s, "GET", "/api/v1/namespaces/fan/configmaps", b"")?;
    let rev: u64 = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["metadata"]["resourceVersion"].as_str().and_then(|r| r.parse().ok()))
        .ok_or("list gave no resourceVersion")?;
    let (seen_tx, seen_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let t0 = Instant::now();
    for _ in 0..watchers {
        let (c, seen, started) = (c.clone(), seen_tx.clone(), started_tx.clone());
        std::thread::Builder::new().stack_size(128 << 10).spawn(move || watcher(c, rev, seen, started)).map_err(|e| e.to_string())?;
    }
    drop(seen_tx);
    for _ in 0..watchers {
        started_rx.recv_timeout(Duration::from_secs(60)).map_err(|_| "watchers did not start".to_string())??;
    }
    let watch_setup_ms = t0.elapsed().as_millis();
    std::thread::sleep(Duration::from_millis(500));
    let rss_watch = rss_of(&pid);
    let mut fan: Vec<u64> = Vec::new();
    let mut last_of_round: Vec<u64> = Vec::new();
    for k in 0..rounds as usize {
        let t0 = Instant::now();
        let (code, _) = c.call(&mut s, "POST", "/api/v1/namespaces/fan/configmaps", &configmap(&format!("fan-{k}")))?;
        if code != 201 {
            return Err(format!("fan-{k}: {code}"));
        }
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut worst = 0;
        while got < watchers {
            let (round, at) = seen_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| format!("round {k}: only {got} of {watchers} watchers saw the event in 30 s"))?;
            if round == k {
                let us = at.saturating_duration_since(t0).as_micros() as u64;
                worst = worst.max(us);
                fan.push(us);
                got += 1;
            }
        }
        last_of_round.push(worst);
        std::thread::sleep(Duration::from_millis(200));
    }
    fan.sort_unstable();
    drop(s);
    drop(cloud);

    // 4. Restart with everything in the store.
    let cloud = start_cloud(dir, "[\"apiserver\"]")?;
    std::thread::sleep(Duration::from_secs(1));
    let rss_restart = rss_of(&cloud.child.id().to_string());
    let restart_ms = cloud.ready_ms;
    drop(cloud);

    let ms = |us: u64| us as f64 / 1000.0;
    let text = format!(
        "hive bench api: one hive cloud process (API only, sled store), this machine, client in the same machine\n\
         writes     {objects} configmap creates over {conns} keep-alive HTTPS connections: {writes_per_s:.0} writes/s, latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms (each durable before answered)\n\
         store      {objects} objects: {:.1} MiB on disk (sled dir), cloud RSS {:.1} MiB (idle before: {:.1} MiB)\n\
         list       GET of {listed} configmaps: {list_ms} ms, cloud RSS after it {:.1} MiB\n\
         watch      {watchers} watchers set up in {watch_setup_ms} ms, cloud RSS {:.1} MiB with them\n\
         fan-out    {rounds} writes x {watchers} watchers: write-to-event p50 {:.2} ms p99 {:.2} ms max {:.2} ms; every watcher had it within {:.2} ms (median round)\n\
         restart    with {objects} objects: ready in {restart_ms} ms, RSS {:.1} MiB\n",
        ms(pct(&lat, 50)), ms(pct(&lat, 99)), ms(*lat.last().unwrap_or(&0)),
        store_bytes as f64 / 1048576.0, rss_full as f64 / 1024.0, rss_idle as f64 / 1024.0,
        rss_list as f64 / 1024.0,
        rss_watch as f64 / 1024.0,
        ms(pct(&fan, 50)), ms(pct(&fan, 99)), ms(*fan.last().unwrap_or(&0)),
        ms({ let mut l = last_of_round.clone(); l.sort_unstable(); pct(&l, 50) }),
        rss_restart as f64 / 1024.0,
    );
    let json = serde_json::json!({
        "objects": objects, "writers": conns, "writes_per_s": writes_per_s,
        "write_latency_us": {"p50": pct(&lat, 50), "p99": pct(&lat, 99), "max": lat.last()},
        "store_bytes": store_bytes, "rss_kib": {"idle": rss_idle, "with_objects": rss_full, "after_list": rss_list, "with_watchers": rss_watch, "after_restart": rss_restart},
        "list_ms": list_ms as u64, "listed": listed, "watchers": watchers, "watch_setup_ms": watch_setup_ms as u64, "rounds": rounds,
        "fanout_us": {"p50": pct(&fan, 50), "p99": pct(&fan, 99), "max": fan.last()}, "restart_ready_ms": restart_ms as u64,
    });
    write_report(out, "api", &text, &format!("{json:#}\n"))
}
