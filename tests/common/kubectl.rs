//! Running a real kubectl against a test cloud: Debian's 1.20 (unpacked by
//! ci/setup.sh, or $HIVE_KUBECTL) and the machine's 1.32 (/usr/bin/kubectl,
//! or $HIVE_KUBECTL_NEW), each call bounded by `timeout 60`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn found(var: &str, default: &str, what: &str) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(p.exists(), "{what} not found at {} (set {var})", p.display());
    p
}

/// Debian's kubectl 1.20.
pub fn old() -> PathBuf {
    found("HIVE_KUBECTL", "/var/cache/hive-kubectl/root/usr/bin/kubectl", "kubectl 1.20 (ci/setup.sh unpacks Debian's kubernetes-client)")
}

/// The machine's kubectl 1.32.
pub fn new() -> PathBuf {
    found("HIVE_KUBECTL_NEW", "/usr/bin/kubectl", "kubectl 1.32")
}

/// Run `bin` with the cloud's kubeconfig under `site_dir`: (succeeded, stdout + stderr).
pub fn run(bin: &Path, site_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(bin)
        .arg("--kubeconfig")
        .arg(site_dir.join("cloud/kubeconfig"))
        .args(args)
        .current_dir(site_dir)
        .output()
        .expect("run kubectl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// As `run`, and it must succeed.
pub fn ok(bin: &Path, site_dir: &Path, args: &[&str]) -> String {
    let (ok, text) = run(bin, site_dir, args);
    assert!(ok, "{} {args:?} failed: {text}", bin.display());
    text
}
