//! `kubectl logs` on the edge: a container's log as the runtime wrote it
//! (CRI format, `<time> <stream> <P|F> <text>` under
//! `<pods>/logs/<ns>_<pod>_<uid>/<container>/<restart>.log`), turned back
//! into the lines the app printed, with Kubernetes' options: `container`,
//! `previous` (the run before the current one), `tailLines`, `limitBytes`,
//! `timestamps`, `sinceSeconds`.
//!
//! `kubectl logs -f` follows the file as it grows (stream.rs) with
//! `locate` and `complete`.
//!
//! Owns: reading those files. Must not write them or talk to the cloud.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the cloud asks for (JSON, Kubernetes' PodLogOptions names).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub previous: bool,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
}

/// Most bytes answered at once (the tunnel's frame cap is larger).
pub const MAX_LOG: usize = 1 << 20;

/// The log file of the run `r` asks for (the current or the previous
/// one), or why there is none (a message for the user).
pub fn locate(logs: &Path, r: &LogRequest) -> Result<PathBuf, String> {
    let safe = |s: &str| !s.is_empty() && !s.contains('/') && s != "..";
    if ![&r.namespace, &r.pod, &r.uid, &r.container].iter().all(|s| safe(s)) {
        return Err("namespace, pod, uid and container must be plain names".into());
    }
    let dir = logs.join(format!("{}_{}_{}", r.namespace, r.pod, r.uid)).join(&r.container);
    let mut runs: Vec<u64> = std::fs::read_dir(&dir)
        .map_err(|_| format!("container {} of pod {}/{} has not started on this node", r.container, r.namespace, r.pod))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    runs.sort_unstable();
    let pick = if r.previous { runs.len().checked_sub(2) } else { runs.len().checked_sub(1) };
    let Some(run) = pick.map(|i| runs[i]) else {
        return Err(if r.previous {
            format!("previous terminated container \"{}\" in pod \"{}\" not found", r.container, r.pod)
        } else {
            format!("container \"{}\" in pod \"{}\" has no log yet", r.container, r.pod)
        });
    };
    Ok(dir.join(format!("{run}.log")))
}

/// The log text, or why there is none (a message for the user).
pub fn read(logs: &Path, r: &LogRequest, now: i64) -> Result<Vec<u8>, String> {
    let path = locate(logs, r)?;
    let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(render(&raw, r, now))
}

/// How much of `raw` is whole lines of the app: up to the end of the last
/// `F` line (a `P` line waits for the rest of its line).
pub fn complete(raw: &[u8]) -> usize {
    let mut end = 0;
    let mut start = 0;
    while let Some(n) = raw[start..].iter().position(|b| *b == b'\n') {
        let line = &raw[start..start + n];
        start += n + 1;
        if line.splitn(4, |b| *b == b' ').nth(2) != Some(b"P") {
            end = start;
        }
    }
    end
}

/// CRI log lines → what the app printed (partial `P` lines joined), with the options applied.
pub fn render(raw: &[u8], r: &LogRequest, now: i64) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut partial: Option<(String, Vec<u8>)> = None;
    for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(4, |b| *b == b' ');
        let (Some(time), Some(_stream), Some(tag), Some(text)) = (parts.next(), parts.next(), parts.next(), parts.next().or(Some(b""))) else { continue };
        let time = String::from_utf8_lossy(time).into_owned();
        if let Some(since) = r.since_seconds {
            if crate::kube::parse_rfc3339(&time).is_some_and(|t| now - t > since) {
                continue;
            }
        }
        let (first, mut buf) = partial.take().unwrap_or((time, Vec::new()));
        buf.extend_from_slice(text);
        if tag == b"P" {
            partial = Some((first, buf));
            continue;
        }
        let mut out = Vec::with_capacity(buf.len() + 40);
        if r.timestamps {
            out.extend_from_slice(first.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&buf);
        out.push(b'\n');
        lines.push(out);
    }
    if let Some(n) = r.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out: Vec<u8> = lines.concat();
    // The newest bytes win when over the cap.
    if out.len() > MAX_LOG {
        out.drain(..out.len() - MAX_LOG);
    }
    if let Some(limit) = r.limit_bytes {
        out.truncate(limit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &[u8] = b"2026-01-01T00:00:00.1Z stdout F one\n2026-01-01T00:00:01.2Z stderr P par\n2026-01-01T00:00:01.3Z stderr F tial\n2026-01-01T00:00:05Z stdout F three\n";

    #[test]
    fn cri_lines_become_the_apps_lines_with_the_options() {
        let all = LogRequest::default();
        assert_eq!(render(RAW, &all, 0), b"one\npartial\nthree\n");
        assert_eq!(render(RAW, &LogRequest { tail_lines: Some(2), ..Default::default() }, 0), b"partial\nthree\n");
        assert_eq!(render(RAW, &LogRequest { limit_bytes: Some(5), ..Default::default() }, 0), b"one\np");
        let ts = render(RAW, &LogRequest { timestamps: true, tail_lines: Some(1), ..Default::default() }, 0);
        assert_eq!(ts, b"2026-01-01T00:00:05Z three\n");
        let since = render(RAW, &LogRequest { since_seconds: Some(2), ..Default::default() }, 1_767_225_600 + 6);
        assert_eq!(since, b"three\n");
        assert_eq!(render(b"garbage\n\n", &all, 0), b"", "a line without the CRI fields is skipped");
    }

    #[test]
    fn only_whole_lines_are_complete() {
        assert_eq!(complete(RAW), RAW.len());
        let cut = b"t stdout F one\nt stdout P par";
        assert_eq!(complete(cut), 15, "a line without its newline waits");
        let partial = b"t stdout F one\nt stdout P par\n";
        assert_eq!(complete(partial), 15, "a partial line waits for its end");
        assert_eq!(complete(b""), 0);
    }

    #[test]
    fn runs_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("default_web_u1/main");
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(c.join("0.log"), b"2026-01-01T00:00:00Z stdout F first run\n").unwrap();
        std::fs::write(c.join("1.log"), b"2026-01-01T00:00:09Z stdout F second run\n").unwrap();
        let req = |previous| LogRequest {
            namespace: "default".into(),
            pod: "web".into(),
            uid: "u1".into(),
            container: "main".into(),
            previous,
            ..Default::default()
        };
        assert_eq!(read(dir.path(), &req(false), 0).unwrap(), b"second run\n");
        assert_eq!(read(dir.path(), &req(true), 0).unwrap(), b"first run\n");
        let bad = LogRequest { container: "../../etc".into(), ..req(false) };
        assert!(read(dir.path(), &bad, 0).is_err());
        assert!(locate(dir.path(), &req(false)).unwrap().ends_with("main/1.log"));
        let none = LogRequest { container: "other".into(), ..req(false) };
        assert!(read(dir.path(), &none, 0).unwrap_err().contains("has not started"));
    }
}
