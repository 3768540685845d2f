//! A small HTTPS client for the cloud API (verifies the cloud's CA, bearer
//! token), and starting a `hive cloud` process with its API on an
//! ephemeral port.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{hive_bin, Proc, Site};

pub struct Api {
    pub port: u16,
    pub token: String,
    pub tls: Arc<rustls::ClientConfig>,
}

type Conn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Api {
    /// An HTTPS connection that verifies the API against the cloud's CA.
    pub fn connect(&self) -> Conn {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = hive::tls::server_name("127.0.0.1").unwrap();
        rustls::StreamOwned::new(rustls::ClientConnection::new(self.tls.clone(), name).unwrap(), tcp)
    }

    pub fn call(&self, method: &str, path: &str, ctype: &str, body: &[u8], auth: bool) -> (u16, String) {
        let mut s = self.connect();
        let authz = if auth { format!("Authorization: Bearer {}\r\n", self.token) } else { String::new() };
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{authz}Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n", body.len())
            .unwrap();
        let _ = s.write_all(body);
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        let code = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    }
    pub fn get(&self, path: &str) -> (u16, Value) {
        let (c, b) = self.call("GET", path, "application/json", b"", true);
        (c, serde_json::from_str(&b).unwrap_or(Value::Null))
    }
    pub fn send(&self, method: &str, path: &str, v: &Value) -> (u16, Value) {
        let ctype = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
        let (c, b) = self.call(method, path, ctype, v.to_string().as_bytes(), true);
        (c, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }
}

/// Start `hive cloud` with `extra` config lines appended; returns the
/// process, an API client and the CloudHub port.
pub fn start_cloud_with_api(site: &Site, extra: &str) -> (Proc, Api, u16) {
    let cfg = site.path().join("cloud.toml");
    std::fs::write(&cfg, format!("role = \"cloud\"\ndata_dir = \"cloud\"\n{extra}\n")).unwrap();
    // HIVE_TEST_CLOUD_LOG=<RUST_LOG spec> shows more of the cloud when debugging a test.
    let log = std::env::var("HIVE_TEST_CLOUD_LOG").unwrap_or_else(|_| "info".into());
    let mut p = Proc::start_env(&hive_bin(), &["cloud", "--config", cfg.to_str().unwrap()], site.path(), &[("RUST_LOG", log.as_str())]);
    let port_of =
        |line: &str| -> u16 { line.split("listening on ").nth(1).unwrap().split_whitespace().next().unwrap().rsplit(':').next().unwrap().parse().unwrap() };
    let hub = port_of(&p.wait_for("cloudhub] listening on", Duration::from_secs(20)));
    let port = port_of(&p.wait_for("apiserver] listening on", Duration::from_secs(20)));
    p.wait_for("hive cloud ready", Duration::from_secs(20));
    let token = std::fs::read_to_string(site.path().join("cloud/admin.token")).unwrap();
    let ca = std::fs::read_to_string(site.path().join("cloud/ca.pem")).unwrap();
    (p, Api { port, token, tls: hive::tls::anonymous_client_config(&ca).unwrap() }, hub)
}

impl Api {
    /// Poll `path` until `ok` holds for its JSON; panics with the last answer after `secs`.
    pub fn wait_until(&self, path: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, v) = self.get(path);
            if ok(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path}: condition not met within {secs}s; last: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
