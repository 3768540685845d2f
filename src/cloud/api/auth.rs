//! API authentication: an admin bearer token created on first start
//! (`<data_dir>/admin.token`, 0600) and a kubeconfig for it
//! (`<data_dir>/kubeconfig`), so `kubectl --kubeconfig …` works at once.
//!
//! Owns: those two files. Must not know routes.

use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

/// Load the admin token, creating it (and the kubeconfig) if missing.
/// `server` is host:port of the HTTPS API; `ca_pem` the CA kubectl must trust.
pub fn admin_token(data_dir: &Path, server: &str, ca_pem: &str) -> Result<String, String> {
    use base64::Engine as _;
    let token_path = data_dir.join("admin.token");
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) if t.trim().len() >= 32 => t.trim().to_string(),
        Ok(_) => return Err(format!("{}: too short to be a token; remove it to get a new one", token_path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = [0u8; 32];
            SystemRandom::new().fill(&mut raw).map_err(|_| "no system randomness for the admin token".to_string())?;
            let t = crate::tls::hex(&raw);
            crate::tls::write_file(&token_path, &t, true).map_err(|e| e.to_string())?;
            t
        }
        Err(e) => return Err(format!("{}: {e}", token_path.display())),
    };
    let kc = data_dir.join("kubeconfig");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: hive\n  cluster:\n    server: https://{server}\n    certificate-authority-data: {ca}\nusers:\n- name: hive-admin\n  user:\n    token: {token}\ncontexts:\n- name: hive\n  context:\n    cluster: hive\n    user: hive-admin\n    namespace: default\ncurrent-context: hive\n"
    );
    if std::fs::read_to_string(&kc).ok().as_deref() != Some(text.as_str()) {
        crate::tls::write_file(&kc, &text, true).map_err(|e| e.to_string())?;
    }
    log::info!(target: "apiserver", "kubeconfig for the admin token: {}", kc.display());
    Ok(token)
}

/// Constant-time comparison of a presented bearer token.
pub fn token_ok(header: Option<&str>, token: &str) -> bool {
    let Some(h) = header else { return false };
    let Some(t) = h.strip_prefix("Bearer ") else { return false };
    t.len() == token.len() && t.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
