//! A containerd of the test's own (Debian's containerd + runc, as
//! ../shared/CRI.md verified): own root, state and socket under a temp
//! dir, CRI plugin on, host-network pods, local images built with
//! ci/mkimage.py from busybox-static and imported with `ctr`. Dropping it
//! removes every sandbox (so shims and mounts go) and stops containerd.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PAUSE: &str = "localhost/hive-pause:1";
pub const APP: &str = "localhost/hive-app:1";

pub struct Containerd {
    child: Child,
    pub dir: PathBuf,
    pub socket: PathBuf,
}

fn config(d: &Path) -> String {
    let tmpl = std::fs::read_to_string(repo_file("ci/containerd.toml.in")).expect("ci/containerd.toml.in");
    tmpl.replace("@DIR@", &d.display().to_string())
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

impl Containerd {
    /// Start containerd under `dir` and import the pause and app images.
    pub fn start(dir: &Path) -> Containerd {
        let bin = ["/usr/bin/containerd", "/usr/sbin/containerd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("containerd (Debian package containerd; ci/setup.sh installs it)");
        std::fs::create_dir_all(dir.join("cni/net.d")).unwrap();
        let cfg = dir.join("containerd.toml");
        std::fs::write(&cfg, config(dir)).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new(bin).args(["--config", cfg.to_str().unwrap()]).stdout(Stdio::null()).stderr(log).spawn().expect("start containerd");
        let c = Containerd { child, dir: dir.to_path_buf(), socket: dir.join("containerd.sock") };
        let t0 = Instant::now();
        while !c.ctr(&["version"]).status.success() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "containerd did not start; log:\n{}",
                std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for (name, extra) in
            [(PAUSE, vec!["--entrypoint", r#"["/bin/sleep","infinity"]"#]), (APP, vec!["--cmd", r#"["sh","-c","echo hello; exec sleep 1000"]"#])]
        {
            let tar = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
            let st = Command::new("python3")
                .arg(repo_file("ci/mkimage.py"))
                .args(["--name", name, "--out", tar.to_str().unwrap()])
                .args(extra)
                .status()
                .expect("python3 ci/mkimage.py");
            assert!(st.success(), "mkimage {name}");
            let out = c.ctr(&["-n", "k8s.io", "images", "import", tar.to_str().unwrap()]);
            assert!(out.status.success(), "ctr import {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        c
    }

    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr").arg("--address").arg(&self.socket).args(args).output().expect("ctr (part of Debian's containerd)")
    }

    /// Container ids `ctr` sees in namespace k8s.io (containers and sandboxes).
    pub fn container_ids(&self) -> Vec<String> {
        let out = self.ctr(&["-n", "k8s.io", "containers", "list", "-q"]);
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }

    /// Running tasks: (id, status).
    pub fn tasks(&self) -> Vec<(String, String)> {
        let out = self.ctr(&["-n", "k8s.io", "tasks", "list"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((f.first()?.to_string(), f.get(2)?.to_string()))
            })
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks first (shims outlive containerd and hold overlay mounts), then containerd.
        for (id, _) in self.tasks() {
            let _ = self.ctr(&["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", &id]);
        }
        std::thread::sleep(Duration::from_millis(200));
        for (id, _) in self.tasks() {
            let _ = self.ctr(&["-n", "k8s.io", "tasks", "delete", "-f", &id]);
        }
        for id in self.container_ids() {
            let _ = self.ctr(&["-n", "k8s.io", "containers", "delete", &id]);
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        // Unmount what is left under our root before the temp dir goes.
        if let Ok(m) = std::fs::read_to_string("/proc/self/mounts") {
            let root = self.dir.display().to_string();
            let mut points: Vec<&str> = m.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|p| p.starts_with(&root)).collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = Command::new("umount").args(["-l", p]).status();
            }
        }
    }
}

/// A cloud with its API on ephemeral ports and edge `edge-1` on `ctrd`
/// (Edged syncing and backing off at 300 ms), its runtime seen as ready:
/// (cloud, API client, edge).
pub fn cloud_and_edge(site: &super::Site, ctrd: &Containerd) -> (super::Proc, super::api::Api, super::Proc) {
    let (cloud, api, hub) = super::api::start_cloud_with_api(site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    site.node_cert("edge-1");
    let mut edge = site.start_edge("edge-1", hub, &edge_config(ctrd));
    edge.wait_for("container runtime containerd", Duration::from_secs(20));
    (cloud, api, edge)
}

/// Edge config lines for Edged on `ctrd` with short sync and backoff periods.
pub fn edge_config(ctrd: &Containerd) -> String {
    format!("[edged]\nruntime_socket = \"{}\"\nsync_period_ms = 300\nbackoff_base_ms = 300\n[eventbus]\nlisten = \"127.0.0.1:0\"", ctrd.socket.display())
}

/// What container `main` of pod `name` (namespace default) on edge-1 wrote
/// to its first log, waited for (at most 30 s) until it holds `needle`.
pub fn main_log_with(site: &super::Site, name: &str, needle: &str) -> String {
    let t0 = Instant::now();
    loop {
        let text = main_log(site, name);
        if text.contains(needle) {
            return text;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{name} printed no `{needle}`: {text:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What container `main` of pod `name` (namespace default) on edge-1 wrote to its first log so far.
pub fn main_log(site: &super::Site, name: &str) -> String {
    let logs = site.path().join("edge-1/pods/logs");
    let prefix = format!("default_{name}_");
    let dir = std::fs::read_dir(&logs).ok().into_iter().flatten().flatten().find(|d| d.file_name().to_string_lossy().starts_with(&prefix));
    dir.and_then(|d| std::fs::read_to_string(d.path().join("main/0.log")).ok()).unwrap_or_default()
}
