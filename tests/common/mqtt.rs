//! Real MQTT clients for tests: Debian's mosquitto_sub / mosquitto_pub,
//! and a mosquitto broker for external mode. Each subscription runs as its
//! own `mosquitto_sub -v` process whose lines are collected on a thread.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Sub {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Lines that arrived while waiting for the probe.
    early: std::collections::VecDeque<String>,
    pub seen: Vec<(String, String)>,
}

impl Sub {
    /// Subscribe to `topic` on 127.0.0.1:`port`; returns once subscribed
    /// (mosquitto_sub has no "ready" signal: a probe message on a private
    /// topic is published until it comes back).
    pub fn new(port: u16, topics: &[&str]) -> Sub {
        let probe = format!("hive-test/probe/{}", std::process::id());
        let mut cmd = Command::new("mosquitto_sub");
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v", "-q", "1", "-t", &probe]);
        for t in topics {
            cmd.args(["-t", t]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("mosquitto_sub (Debian mosquitto-clients; ci/setup.sh installs it)");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut s = Sub { child, lines, early: Default::default(), seen: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(10);
        'probing: loop {
            publish(port, &probe, "probe");
            let until = Instant::now() + Duration::from_millis(200);
            while let Ok(l) = s.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                if l.starts_with(&probe) {
                    break 'probing;
                }
                s.early.push_back(l);
            }
            assert!(Instant::now() < deadline, "mosquitto_sub on port {port} never subscribed");
        }
        s.early.retain(|l| !l.starts_with(&probe));
        s
    }

    /// The next message on a topic for which `want(topic)` holds, as JSON.
    pub fn next(&mut self, want: impl Fn(&str) -> bool, secs: u64) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = match self.early.pop_front() {
                Some(l) => l,
                None => self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no wanted message within {secs}s; seen: {:#?}", self.seen)),
            };
            let (t, p) = l.split_once(' ').map(|(t, p)| (t.to_string(), p.to_string())).unwrap_or((l.clone(), String::new()));
            self.seen.push((t.clone(), p.clone()));
            if want(&t) {
                return (t, serde_json::from_str(&p).unwrap_or(Value::String(p)));
            }
        }
    }

    /// The next message on exactly `topic`.
    pub fn on(&mut self, topic: &str, secs: u64) -> Value {
        self.next(|t| t == topic, secs).1
    }

    /// Nothing on `topic` for `ms` milliseconds.
    pub fn quiet(&mut self, topic: &str, ms: u64) {
        let deadline = Instant::now() + Duration::from_millis(ms);
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            assert!(!l.starts_with(&format!("{topic} ")), "unexpected {l}");
        }
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn publish(port: u16, topic: &str, payload: &str) {
    let st = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-m", payload])
        .status()
        .expect("mosquitto_pub (Debian mosquitto-clients)");
    assert!(st.success(), "mosquitto_pub {topic} failed");
}

/// A mosquitto broker on 127.0.0.1:`port` (anonymous), stopped on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
}

impl Mosquitto {
    pub fn start(dir: &std::path::Path, port: u16) -> Mosquitto {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")).unwrap();
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("mosquitto (Debian package mosquitto; ci/setup.sh installs it)");
        let child = Command::new(bin).args(["-c", conf.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto { child, port }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
