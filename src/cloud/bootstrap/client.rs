//! A small client of the cloud's API for hive's own commands (`hive token`,
//! `hive cert revoke`): the server, CA and bearer token are read from a
//! kubeconfig such as the one `hive cloud` writes (its first cluster and
//! first user; `certificate-authority-data` or `certificate-authority`),
//! one HTTPS request per call.
//!
//! Owns: reading those three fields and doing one request. Must not know
//! what the requests mean.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;

pub struct ApiClient {
    pub host: String,
    pub port: u16,
    pub ca_pem: String,
    token: String,
    tls: Arc<rustls::ClientConfig>,
}

/// The value of `key:` on the first line that has it (YAML scalars as kubeconfigs write them).
fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let l = l.trim_start().trim_start_matches("- ");
        l.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().trim_matches('"'))
    })
}

impl ApiClient {
    pub fn from_kubeconfig(path: &Path) -> Result<ApiClient, String> {
        let at = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{at}: cannot read the kubeconfig: {e} (pass --kubeconfig, or start `hive cloud` once to have it written)"))?;
        let server = value(&text, "server").ok_or_else(|| format!("{at}: no `server:`"))?;
        let hostport = server.strip_prefix("https://").ok_or_else(|| format!("{at}: server `{server}` is not https://"))?.trim_end_matches('/');
        let (host, port) = hostport.rsplit_once(':').ok_or_else(|| format!("{at}: server `{server}` has no port"))?;
        let port = port.parse().map_err(|_| format!("{at}: server `{server}`: bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let ca_pem = match (value(&text, "certificate-authority-data"), value(&text, "certificate-authority")) {
            (Some(b), _) => {
                let raw = base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| format!("{at}: certificate-authority-data: {e}"))?;
                String::from_utf8(raw).map_err(|_| format!("{at}: certificate-authority-data is not PEM"))?
            }
            (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| format!("{at}: certificate-authority {file}: {e}"))?,
            (None, None) => return Err(format!("{at}: no certificate-authority(-data) to trust the API with")),
        };
        let token = value(&text, "token").ok_or_else(|| format!("{at}: no user `token:` (hive's API takes bearer tokens)"))?.to_string();
        let tls = crate::tls::anonymous_client_config(&ca_pem).map_err(|e| format!("{at}: {e}"))?;
        Ok(ApiClient { host, port, ca_pem, token, tls })
    }

    /// One request; the status and the body.
    pub fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<(u16, serde_json::Value), String> {
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("{}:{}", self.host, self.port))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", if method == "PATCH" { "application/merge-patch+json" } else { "application/json" })
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let (status, bytes) = smol::block_on(crate::http::https_call(self.tls.clone(), &self.host, self.port, req, 64 << 20))?;
        let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok((status.as_u16(), v))
    }

    /// As `call`, with any status but 2xx an error carrying the API's message.
    pub fn ok(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<serde_json::Value, String> {
        let (status, v) = self.call(method, path, body)?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(format!("{method} {path}: {status} {}", v["message"].as_str().unwrap_or(&v.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubeconfig_scalars_are_found_under_lists() {
        let t = "clusters:\n- name: hive\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: QUJD\nusers:\n- name: a\n  user:\n    token: abc\n";
        assert_eq!(super::value(t, "server"), Some("https://127.0.0.1:6443"));
        assert_eq!(super::value(t, "certificate-authority-data"), Some("QUJD"));
        assert_eq!(super::value(t, "token"), Some("abc"));
        assert_eq!(super::value(t, "name"), Some("hive"));
    }
}
