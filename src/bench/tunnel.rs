//! `hive bench tunnel`: a cloud (CloudHub on this process's executor thread)
//! against N simulated edges in a child process (`hive bench sim-edges`).
//! Measures, per N: connect time, cloud RSS and per-node memory, upstream
//! durable messages applied per second (the cloud runs on one core) with CPU
//! time, downstream delivery latency p50/p99, and reconnect-storm resync
//! time after a cloud restart, and the time to scrape the cloud's
//! `/metrics` with all N connected (its API's open metrics listener).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::tunnel_cloud::Cloud;

fn wait_line(rx: &mpsc::Receiver<String>, prefix: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with(prefix) => return Ok(l),
            Ok(_) => {}
            Err(_) => return Err(format!("simulated edges never said `{prefix}` within {timeout:?}")),
        }
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Result<Duration, String> {
    let t0 = Instant::now();
    while !f() {
        if t0.elapsed() > timeout {
            return Err(format!("{what}: not within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(t0.elapsed())
}

struct Row {
    n: usize,
    transport: &'static str,
    connect_ms: u128,
    rss_base_kib: u64,
    rss_kib: u64,
    per_node_b: u64,
    ups: u64,
    up_per_s: u64,
    up_cpu_ms: u64,
    down: Vec<(u64, u64)>,
    storm_ready_ms: u128,
    storm_resync_ms: u128,
    /// Median of 5 scrapes of /metrics with all N connected (ms), and its size.
    scrape_ms: f64,
    scrape_bytes: usize,
}

/// Scrape `/metrics` on 127.0.0.1:`port` 5 times once it counts `n`
/// connected nodes; (median ms, bytes).
fn scrape(port: u16, n: usize) -> Result<(f64, usize), String> {
    use std::io::{Read, Write};
    let get = || -> Result<(Duration, String), String> {
        let t = Instant::now();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("metrics listener: {e}"))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
        let mut body = String::new();
        s.read_to_string(&mut body).map_err(|e| e.to_string())?;
        Ok((t.elapsed(), body))
    };
    let want = format!("hive_cloudhub_nodes_connected {n}\n");
    wait_until("metrics count every node", Duration::from_secs(60), || get().is_ok_and(|(_, b)| b.contains(&want)))?;
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let (t, b) = get()?;
        times.push(t.as_secs_f64() * 1000.0);
        bytes = b.len();
    }
    times.sort_by(f64::total_cmp);
    Ok((times[2], bytes))
}

fn one(n: usize, ups: u64, rounds: u64, quic: bool) -> Result<Row, String> {
    let dir = std::env::temp_dir().join(format!("hive-bench-tunnel-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let free = || -> Result<u16, String> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().map_err(|e| e.to_string())?.port())
    };
    let (port, metrics) = (free()?, free()?);
    let quic_port = match quic {
        true => Some(std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().map_err(|e| e.to_string())?.port()),
        false => None,
    };
    let cloud = Cloud::start(&dir, port, metrics, quic_port)?;
    std::thread::sleep(Duration::from_millis(200));
    let rss_base = super::rss_kib();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child: Child = Command::new(exe)
        .args(["bench", "sim-edges", "--ca-dir", &dir.display().to_string(), "--port", &port.to_string()])
        .args(["--count", &n.to_string(), "--ups", &ups.to_string(), "--quic-port", &quic_port.unwrap_or(0).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start simulated edges: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let result = (|| {
        let t0 = Instant::now();
        wait_line(&rx, "ready", Duration::from_secs(600))?;
        let connect_ms = t0.elapsed().as_millis();
        let cpu0 = super::cpu_ms();
        let t_up = Instant::now();
        let total = n as u64 * ups;
        wait_until("upstream applied", Duration::from_secs(600), || cloud.c.applied.load(Ordering::Relaxed) >= total)?;
        let up_s = t_up.elapsed().as_secs_f64().max(0.001);
        let up_cpu_ms = super::cpu_ms().saturating_sub(cpu0);
        let rss = super::rss_kib();
        let scraped = scrape(metrics, n)?;
        let mut down = Vec::new();
        for r in 1..=rounds {
            for i in 0..n {
                let _ = cloud.cmds.send_blocking((format!("sim-{i}"), format!("{r} {}", crate::core::message::now_ms()).into_bytes()));
            }
            let l = wait_line(&rx, &format!("round {r} "), Duration::from_secs(300))?;
            let f: Vec<u64> = l.split_whitespace().skip(3).filter_map(|x| x.parse().ok()).collect();
            down.push((f.first().copied().unwrap_or(0), f.get(1).copied().unwrap_or(0)));
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok::<_, String>((connect_ms, rss, total, (total as f64 / up_s) as u64, up_cpu_ms, down, scraped))
    })();
    let (connect_ms, rss, total, up_per_s, up_cpu_ms, down, (scrape_ms, scrape_bytes)) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = child.kill();
            cloud.stop();
            return Err(e);
        }
    };
    // Reconnect storm: restart the cloud under all N edges.
    cloud.stop();
    std::thread::sleep(Duration::from_millis(500));
    if let Some(q) = quic_port {
        // QUIC connections drain on smol's global thread after the cloud's
        // thread ends; its UDP port is free once they have.
        if let Err(e) = wait_until("the QUIC port is free again", Duration::from_secs(30), || std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    let t_restart = Instant::now();
    let cloud = Cloud::start(&dir, port, metrics, quic_port)?;
    let storm = wait_until("all nodes Ready after restart", Duration::from_secs(600), || cloud.c.ready.load(Ordering::Relaxed) >= n as u64);
    let storm_ready_ms = t_restart.elapsed().as_millis();
    let r = rounds + 1;
    for i in 0..n {
        let _ = cloud.cmds.send_blocking((format!("sim-{i}"), format!("{r} {}", crate::core::message::now_ms()).into_bytes()));
    }
    let resync = wait_line(&rx, &format!("round {r} "), Duration::from_secs(600));
    let storm_resync_ms = t_restart.elapsed().as_millis();
    let _ = child.kill();
    let _ = child.wait();
    cloud.stop();
    let _ = std::fs::remove_dir_all(&dir);
    storm?;
    resync?;
    Ok(Row {
        n,
        transport: if quic { "quic" } else { "websocket" },
        connect_ms,
        rss_base_kib: rss_base,
        rss_kib: rss,
        per_node_b: rss.saturating_sub(rss_base) * 1024 / n as u64,
        ups: total,
        up_per_s,
        up_cpu_ms,
        down,
        storm_ready_ms,
        storm_resync_ms,
        scrape_ms,
        scrape_bytes,
    })
}

/// The transports `--transport` names: websocket, quic or both.
pub fn transports(arg: &str) -> Result<Vec<bool>, String> {
    let quic = || match crate::features::has("quic") {
        true => Ok(()),
        false => Err(crate::features::missing("the QUIC transport", "quic")),
    };
    match arg {
        "websocket" => Ok(vec![false]),
        "quic" => quic().map(|_| vec![true]),
        "both" => quic().map(|_| vec![false, true]),
        _ => Err(format!("--transport must be websocket, quic or both, not `{arg}`")),
    }
}

/// Run the tunnel bench for each N in `edges` over each transport (`true`:
/// QUIC); write the report to `out`. Several runs each go in a fresh
/// process, so one's memory does not inflate the next one's baseline.
pub fn run(edges: &[usize], ups: u64, rounds: u64, quic: &[bool], out: &Path) -> Result<(), String> {
    if edges.len() * quic.len() > 1 {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let (mut text, mut json) = (String::new(), Vec::new());
        for (n, q) in edges.iter().flat_map(|n| quic.iter().map(move |q| (*n, *q))) {
            let t = if q { "quic" } else { "websocket" };
            let sub = out.join(format!("n{n}-{t}"));
            let st = Command::new(&exe)
                .args(["bench", "tunnel", "--edges", &n.to_string(), "--ups", &ups.to_string(), "--rounds", &rounds.to_string()])
                .args(["--transport", t, "--out", &sub.display().to_string()])
                .stdout(Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            if !st.success() {
                return Err(format!("bench for N = {n} failed ({st})"));
            }
            let t = std::fs::read_to_string(sub.join("tunnel.txt")).map_err(|e| e.to_string())?;
            let lines: Vec<&str> = t.lines().collect();
            if text.is_empty() {
                text = format!("{}\n{}\n", lines.first().unwrap_or(&""), lines.get(1).unwrap_or(&""));
            }
            text += &format!("{}\n", lines.get(2).unwrap_or(&""));
            let j = std::fs::read_to_string(sub.join("tunnel.json")).map_err(|e| e.to_string())?;
            json.push(j.trim().trim_start_matches('[').trim_end_matches(']').trim().to_string());
        }
        text += "down_p50/p99: worst round of the rounds; storm_ms: after a cloud restart, all nodes Ready / all resynced with a new object\n";
        text += "scrape_ms: median of 5 scrapes of the cloud's /metrics (open metrics listener) with all N connected\n";
        return super::write_report(out, "tunnel", &text, &format!("[{}]\n", json.join(",\n")));
    }
    let mut text = String::from(
        "hive bench tunnel: cloud (this process, one executor thread) vs N simulated edges (child process), loopback mTLS (websocket over TCP, or QUIC)\n",
    );
    text += &format!(
        "{:>6} {:>9} {:>10} {:>9} {:>9} {:>11} {:>9} {:>9} {:>12} {:>12} {:>12} {:>10}\n",
        "N", "transport", "connect_ms", "rss_kib", "B/node", "up_msgs", "up/s", "up_cpu_ms", "down_p50_ms", "down_p99_ms", "storm_ms", "scrape_ms"
    );
    let mut json = Vec::new();
    for (&n, &q) in edges.iter().zip(quic) {
        eprintln!("bench tunnel: N = {n} ...");
        let r = one(n, ups, rounds, q)?;
        let p50 = r.down.iter().map(|d| d.0).max().unwrap_or(0);
        let p99 = r.down.iter().map(|d| d.1).max().unwrap_or(0);
        text += &format!(
            "{:>6} {:>9} {:>10} {:>9} {:>9} {:>11} {:>9} {:>9} {:>12} {:>12} {:>5}/{:<6} {:>10.2}\n",
            r.n, r.transport, r.connect_ms, r.rss_kib, r.per_node_b, r.ups, r.up_per_s, r.up_cpu_ms, p50, p99, r.storm_ready_ms, r.storm_resync_ms, r.scrape_ms
        );
        json.push(format!(
            "{{\"n\":{},\"transport\":\"{}\",\"connect_ms\":{},\"cloud_rss_base_kib\":{},\"cloud_rss_kib\":{},\"bytes_per_node\":{},\"up_msgs\":{},\"up_per_s\":{},\"up_cpu_ms\":{},\"down_rounds_p50_p99\":[{}],\"storm_all_ready_ms\":{},\"storm_resynced_ms\":{},\"scrape_ms\":{:.2},\"scrape_bytes\":{}}}",
            r.n,
            r.transport,
            r.connect_ms,
            r.rss_base_kib,
            r.rss_kib,
            r.per_node_b,
            r.ups,
            r.up_per_s,
            r.up_cpu_ms,
            r.down.iter().map(|(a, b)| format!("[{a},{b}]")).collect::<Vec<_>>().join(","),
            r.storm_ready_ms,
            r.storm_resync_ms,
            r.scrape_ms,
            r.scrape_bytes
        ));
    }
    text += "down_p50/p99: worst round of the rounds; storm_ms: after a cloud restart, all nodes Ready / all resynced with a new object\n";
    text += "up/s is wall-clock with the simulated edges sharing the machine; up_cpu_ms is the cloud's own CPU time for all up_msgs\n";
    text += "scrape_ms: median of 5 scrapes of the cloud's /metrics (open metrics listener) with all N connected\n";
    super::write_report(out, "tunnel", &text, &format!("[{}]\n", json.join(",\n")))
}

/// Default report directory.
pub fn default_out() -> PathBuf {
    PathBuf::from("bench-report")
}
