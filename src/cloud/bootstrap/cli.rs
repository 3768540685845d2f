//! `hive token create|list|delete` and `hive cert revoke`, through the
//! cloud's API (client.rs), so they work from any machine with the
//! kubeconfig and never need the cloud's data directory.
//!
//! Owns: those commands' output. Must not touch the store directly.

use std::path::PathBuf;

use serde_json::Value;

use super::client::ApiClient;
use crate::cli::{CertRevokeCmd, TokenCmd, TokenWhat};

/// The annotation that revokes a Node's certificates (CloudHub acts on it).
pub const REVOKED_AT: &str = "hive.io/certificates-revoked-at";

fn kubeconfig(flag: &Option<PathBuf>) -> PathBuf {
    flag.clone().or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("./hive-data/cloud/kubeconfig"))
}

/// `24h`, `30m`, `1h30m`, `90s`, `2d`, `0` → seconds.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let bad = || format!("--ttl `{s}`: use a duration such as 24h, 30m, 1h30m, 90s or 0 (never expires)");
    if s == "0" {
        return Ok(0);
    }
    let (mut total, mut num) = (0u64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total.checked_add(n.checked_mul(unit).ok_or_else(bad)?).ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

pub fn token(c: &TokenCmd) -> Result<(), String> {
    let flag = match &c.what {
        TokenWhat::Create(t) => &t.kubeconfig,
        TokenWhat::List(l) => &l.kubeconfig,
        TokenWhat::Delete(d) => &d.kubeconfig,
    };
    let api = ApiClient::from_kubeconfig(&kubeconfig(flag))?;
    let base = format!("/api/v1/namespaces/{}/secrets", super::NAMESPACE);
    match &c.what {
        TokenWhat::Create(t) => {
            let ttl = parse_ttl(&t.ttl)?;
            if t.max_uses == Some(0) {
                return Err("--max-uses must be at least 1".into());
            }
            let exp = (ttl > 0).then(|| crate::kube::rfc3339(crate::kube::unix_now() + ttl as i64, None)).flatten();
            let token = super::generate()?;
            api.ok("POST", &base, Some(&super::secret(&token, exp.as_deref(), &t.description, t.max_uses)))?;
            if t.print_join_command {
                let pin = crate::tls::csr::ca_pin_of_pem(&api.ca_pem).map_err(|e| e.to_string())?;
                let server = t.server.clone().unwrap_or_else(|| format!("{}:10002", api.host));
                println!("hive edge join --server {server} --token {token} --ca-cert-hash {pin}");
            } else {
                println!("{token}");
            }
            Ok(())
        }
        TokenWhat::List(_) => {
            let list = api.ok("GET", &base, None)?;
            println!("{:<24} {:<8} {:<21} {:<6} DESCRIPTION", "TOKEN", "TTL", "EXPIRES", "USES");
            for s in list["items"].as_array().into_iter().flatten().filter(|s| s["type"] == super::SECRET_TYPE) {
                let f = |n: &str| super::field(s, n).unwrap_or_default();
                let exp = f("expiration");
                let now = crate::kube::unix_now();
                let ttl = match crate::kube::parse_rfc3339(&exp) {
                    _ if exp.is_empty() => "<forever>".to_string(),
                    Some(t) if t > now => human(t - now),
                    _ => "<expired>".to_string(),
                };
                let uses = match f("max-uses") {
                    m if m.is_empty() => "-".to_string(),
                    m => format!("{}/{m}", f("uses")),
                };
                let exp = if exp.is_empty() { "<never>".to_string() } else { exp };
                println!("{:<24} {:<8} {:<21} {:<6} {}", format!("{}.{}", f("token-id"), f("token-secret")), ttl, exp, uses, f("description"));
            }
            Ok(())
        }
        TokenWhat::Delete(d) => {
            let id = d.id.split('.').next().unwrap_or_default();
            if id.len() != 6 {
                return Err(format!("`{}` is not a token id (6 characters) or a token", d.id));
            }
            api.ok("DELETE", &format!("{base}/bootstrap-token-{id}"), None)?;
            println!("bootstrap token {id} deleted");
            Ok(())
        }
    }
}

fn human(s: i64) -> String {
    match s {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

pub fn revoke(c: &CertRevokeCmd) -> Result<(), String> {
    crate::tls::check_node_name(&c.name).map_err(|e| e.to_string())?;
    let api = ApiClient::from_kubeconfig(&kubeconfig(&c.kubeconfig))?;
    let at = crate::kube::rfc3339(crate::kube::unix_now(), None).unwrap_or_default();
    let patch: Value = serde_json::json!({"metadata": {"annotations": {REVOKED_AT: at}}});
    api.ok("PATCH", &format!("/api/v1/nodes/{}", c.name), Some(&patch))?;
    println!("node {}: certificates revoked (as of {at}); a new `hive edge join` brings it back", c.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttls_parse_like_kubeadms() {
        assert_eq!(super::parse_ttl("24h"), Ok(86_400));
        assert_eq!(super::parse_ttl("1h30m"), Ok(5_400));
        assert_eq!(super::parse_ttl("90s"), Ok(90));
        assert_eq!(super::parse_ttl("0"), Ok(0));
        for bad in ["", "h", "5", "5x", "-1h", "99999999999999999999d"] {
            assert!(super::parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
