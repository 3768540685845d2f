//! `hive bench streams --runtime-socket SOCK [--count 50]`: streams through
//! the tunnel (logs -f, exec) against a `hive cloud` and a `hive edge` with
//! Edged on the given containerd (`ci/bench-edged.sh 1 streams` sets it
//! up). Measured, all on 127.0.0.1:
//! - exec round trip: `--count` websocket execs of `true` (v5.channel.k8s.io,
//!   as kubectl 1.32 sends them) from the upgrade request to the close: p50, p99;
//! - log throughput: `logs?follow=true` of a finished container that wrote
//!   ~50 MB, from the request to the end of the stream (MB/s of log text);
//! - cost of an idle open stream: the cloud's and the edge's RSS with 15
//!   `logs -f` streams open on a silent container, less without, per stream.

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, client::IntoClientRequest as _, Message};

use super::api::{start_cloud, Client};
use super::{pct, rss_of, write_report};

const IMAGE: &str = "localhost/hive-app:1";
/// Lines the log writer prints (about 107 bytes each).
const LOG_LINES: usize = 500_000;
const IDLE_STREAMS: usize = 15;

pub fn run(socket: &Path, count: usize, out: &Path) -> Result<(), String> {
    let dir = super::edged::scratch("streams", socket)?;
    let cloud = start_cloud(&dir, "[\"cloudhub\", \"apiserver\", \"edgecontroller\"]")?;
    let c = Client::of(&dir, cloud.port)?;
    let mut edge = super::edged::start_edge(&dir, cloud.hub, socket)?;
    let edge_pid = edge.id().to_string();
    let r = measure(&c, cloud.child.id().to_string(), &edge_pid, count.max(1));
    let _ = Command::new("kill").args(["-TERM", &edge_pid]).status();
    let _ = edge.wait();
    drop(cloud);
    let _ = std::fs::remove_dir_all(&dir);
    let (mut rtt, (bytes, secs), (idle_cloud, idle_edge)) = r?;
    rtt.sort_unstable();
    let mbps = bytes as f64 / 1e6 / secs.max(1e-9);
    let text = format!(
        "hive bench streams: cloud and edge on 127.0.0.1, Edged on containerd via CRI\n\
         exec round trip (`true`, websocket v5.channel.k8s.io, {count} runs): p50 {} µs, p99 {} µs\n\
         logs -f of a finished container: {bytes} bytes of log text in {secs:.2} s = {mbps:.1} MB/s\n\
         an idle open logs -f stream costs {idle_cloud} B in the cloud and {idle_edge} B on the edge (RSS with {IDLE_STREAMS} open, less without, per stream)\n",
        pct(&rtt, 50),
        pct(&rtt, 99),
    );
    let json = serde_json::json!({"exec_round_trip_us": {"runs": count, "p50": pct(&rtt, 50), "p99": pct(&rtt, 99)},
        "logs_follow": {"bytes": bytes, "seconds": secs, "mb_per_s": mbps},
        "idle_stream_bytes": {"cloud": idle_cloud, "edge": idle_edge, "streams": IDLE_STREAMS}});
    write_report(out, "streams", &text, &format!("{json:#}\n"))
}

type Measured = (Vec<u64>, (u64, f64), (i64, i64));

fn measure(c: &Client, cloud_pid: String, edge_pid: &str, count: usize) -> Result<Measured, String> {
    let mut s = super::edged::registered(c)?;
    let script = format!("awk 'BEGIN {{ for (i = 0; i < {LOG_LINES}; i++) print \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 \" i }}'");
    pod(c, &mut s, "writer", &script, "Never")?;
    pod(c, &mut s, "shell", "exec sleep 100000", "Always")?;
    wait_phase(c, &mut s, "writer", "Succeeded")?;
    wait_phase(c, &mut s, "shell", "Running")?;

    let mut rtt = Vec::with_capacity(count);
    for _ in 0..count {
        let t0 = Instant::now();
        exec_true(c)?;
        rtt.push(t0.elapsed().as_micros() as u64);
    }

    let t0 = Instant::now();
    let mut f = c.connect()?;
    // HTTP/1.0: the body is the log itself, not chunks of it.
    let req = format!("GET /api/v1/namespaces/default/pods/writer/log?follow=true HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", c.token);
    f.get_mut().write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    let _ = f.read_to_end(&mut body);
    let secs = t0.elapsed().as_secs_f64();
    let text = body.split(|b| *b == b'\n').filter(|l| l.starts_with(b"0123")).count();
    if text != LOG_LINES {
        return Err(format!("logs -f of the writer gave {text} lines, not {LOG_LINES}"));
    }
    let bytes = body.len() as u64;

    std::thread::sleep(Duration::from_secs(1));
    let (cloud0, edge0) = (rss_of(&cloud_pid) as i64, rss_of(edge_pid) as i64);
    let mut open = Vec::new();
    for _ in 0..IDLE_STREAMS {
        let mut f = c.connect()?;
        let req = format!("GET /api/v1/namespaces/default/pods/shell/log?follow=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", c.token);
        f.get_mut().write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut status = String::new();
        f.read_line(&mut status).map_err(|e| e.to_string())?;
        if !status.contains(" 200") {
            return Err(format!("logs -f answered `{}`", status.trim()));
        }
        open.push(f);
    }
    std::thread::sleep(Duration::from_secs(2));
    let per = |now: u64, before: i64| (now as i64 - before) * 1024 / IDLE_STREAMS as i64;
    let idle = (per(rss_of(&cloud_pid), cloud0), per(rss_of(edge_pid), edge0));
    drop(open);
    Ok((rtt, (bytes, secs), idle))
}

fn pod(c: &Client, s: &mut std::io::BufReader<super::api::Tls>, name: &str, script: &str, restart: &str) -> Result<(), String> {
    let body = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "bench-edge", "hostNetwork": true, "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}]}});
    match c.call(s, "POST", "/api/v1/namespaces/default/pods", body.to_string().as_bytes())? {
        (201, _) => Ok(()),
        (code, b) => Err(format!("create pod {name}: {code} {}", String::from_utf8_lossy(&b))),
    }
}

fn wait_phase(c: &Client, s: &mut std::io::BufReader<super::api::Tls>, name: &str, phase: &str) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        let (_, b) = c.call(s, "GET", &format!("/api/v1/namespaces/default/pods/{name}"), b"")?;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
        if v["status"]["phase"] == phase {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(120) {
            return Err(format!("pod {name} not {phase} within 120 s: {}", v["status"]));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `exec shell -- true` over a websocket, to its close.
fn exec_true(c: &Client) -> Result<(), String> {
    let tls = c.connect()?.into_inner();
    let url = format!("wss://127.0.0.1:{}/api/v1/namespaces/default/pods/shell/exec?command=true&stdout=true&stderr=true", c.port);
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    let h = req.headers_mut();
    h.insert("Authorization", format!("Bearer {}", c.token).parse().map_err(|_| "token")?);
    h.insert("Sec-WebSocket-Protocol", "v5.channel.k8s.io".parse().map_err(|_| "protocol")?);
    let (mut ws, _) = tungstenite::client::client(req, tls).map_err(|e| format!("exec upgrade: {e}"))?;
    let mut status = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) if b.first() == Some(&3) => status = b[1..].to_vec(),
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("exec: {e}")),
        }
    }
    if !String::from_utf8_lossy(&status).contains("Success") {
        return Err(format!("exec true: {}", String::from_utf8_lossy(&status)));
    }
    Ok(())
}
