//! How EdgeHub reaches the cloud: the node's credentials on disk (and the
//! errors that say which file to make) and the reconnect backoff.
//!
//! Owns: those two. Must not hold a connection.

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
}

/// Load credentials and check the node name; errors say which file to make.
pub fn load_tls(data_dir: &Path, want_name: &str) -> Result<(String, Arc<rustls::ClientConfig>), String> {
    let c = Credentials::in_dir(data_dir);
    for p in [&c.cert, &c.key, &c.ca] {
        if !p.exists() {
            return Err(format!(
                "{} is missing: create the node's credentials with `hive cert node NAME --out {}` on the cloud side",
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
