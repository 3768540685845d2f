//! The standard process metrics (`process_*`, as Prometheus' client
//! libraries name them), read from /proc/self at scrape time: resident
//! memory, open file descriptors, threads, CPU time and start time.
//!
//! Owns: reading /proc/self. Must not keep state between scrapes.

use std::fmt::Write as _;

/// Clock ticks per second of /proc/self/stat's CPU times (USER_HZ, 100 on
/// every Linux architecture hive targets).
const TICKS: f64 = 100.0;

/// Resident set size in bytes, from /proc/self/status.
pub fn rss_bytes() -> Option<u64> {
    status_field("VmRSS:").map(|kb| kb * 1024)
}

/// Threads of this process.
pub fn threads() -> Option<u64> {
    status_field("Threads:")
}

fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
}

/// Open file descriptors.
pub fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64)
}

/// (CPU seconds used, start time in seconds since the epoch).
fn cpu_and_start() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = (num(14)? + num(15)?) / TICKS;
    let boot = std::fs::read_to_string("/proc/stat").ok()?.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<f64>().ok())?;
    Some((cpu, boot + num(22)? / TICKS))
}

pub fn write(out: &mut String) {
    let mut one = |name: &str, kind: &str, help: &str, v: Option<String>| {
        if let Some(v) = v {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n");
        }
    };
    one("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss_bytes().map(|v| v.to_string()));
    one("process_open_fds", "gauge", "Number of open file descriptors.", open_fds().map(|v| v.to_string()));
    one("process_threads", "gauge", "Number of OS threads in the process.", threads().map(|v| v.to_string()));
    let cs = cpu_and_start();
    one("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cs.map(|(c, _)| format!("{c}")));
    one("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", cs.map(|(_, s)| format!("{s}")));
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        assert!(super::rss_bytes().unwrap() > 100_000);
        assert!(super::threads().unwrap() >= 1);
        assert!(super::open_fds().unwrap() >= 3);
        let mut out = String::new();
        super::write(&mut out);
        assert!(out.contains("process_start_time_seconds 1"), "{out}");
    }
}
