//! Helpers for end-to-end tests: find the built `hive` binary (HIVE_BIN, as
//! ci/test.sh sets it to the release build, or cargo's own build), run it in
//! a scratch directory, wait for log lines, signal it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub fn hive_bin() -> PathBuf {
    match std::env::var_os("HIVE_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_hive")),
    }
}

/// A running hive process whose stderr is collected line by line.
pub struct Proc {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    /// Start `program` (a path to hive or a link to it) with `args` in `dir`.
    pub fn start(program: &Path, args: &[&str], dir: &Path) -> Proc {
        Proc::start_env(program, args, dir, &[])
    }

    /// As `start`, with extra environment variables (RUST_LOG is cleared otherwise).
    pub fn start_env(program: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines: rx, seen: Vec::new() }
    }

    /// Wait until a stderr line contains `needle`; panics with the log on timeout.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no line containing {needle:?} within {timeout:?}; log so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Collect whatever stderr arrived so far (non-blocking).
    pub fn drain(&mut self) -> &[String] {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        &self.seen
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status();
        assert!(ok.map(|s| s.success()).unwrap_or(false), "kill -{sig} failed");
    }

    /// Wait for exit up to `timeout`; kills and panics on overrun.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                // Give the reader thread a moment to pass on the last lines.
                std::thread::sleep(Duration::from_millis(50));
                self.drain();
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("process did not exit within {timeout:?}; log:\n{}", self.drain().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run hive to completion; returns (exit code, stdout, stderr).
pub fn run(program: &Path, args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A scratch directory holding a cloud's and edges' data dirs and configs.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Site {
        Site { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a cloud config listening on an ephemeral loopback port; `hub`
    /// adds lines to its [cloudhub] section.
    pub fn cloud_config(&self, hub: &str) -> PathBuf {
        let p = self.path().join("cloud.toml");
        std::fs::write(
            &p,
            format!(
                "role = \"cloud\"\ndata_dir = \"cloud\"\n[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3\n{hub}\n"
            ),
        )
        .unwrap();
        p
    }

    /// Start the cloud; returns it and the hub port it bound.
    pub fn start_cloud(&self, hub: &str) -> (Proc, u16) {
        let cfg = self.cloud_config(hub);
        let mut p = Proc::start(&hive_bin(), &["cloud", "--config", cfg.to_str().unwrap()], self.path());
        let line = p.wait_for("cloudhub] listening on", Duration::from_secs(20));
        let port = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line}"));
        p.wait_for("hive cloud ready", Duration::from_secs(20));
        (p, port)
    }

    /// Sign a node certificate into `<dir>/<name>/`.
    pub fn node_cert(&self, name: &str) -> PathBuf {
        let out = self.path().join(name);
        let (code, _, err) = run(&hive_bin(), &["cert", "node", name, "--ca-dir", "cloud", "--out", out.to_str().unwrap()], self.path());
        assert_eq!(code, 0, "hive cert node {name}: {err}");
        out
    }

    /// Write an edge config for node `name` (data dir `<dir>/<name>`) pointing at `port`.
    pub fn edge_config(&self, name: &str, port: u16, extra: &str) -> PathBuf {
        let p = self.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "role = \"edge\"\ndata_dir = \"{name}\"\n{extra}\n[metaserver]\nlisten = \"127.0.0.1:0\"\n[edgehub]\nserver = \"127.0.0.1:{port}\"\nbackoff_min_ms = 100\nbackoff_max_ms = 1000\nping_interval_s = 1\n{}{}",
                if extra.contains("[eventbus]") { String::new() } else { "[eventbus]\nlisten = \"127.0.0.1:0\"\n".to_string() },
                // Not edgecore's /etc/kubeedge/dmi.sock: edges of parallel tests would take it from each other.
                if extra.contains("[dmi]") { String::new() } else { format!("[dmi]\nsocket = \"{name}/dmi.sock\"\n") }
            ),
        )
        .unwrap();
        p
    }

    pub fn start_edge(&self, name: &str, port: u16, extra: &str) -> Proc {
        let cfg = self.edge_config(name, port, extra);
        Proc::start(&hive_bin(), &["edge", "--config", cfg.to_str().unwrap()], self.path())
    }
}

/// A plain HTTP GET on 127.0.0.1:`port` (the edge-local API); (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the local API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let code = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// True once the peer has closed `s` (a read returns 0 or fails) within `secs`.
pub fn closed_within(s: &mut std::net::TcpStream, secs: u64) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut b = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

pub mod api;
pub mod containerd;
pub mod drivers;
pub mod inproc;
pub mod kubectl;
pub mod mqtt;
pub mod proxy;
pub mod rawmqtt;
pub mod udp_proxy;
