//! How EdgeHub reaches the cloud: the node's credentials on disk (the
//! errors that say which file to make, their crash-safe install, the mark
//! a revocation leaves) and the reconnect backoff.
//!
//! Owns: those. Must not hold a connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::tls;

/// Where the edge keeps its tunnel credentials.
pub struct Credentials {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Credentials {
    pub fn in_dir(dir: &Path) -> Credentials {
        Credentials { cert: dir.join("node.pem"), key: dir.join("node.key"), ca: dir.join("ca.pem") }
    }

    fn new_name(p: &Path) -> PathBuf {
        p.with_extension(format!("{}.new", p.extension().and_then(|e| e.to_str()).unwrap_or("")))
    }

    /// Put a new key and certificate (and CA) in place so that no crash
    /// leaves a key with another key's certificate: both are written and
    /// synced as `*.new`, then the key is renamed, then the certificate.
    /// `recover` finishes or undoes an install a crash cut short.
    pub fn install(&self, key_pem: &str, cert_pem: &str, ca_pem: Option<&str>) -> Result<(), String> {
        let (nk, nc) = (Self::new_name(&self.key), Self::new_name(&self.cert));
        if let Some(ca) = ca_pem {
            tls::write_file(&self.ca, ca, false).map_err(|e| e.to_string())?;
        }
        tls::write_file(&nk, key_pem, true).map_err(|e| e.to_string())?;
        tls::write_file(&nc, cert_pem, false).map_err(|e| e.to_string())?;
        std::fs::rename(&nk, &self.key).map_err(|e| format!("{}: cannot rename into place: {e}", self.key.display()))?;
        std::fs::rename(&nc, &self.cert).map_err(|e| format!("{}: cannot rename into place: {e}", self.cert.display()))?;
        sync_dir(&self.cert);
        Ok(())
    }

    /// Where a refusal as revoked is remembered.
    pub fn revoked_marker(&self) -> PathBuf {
        self.cert.with_extension("revoked")
    }

    /// The cloud refused the certificate as revoked: remember it, so the
    /// next start given a token (`hive edge join`, `[join]`) joins afresh.
    /// The certificate itself stays: an alert can be forged before the
    /// handshake is authenticated, and must never destroy credentials.
    pub fn mark_revoked(&self) {
        let m = self.revoked_marker();
        if !m.exists() {
            match tls::write_file(&m, "refused by the cloud as revoked\n", false) {
                Ok(()) => log::warn!(target: "edgehub", "{} written: the next start with a join token joins afresh", m.display()),
                Err(e) => log::warn!(target: "edgehub", "{e}"),
            }
        }
    }

    /// After a crash inside `install` (key written first, renamed first): a
    /// `node.key.new` still there means the old pair is intact (drop the new
    /// files); a lone `node.pem.new` next to a key means the new key is in
    /// place and its certificate must follow.
    pub fn recover(&self) -> Result<(), String> {
        let (nk, nc) = (Self::new_name(&self.key), Self::new_name(&self.cert));
        if nk.exists() || (nc.exists() && !self.key.exists()) {
            let _ = std::fs::remove_file(&nk);
            let _ = std::fs::remove_file(&nc);
            log::warn!(target: "edgehub", "{}: an unfinished key/certificate install was dropped; the previous pair stays", nk.display());
        } else if nc.exists() {
            std::fs::rename(&nc, &self.cert).map_err(|e| format!("{}: cannot rename into place: {e}", self.cert.display()))?;
            log::warn!(target: "edgehub", "{}: an unfinished key/certificate install was completed", self.cert.display());
        }
        Ok(())
    }
}

fn sync_dir(file: &Path) {
    if let Some(d) = file.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = d.sync_all();
    }
}

/// Load credentials and check the node name; errors say which file to make.
pub fn load_tls(data_dir: &Path, want_name: &str) -> Result<(String, Arc<rustls::ClientConfig>), String> {
    let c = Credentials::in_dir(data_dir);
    for p in [&c.cert, &c.key, &c.ca] {
        if !p.exists() {
            return Err(format!(
                "{} is missing: join the cloud (`hive edge join --server HOST:10002 --token T --ca-cert-hash sha256:…`, or a [join] section in the config) or copy the files `hive cert node NAME --out {}` makes on the cloud side",
                p.display(),
                data_dir.display()
            ));
        }
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", p.display()));
    let name = tls::node_name_of_pem(&c.cert).map_err(|e| e.to_string())?;
    if !want_name.is_empty() && want_name != name {
        return Err(format!("node_name is `{want_name}` but {} is for node `{name}`", c.cert.display()));
    }
    let cfg = tls::client_config(&read(&c.ca)?, &read(&c.cert)?, &read(&c.key)?).map_err(|e| e.to_string())?;
    Ok((name, cfg))
}

/// Exponential backoff with full jitter: a random delay in [0, min(max, base·2^attempt)].
pub fn backoff(attempt: u32, min_ms: u64, max_ms: u64) -> Duration {
    let cap = min_ms.saturating_mul(1u64 << attempt.min(30)).min(max_ms).max(1);
    Duration::from_millis(fastrand::u64(0..=cap).max(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let mut samples = Vec::new();
        for _ in 0..200 {
            samples.push(backoff(0, 500, 30_000).as_millis() as u64);
        }
        assert!(samples.iter().all(|&s| (10..=500).contains(&s)));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(distinct.len() > 50, "jittered, not fixed");
        for _ in 0..200 {
            assert!(backoff(40, 500, 30_000) <= Duration::from_millis(30_000));
        }
        let late: u64 = (0..200).map(|_| backoff(10, 500, 30_000).as_millis() as u64).sum::<u64>() / 200;
        assert!(late > 5_000, "mean delay grows with attempts: {late}");
    }
}
