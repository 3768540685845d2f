//! Container probes (and the handlers lifecycle hooks share with them) as
//! kubelet reads and runs them: `exec` (CRI ExecSync,
//! success = exit code 0), `httpGet` (HTTP/1.1 GET, success = status
//! 200–399; `scheme: HTTPS` without verifying the certificate, as kubelet
//! does), `tcpSocket` (success = the connection opens). `grpc` probes are
//! refused with a clear error. Defaults as kubelet's: initialDelaySeconds
//! 0, periodSeconds 10, timeoutSeconds 1, successThreshold 1,
//! failureThreshold 3.
//!
//! Owns: a probe's spec and one attempt of it. Must not keep state across
//! attempts (prober.rs does) nor touch containers otherwise.

use std::time::Duration;

use serde_json::Value;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
use smol::net::TcpStream;

use super::cri::Cri;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Startup, Kind::Liveness, Kind::Readiness];

    pub fn field(self) -> &'static str {
        match self {
            Kind::Startup => "startupProbe",
            Kind::Liveness => "livenessProbe",
            Kind::Readiness => "readinessProbe",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Exec(Vec<String>),
    Http {
        https: bool,
        host: Option<String>,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: Option<String>,
        port: u16,
    },
    /// Lifecycle hooks only.
    Sleep(Duration),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success: u32,
    pub failure: u32,
}

/// A whole number of at least `min` at `field` (default `dflt`).
fn count(p: &Value, at: &str, field: &str, dflt: u64, min: u64) -> Result<u64, String> {
    match p.get(field) {
        None | Some(Value::Null) => Ok(dflt),
        Some(v) => match v.as_u64() {
            Some(n) if n >= min => Ok(n),
            _ => Err(format!("{at}.{field}: {v} is not a whole number of at least {min}")),
        },
    }
}

/// A port by number, or by the name of one of the container's ports.
fn port(v: &Value, at: &str, ports: &[(String, u16)]) -> Result<u16, String> {
    let by_number = |n: u64| u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| format!("{at}.port: {n} is not a port (1-65535)"));
    match v.get("port") {
        Some(Value::Number(n)) => by_number(n.as_u64().unwrap_or(0)),
        Some(Value::String(s)) => match s.parse::<u64>() {
            Ok(n) => by_number(n),
            Err(_) => ports.iter().find(|(name, _)| name == s).map(|(_, p)| *p).ok_or_else(|| format!("{at}.port: no container port is named `{s}`")),
        },
        _ => Err(format!("{at}.port is required (a number or the name of a container port)")),
    }
}

/// One handler of a probe or lifecycle hook at `at`: exactly one of
/// `allowed` (exec, httpGet, tcpSocket, sleep).
pub fn handler(p: &Value, at: &str, ports: &[(String, u16)], allowed: &[&str]) -> Result<Action, String> {
    let known = ["exec", "httpGet", "tcpSocket", "grpc", "sleep"];
    let handlers: Vec<&str> = known.into_iter().filter(|h| p.get(*h).is_some_and(|v| !v.is_null())).collect();
    let one_of = allowed.join(", ");
    let action = match handlers.as_slice() {
        [h] if !allowed.contains(h) => return Err(format!("{at}.{h}: not supported here; use one of {one_of}")),
        ["exec"] => {
            let cmd: Vec<String> =
                p.pointer("/exec/command").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            if cmd.is_empty() {
                return Err(format!("{at}.exec.command: a command is required"));
            }
            Action::Exec(cmd)
        }
        ["httpGet"] => {
            let h = &p["httpGet"];
            let https = match h.get("scheme").and_then(Value::as_str).unwrap_or("HTTP") {
                "HTTP" => false,
                "HTTPS" => true,
                other => return Err(format!("{at}.httpGet.scheme: `{other}` is not HTTP or HTTPS")),
            };
            let path = match h.get("path").and_then(Value::as_str).unwrap_or("/") {
                "" => "/".to_string(),
                p if p.starts_with('/') && !p.contains(['\r', '\n', ' ']) => p.to_string(),
                p => return Err(format!("{at}.httpGet.path: `{p}` must start with '/' and hold no spaces or line breaks")),
            };
            let mut headers = Vec::new();
            for hv in h.get("httpHeaders").and_then(Value::as_array).into_iter().flatten() {
                let (n, v) = (hv["name"].as_str().unwrap_or(""), hv["value"].as_str().unwrap_or(""));
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || v.contains(['\r', '\n']) {
                    return Err(format!("{at}.httpGet.httpHeaders: `{n}` is not a valid header"));
                }
                headers.push((n.to_string(), v.to_string()));
            }
            let host = h.get("host").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            Action::Http { https, host, port: port(h, &format!("{at}.httpGet"), ports)?, path, headers }
        }
        ["tcpSocket"] => {
            let t = &p["tcpSocket"];
            let host = t.get("host").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            Action::Tcp { host, port: port(t, &format!("{at}.tcpSocket"), ports)? }
        }
        ["sleep"] => Action::Sleep(Duration::from_secs(count(&p["sleep"], &format!("{at}.sleep"), "seconds", 0, 0)?.min(3_600))),
        _ => return Err(format!("{at}: must have exactly one of {one_of}")),
    };
    Ok(action)
}

/// The container's `kind` probe, if it has one; `at` names the container
/// (`spec.containers[0]`), `ports` its named ports.
pub fn parse(c: &Value, kind: Kind, at: &str, ports: &[(String, u16)]) -> Result<Option<Probe>, String> {
    let p = match c.get(kind.field()) {
        None | Some(Value::Null) => return Ok(None),
        Some(p) if p.is_object() => p,
        Some(_) => return Err(format!("{at}.{}: must be an object", kind.field())),
    };
    let at = format!("{at}.{}", kind.field());
    if p.get("grpc").is_some_and(|v| !v.is_null()) {
        return Err(format!("{at}.grpc: gRPC probes are not supported by this edge; use exec, httpGet or tcpSocket"));
    }
    let action = handler(p, &at, ports, &["exec", "httpGet", "tcpSocket"])?;
    let success = count(p, &at, "successThreshold", 1, 1)?;
    if kind != Kind::Readiness && success != 1 {
        return Err(format!("{at}.successThreshold: must be 1 for {} probes", if kind == Kind::Startup { "startup" } else { "liveness" }));
    }
    let secs = Duration::from_secs;
    Ok(Some(Probe {
        action,
        initial_delay: secs(count(p, &at, "initialDelaySeconds", 0, 0)?.min(86_400)),
        period: secs(count(p, &at, "periodSeconds", 10, 1)?.min(86_400)),
        timeout: secs(count(p, &at, "timeoutSeconds", 1, 1)?.min(3_600)),
        success: success.min(1000) as u32,
        failure: count(p, &at, "failureThreshold", 3, 1)?.min(1000) as u32,
    }))
}

/// One attempt: Ok, or why it failed. `ip` is where the pod answers.
pub async fn attempt(cri: &Cri, p: &Probe, container: &str, ip: &str) -> Result<(), String> {
    run(cri, &p.action, container, ip, p.timeout).await
}

/// Run a probe's or hook's action against container `container` (pod at
/// `ip`) within `limit`: Ok, or why it failed.
pub async fn run(cri: &Cri, action: &Action, container: &str, ip: &str, limit: Duration) -> Result<(), String> {
    let run = async {
        match action {
            Action::Exec(cmd) => match cri.exec_sync(container, cmd, limit).await {
                Ok(r) if r.exit_code == 0 => Ok(()),
                Ok(r) => {
                    let out = String::from_utf8_lossy(if r.stderr.is_empty() { &r.stdout } else { &r.stderr }).trim().to_string();
                    Err(format!("command {cmd:?} exited with {}: {}", r.exit_code, crate::logging::clip(&out, 200)))
                }
                Err(e) => Err(e.to_string()),
            },
            Action::Http { https, host, port, path, headers } => http_get(*https, host.as_deref().unwrap_or(ip), *port, path, headers).await,
            Action::Tcp { host, port } => TcpStream::connect((host.as_deref().unwrap_or(ip), *port))
                .await
                .map(drop)
                .map_err(|e| format!("dial tcp {}:{port}: {e}", host.as_deref().unwrap_or(ip))),
            Action::Sleep(d) => {
                smol::Timer::after(*d).await;
                Ok(())
            }
        }
    };
    // ExecSync has its own limit; a little slack lets its answer arrive.
    crate::core::timeout(limit + Duration::from_millis(500), run).await.unwrap_or_else(|| Err(format!("timed out after {} s", limit.as_secs())))
}

async fn http_get(https: bool, host: &str, port: u16, path: &str, headers: &[(String, String)]) -> Result<(), String> {
    let url = format!("{}://{host}:{port}{path}", if https { "https" } else { "http" });
    let tcp = TcpStream::connect((host, port)).await.map_err(|e| format!("Get \"{url}\": {e}"))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/hive\r\nAccept: */*\r\nConnection: close\r\n");
    for (n, v) in headers {
        req += &format!("{n}: {v}\r\n");
    }
    req += "\r\n";
    let head = if https {
        let cfg = crate::tls::unverified::probe_client().map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| format!("Get \"{url}\": {e}"))?;
        let mut s = futures_rustls::TlsConnector::from(cfg).connect(name, tcp).await.map_err(|e| format!("Get \"{url}\": TLS: {e}"))?;
        exchange(&mut s, &req).await
    } else {
        let mut s = tcp;
        exchange(&mut s, &req).await
    }
    .map_err(|e| format!("Get \"{url}\": {e}"))?;
    // "HTTP/1.1 200 OK"
    let code: u16 = head.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("Get \"{url}\": not an HTTP answer"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// Send the request, read the status line (at most 4 KiB).
async fn exchange<S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin>(s: &mut S, req: &str) -> Result<String, String> {
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probes_are_read_with_kubelets_defaults_and_named_ports() {
        let c = json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": "web", "httpHeaders": [{"name": "X-A", "value": "1"}]}, "periodSeconds": 2},
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}, "failureThreshold": 1},
            "startupProbe": {"tcpSocket": {"port": 8080}}});
        let ports = [("web".to_string(), 80)];
        let r = parse(&c, Kind::Readiness, "c", &ports).unwrap().unwrap();
        assert_eq!(r.action, Action::Http { https: false, host: None, port: 80, path: "/ready".into(), headers: vec![("X-A".into(), "1".into())] });
        assert_eq!((r.period, r.timeout, r.success, r.failure, r.initial_delay), (Duration::from_secs(2), Duration::from_secs(1), 1, 3, Duration::ZERO));
        let l = parse(&c, Kind::Liveness, "c", &ports).unwrap().unwrap();
        assert_eq!((l.action, l.failure, l.period), (Action::Exec(vec!["cat".into(), "/tmp/ok".into()]), 1, Duration::from_secs(10)));
        assert_eq!(parse(&c, Kind::Startup, "c", &ports).unwrap().unwrap().action, Action::Tcp { host: None, port: 8080 });
        assert_eq!(parse(&json!({}), Kind::Startup, "c", &ports).unwrap(), None);
    }

    #[test]
    fn bad_probes_are_refused_naming_the_field() {
        for (probe, want) in [
            (json!({"livenessProbe": {}}), "spec.containers[0].livenessProbe: must have exactly one"),
            (json!({"livenessProbe": {"sleep": {"seconds": 1}}}), "livenessProbe.sleep: not supported here"),
            (json!({"livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}}}), "exactly one"),
            (json!({"livenessProbe": {"grpc": {"port": 1}}}), "gRPC probes are not supported"),
            (json!({"livenessProbe": {"exec": {"command": []}}}), "livenessProbe.exec.command"),
            (json!({"livenessProbe": {"tcpSocket": {"port": "nope"}}}), "no container port is named `nope`"),
            (json!({"livenessProbe": {"tcpSocket": {"port": 70000}}}), "is not a port"),
            (json!({"livenessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}}}), "httpGet.scheme"),
            (json!({"livenessProbe": {"httpGet": {"port": 80, "path": "/a b"}}}), "httpGet.path"),
            (json!({"livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 0}}), "periodSeconds: 0 is not a whole number of at least 1"),
            (json!({"livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}), "must be 1 for liveness"),
            (json!({"livenessProbe": "yes"}), "must be an object"),
        ] {
            let e = parse(&probe, Kind::Liveness, "spec.containers[0]", &[]).unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }
}
