//! `hive bench <what>`: measurements written as a report (text + JSON),
//! never timed tests. Owns benchmark drivers only; must not be started by
//! any role.

pub mod api;
pub mod edged;
pub mod footprint;
pub mod meta;
pub mod mqtt;
pub mod nodesets;
pub mod simedge;
pub mod streams;
pub mod tunnel;
mod tunnel_cloud;
pub mod workloads;

use std::path::Path;

use crate::cli::BenchCmd;

/// Resident set size of this process, in KiB (0 if unknown).
pub fn rss_kib() -> u64 {
    rss_of("self")
}

/// Resident set size of process `pid` ("self" for this one), in KiB.
pub fn rss_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU time (user + system) of this process so far, in ms.
pub fn cpu_ms() -> u64 {
    cpu_ms_of("self")
}

/// CPU time (user + system) of process `pid` so far, in ms.
pub fn cpu_ms_of(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // Fields after ")" start at state (non-numeric, skipped): utime, stime are 14th and 15th overall.
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    ticks * 10
}

/// p-th percentile (0..=100) of sorted values.
pub fn pct(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Write `text` and `json` as `<out>/<name>.txt` / `.json`; print the text.
pub fn write_report(out: &Path, name: &str, text: &str, json: &str) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (ext, body) in [("txt", text), ("json", json)] {
        let p = out.join(format!("{name}.{ext}"));
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    print!("{text}");
    println!("report: {}/{name}.txt and .json", out.display());
    Ok(())
}

/// Read one HTTP/1.1 response with a Content-Length body: (status, body).
pub fn read_response(r: &mut impl std::io::BufRead) -> Result<(u16, Vec<u8>), String> {
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("bad status line `{}`", line.trim()))?;
    let mut len = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// A CA under `<dir>/cloud` and node credentials for `node` in `edge_dir`.
pub fn node_credentials(dir: &Path, edge_dir: &Path, node: &str) -> Result<(), String> {
    let ca = crate::tls::CertAuthority::load_or_create(&dir.join("cloud")).map_err(|e| e.to_string())?;
    let (cert, key) = ca.issue_node(node, 2).map_err(|e| e.to_string())?;
    crate::tls::write_file(&edge_dir.join("node.pem"), &cert, false).map_err(|e| e.to_string())?;
    crate::tls::write_file(&edge_dir.join("node.key"), &key, true).map_err(|e| e.to_string())?;
    crate::tls::write_file(&edge_dir.join("ca.pem"), &ca.cert_pem, false).map_err(|e| e.to_string())
}

/// Run the benchmark `b.what` names.
pub fn dispatch(b: &BenchCmd) -> Result<(), String> {
    match b.what.as_str() {
        "tunnel" => {
            let edges: Result<Vec<usize>, _> = b.edges.split(',').map(|x| x.trim().parse::<usize>()).collect();
            match edges {
                Ok(e) if !e.is_empty() && e.iter().all(|n| *n > 0) => {
                    tunnel::run(&e, b.ups, b.rounds, &tunnel::transports(&b.transport)?, &b.out.clone().unwrap_or_else(tunnel::default_out))
                }
                _ => Err(format!("--edges must be positive numbers separated by commas, not `{}`", b.edges)),
            }
        }
        "meta" => meta::run(b.count.max(1).max(if b.count == 0 { 10_000 } else { 0 }), &b.out.clone().unwrap_or_else(tunnel::default_out)),
        "api" => api::run(if b.count == 0 { 100_000 } else { b.count }, b.watchers, b.rounds, &b.out.clone().unwrap_or_else(tunnel::default_out)),
        "edged" => edged::run(
            &b.runtime_socket.clone().unwrap_or_else(|| std::path::PathBuf::from("/run/containerd/containerd.sock")),
            if b.count == 0 { 50 } else { b.count },
            &b.out.clone().unwrap_or_else(tunnel::default_out),
        ),
        "streams" => streams::run(
            &b.runtime_socket.clone().unwrap_or_else(|| std::path::PathBuf::from("/run/containerd/containerd.sock")),
            if b.count == 0 { 50 } else { b.count },
            &b.out.clone().unwrap_or_else(tunnel::default_out),
        ),
        "mqtt" => mqtt::run(if b.count == 0 { 1000 } else { b.count }, b.messages, &b.out.clone().unwrap_or_else(tunnel::default_out)),
        "sim-edges" => match &b.ca_dir {
            Some(d) if b.port > 0 && b.count > 0 => simedge::run(d, b.port, b.quic_port, b.count, b.ups),
            _ => Err("sim-edges needs --ca-dir, --port and --count".into()),
        },
        "footprint" => footprint::run(
            &footprint::Options {
                edge_bin: b.edge_bin.clone(),
                runtime_socket: b.runtime_socket.clone().unwrap_or_else(|| std::path::PathBuf::from("/run/containerd/containerd.sock")),
                devices: if b.count == 0 { 1000 } else { b.count.max(10) },
                pods: b.pods,
                messages: b.messages,
            },
            &b.out.clone().unwrap_or_else(tunnel::default_out),
        ),
        "workloads" => {
            let nodes: Result<Vec<usize>, _> = b.edges.split(',').map(|x| x.trim().parse::<usize>()).collect();
            match nodes {
                Ok(n) if !n.is_empty() && n.iter().all(|x| *x > 0) => {
                    workloads::run(&n, if b.count == 0 { 1000 } else { b.count }, &b.out.clone().unwrap_or_else(tunnel::default_out))
                }
                _ => Err(format!("--edges must be positive node counts separated by commas, not `{}`", b.edges)),
            }
        }
        "nodesets" => {
            let counts = if b.count == 0 { vec![100, 1000, 10_000, 100_000] } else { vec![100, b.count.max(100)] };
            nodesets::run(&counts, &b.out.clone().unwrap_or_else(tunnel::default_out))
        }
        other => Err(format!("unknown benchmark `{other}` (known: tunnel, meta, api, mqtt, edged, footprint, workloads, nodesets)")),
    }
}
