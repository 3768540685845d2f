//! Joining the cloud with a bootstrap token (KubeEdge's keadm join,
//! kubeadm's discovery): `hive edge join …` or the config's `[join]` on a
//! firmware image's first boot.
//!
//! 1. Fetch the CA from the join endpoint (`GET /ca.crt`, TLS not yet
//!    verified) and compare the SHA-256 of its public key with the pin; on a
//!    mismatch stop before anything secret is sent.
//! 2. Make a key and a request here (tls::csr; the key never leaves the
//!    board) and `POST /join` them with the token over TLS verified
//!    against that CA.
//! 3. Install key, certificate and CA crash-safely (hub::Credentials).
//!
//! Runs before the edge's modules (their node name comes from the
//! certificate). Refusals by the cloud end `hive edge join` at once; a
//! first boot from `[join]` retries with backoff and says why each time.
//!
//! Owns: that exchange. Must not run once the node has a certificate,
//! except to re-join after it expired.

use std::path::Path;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;

use crate::config::{EdgeConfig, HostPort, JoinConfig};
use crate::edge::hub::{backoff, Credentials};
use crate::tls;

const TARGET: &str = "join";

/// A join that failed: refused by the cloud (do not hammer it with the same
/// words) or not reached.
#[derive(Debug)]
pub enum JoinError {
    Refused(String),
    Unreachable(String),
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Refused(m) | JoinError::Unreachable(m) => f.write_str(m),
        }
    }
}

/// This machine's hostname, as a node name.
pub fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").or_else(|_| std::fs::read_to_string("/etc/hostname")).unwrap_or_default();
    h.trim().to_ascii_lowercase()
}

/// Each request of a join must be answered within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// One request, bounded in time.
async fn call(tls: std::sync::Arc<rustls::ClientConfig>, server: &HostPort, req: hyper::Request<Full<Bytes>>) -> Result<(hyper::StatusCode, Bytes), JoinError> {
    let what = format!("{} {}", req.method(), req.uri());
    match crate::core::timeout(CALL_TIMEOUT, crate::http::https_call(tls, &server.host, server.port, req, 1 << 20)).await {
        Some(r) => r.map_err(JoinError::Unreachable),
        None => Err(JoinError::Unreachable(format!("{}:{}: {what} not answered within {} s", server.host, server.port, CALL_TIMEOUT.as_secs()))),
    }
}

/// One attempt to join as `node`.
pub async fn join_once(data_dir: &Path, j: &JoinConfig, node: &str) -> Result<(), JoinError> {
    let server: HostPort = j.server.parse().map_err(JoinError::Refused)?;
    let get = hyper::Request::get("/ca.crt").header("host", &j.server).body(Full::new(Bytes::new())).map_err(|e| JoinError::Refused(e.to_string()))?;
    let any = tls::unverified::probe_client().map_err(|e| JoinError::Refused(e.to_string()))?;
    let (status, body) = call(any, &server, get).await?;
    if !status.is_success() {
        return Err(JoinError::Unreachable(format!("{}: GET /ca.crt answered {status}; is this the cloud's join endpoint (CloudHub's port + 2)?", j.server)));
    }
    let ca_pem = pinned_ca(&String::from_utf8_lossy(&body), &j.ca_cert_hash).map_err(|e| JoinError::Refused(format!("{}: {e}", j.server)))?;
    let (key, csr) = tls::csr::new_key_and_csr(node).map_err(|e| JoinError::Refused(e.to_string()))?;
    let body = serde_json::json!({"token": j.token, "nodeName": node, "csr": csr}).to_string();
    let post = hyper::Request::post("/join")
        .header("host", &j.server)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| JoinError::Refused(e.to_string()))?;
    let pinned = tls::anonymous_client_config(&ca_pem).map_err(|e| JoinError::Refused(e.to_string()))?;
    let (status, body) = call(pinned, &server, post).await?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let msg = v["message"].as_str().map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(&body).into());
        let e = format!("{}: join refused ({}): {msg}", j.server, status.as_u16());
        return Err(if status.is_server_error() || status.as_u16() == 429 { JoinError::Unreachable(e) } else { JoinError::Refused(e) });
    }
    let cert = v["certificate"].as_str().ok_or_else(|| JoinError::Refused(format!("{}: the answer has no certificate", j.server)))?;
    Credentials::in_dir(data_dir).install(&key, cert, Some(&ca_pem)).map_err(JoinError::Refused)?;
    Ok(())
}

/// The one CA certificate the join endpoint served, if its key has the
/// pinned hash, re-armoured on its own: nothing else it sent is trusted.
pub fn pinned_ca(served: &str, pin: &str) -> Result<String, String> {
    let certs = tls::certs(served, "the served CA").map_err(|e| e.to_string())?;
    if certs.len() != 1 {
        return Err(format!("/ca.crt holds {} certificates, not one; not sending the token", certs.len()));
    }
    let got = tls::csr::ca_pin(certs[0].as_ref()).map_err(|e| format!("the CA it serves is unusable: {e}"))?;
    if !got.eq_ignore_ascii_case(pin) {
        return Err(format!("the cloud's CA has hash {got}, not the {pin} given; not sending the token (wrong cloud, or a man in the middle)"));
    }
    Ok(tls::csr::pem("CERTIFICATE", certs[0].as_ref()))
}

/// Before the edge starts: finish a cut-short install, then join if the
/// node has no certificate (or an expired one) and join settings are
/// given. `from_cli` ends at the first refusal; `[join]` retries. Returns
/// Ok(false) when a signal stopped it (exit cleanly), Err for what should
/// stop the edge with an error.
pub fn ensure(cfg: &EdgeConfig, cli: Option<(JoinConfig, Option<String>)>) -> Result<bool, String> {
    let creds = Credentials::in_dir(&cfg.data_dir);
    creds.recover()?;
    let from_cli = cli.is_some();
    let (j, name_flag) = cli.unwrap_or_else(|| (cfg.join.clone(), None));
    let revoked = creds.revoked_marker().exists();
    if revoked && !j.token.is_empty() {
        log::warn!(target: TARGET, "the cloud refused this node's certificate as revoked ({}); joining afresh with the token given", creds.revoked_marker().display());
    }
    // A revoked certificate is set aside when a token can replace it.
    let usable = (!revoked || j.token.is_empty()) && creds.cert.exists();
    if usable {
        match super::hub::cert_validity(&cfg.data_dir) {
            Some((_, not_after)) if not_after <= crate::kube::unix_now() => {
                let at = crate::kube::rfc3339(not_after, None).unwrap_or_default();
                if j.token.is_empty() {
                    log::error!(target: TARGET, "{}: the node certificate expired at {at} (offline too long to rotate it); join again with a new token (hive edge join …)", creds.cert.display());
                    return Ok(true);
                }
                log::warn!(target: TARGET, "{}: the node certificate expired at {at}; joining again with the configured token", creds.cert.display());
            }
            _ => {
                if from_cli {
                    let node = tls::node_name_of_pem(&creds.cert).unwrap_or_default();
                    log::info!(target: TARGET, "already joined as node {node} ({}); the join flags are ignored", creds.cert.display());
                }
                return Ok(true);
            }
        }
    }
    if j.server.is_empty() {
        return Ok(true); // EdgeHub says which files are missing.
    }
    if let Some((key, e)) = crate::config::check_join(&j.token, &j.ca_cert_hash) {
        return Err(format!("join {key}: {e}"));
    }
    let node = name_flag.filter(|n| !n.is_empty()).unwrap_or_else(|| if cfg.node_name.is_empty() { hostname() } else { cfg.node_name.clone() });
    tls::check_node_name(&node).map_err(|e| format!("{e} (set --node-name or node_name)"))?;
    smol::block_on(async {
        let mut signals = async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int]).map_err(|e| format!("signals: {e}"))?;
        let mut attempt = 0u32;
        loop {
            log::info!(target: TARGET, "joining the cloud at {} as node {node}", j.server);
            match join_once(&cfg.data_dir, &j, &node).await {
                Ok(()) => {
                    let _ = std::fs::remove_file(creds.revoked_marker());
                    log::info!(target: TARGET, "joined as node {node}: {} written", creds.cert.display());
                    return Ok(true);
                }
                Err(JoinError::Refused(e)) if from_cli => return Err(e),
                Err(e) => {
                    let delay = backoff(attempt, 1_000, 300_000);
                    attempt = attempt.saturating_add(1);
                    log::warn!(target: TARGET, "join failed: {e}; trying again in {} s", delay.as_secs().max(1));
                    let sleep = async {
                        smol::Timer::after(delay.max(Duration::from_millis(500))).await;
                        false
                    };
                    let stop = async {
                        use futures_lite::StreamExt as _;
                        signals.next().await;
                        true
                    };
                    if futures_lite::future::or(sleep, stop).await {
                        log::info!(target: TARGET, "stopped by a signal before the join succeeded");
                        return Ok(false);
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_single_pinned_ca_is_trusted() {
        let d = tempfile::tempdir().unwrap();
        let ca = crate::tls::CertAuthority::load_or_create(d.path()).unwrap();
        let e = tempfile::tempdir().unwrap();
        let other = crate::tls::CertAuthority::load_or_create(e.path()).unwrap();
        let pin = crate::tls::csr::ca_pin_of_pem(&ca.cert_pem).unwrap();
        assert!(super::pinned_ca(&ca.cert_pem, &pin).is_ok());
        // The real CA followed by an attacker's: refused, though the first matches.
        let e = super::pinned_ca(&format!("{}{}", ca.cert_pem, other.cert_pem), &pin).unwrap_err();
        assert!(e.contains("holds 2 certificates"), "{e}");
        let e = super::pinned_ca(&other.cert_pem, &pin).unwrap_err();
        assert!(e.contains("not sending the token"), "{e}");
        assert!(super::pinned_ca("junk", &pin).is_err());
    }
}
