//! Prometheus metrics both roles share: counters, gauges and histograms
//! held in atomics (any thread may update them, a scrape never stops one),
//! labelled families whose number of series is capped, and the text
//! exposition format 0.0.4 written by hand (smaller than a client crate:
//! the whole module costs the image a few KiB).
//!
//! Owns: the metric types, the text format, the process metrics
//! (process.rs) and the periodic one-line summary (summary.rs). Must not
//! know what a metric means: each wing lists its own (cloud/metrics.rs,
//! edge/metrics.rs) and updates them where things happen.

pub mod process;
pub mod summary;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// Series a labelled family keeps; later label sets are counted under the
/// value `other` (a misbehaving input never grows a scrape without end).
pub const MAX_SERIES: usize = 256;

/// Latency buckets, seconds (from 1 ms to 10 s).
pub const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Buckets for counts of things (objects waiting, …).
pub const COUNTS: &[f64] = &[0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0];

const MAX_BUCKETS: usize = 12;

/// What a metric says about itself in `# HELP` / `# TYPE`.
pub struct Desc {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

fn header(out: &mut String, d: &Desc, kind: &str) {
    let _ = writeln!(out, "# HELP {} {}", d.name, d.help);
    let _ = writeln!(out, "# TYPE {} {kind}", d.name);
}

/// Append `{a="x",b="y"}` (nothing when there are no labels); `extra` is
/// one more pair such as ("le", "0.5").
fn labels(out: &mut String, names: &[&str], values: &[String], extra: Option<(&str, &str)>) {
    let pairs: Vec<(&str, &str)> = names.iter().copied().zip(values.iter().map(String::as_str)).chain(extra).collect();
    if pairs.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// A value that only goes up.
pub struct Counter {
    pub desc: Desc,
    v: AtomicU64,
}

impl Counter {
    pub const fn new(name: &'static str, help: &'static str) -> Counter {
        Counter { desc: Desc { name, help, labels: &[] }, v: AtomicU64::new(0) }
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.v.fetch_add(n, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.v.load(Relaxed)
    }
    pub fn write(&self, out: &mut String) {
        header(out, &self.desc, "counter");
        let _ = writeln!(out, "{} {}", self.desc.name, self.get());
    }
}

/// A value that goes up and down.
pub struct Gauge {
    pub desc: Desc,
    v: AtomicI64,
}

impl Gauge {
    pub const fn new(name: &'static str, help: &'static str) -> Gauge {
        Gauge { desc: Desc { name, help, labels: &[] }, v: AtomicI64::new(0) }
    }
    pub fn set(&self, v: i64) {
        self.v.store(v, Relaxed);
    }
    pub fn add(&self, n: i64) {
        self.v.fetch_add(n, Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.v.load(Relaxed)
    }
    pub fn write(&self, out: &mut String) {
        header(out, &self.desc, "gauge");
        let _ = writeln!(out, "{} {}", self.desc.name, self.get());
    }
}

/// Cumulative buckets, a sum and a count.
struct Buckets {
    counts: [u64; MAX_BUCKETS],
    sum: f64,
    count: u64,
}

impl Buckets {
    const fn new() -> Buckets {
        Buckets { counts: [0; MAX_BUCKETS], sum: 0.0, count: 0 }
    }
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if let Some(i) = bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
    fn write(&self, out: &mut String, d: &Desc, bounds: &[f64], values: &[String]) {
        let mut cumulative = 0;
        for (i, b) in bounds.iter().enumerate() {
            cumulative += self.counts[i];
            out.push_str(d.name);
            out.push_str("_bucket");
            labels(out, d.labels, values, Some(("le", &number(*b))));
            let _ = writeln!(out, " {cumulative}");
        }
        for (suffix, extra, v) in
            [("_bucket", Some(("le", "+Inf")), self.count.to_string()), ("_sum", None, number(self.sum)), ("_count", None, self.count.to_string())]
        {
            out.push_str(d.name);
            out.push_str(suffix);
            labels(out, d.labels, values, extra);
            let _ = writeln!(out, " {v}");
        }
    }
}

/// A distribution of observations (latencies in seconds, sizes, …), with
/// labels or without.
pub struct Histogram {
    pub desc: Desc,
    bounds: &'static [f64],
    series: Mutex<BTreeMap<Vec<String>, Buckets>>,
    plain: Mutex<Buckets>,
}

impl Histogram {
    /// `bounds` has at most 12 upper bounds, ascending.
    pub const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str], bounds: &'static [f64]) -> Histogram {
        assert!(bounds.len() <= MAX_BUCKETS);
        Histogram { desc: Desc { name, help, labels }, bounds, series: Mutex::new(BTreeMap::new()), plain: Mutex::new(Buckets::new()) }
    }
    pub fn observe(&self, values: &[&str], v: f64) {
        if self.desc.labels.is_empty() {
            if let Ok(mut b) = self.plain.lock() {
                b.observe(self.bounds, v);
            }
            return;
        }
        if let Ok(mut m) = self.series.lock() {
            let key = series_key(&m, values);
            m.entry(key).or_insert_with(Buckets::new).observe(self.bounds, v);
        }
    }
    /// Observe the time since `since`, in seconds.
    pub fn since(&self, values: &[&str], since: Instant) {
        self.observe(values, since.elapsed().as_secs_f64());
    }
    pub fn write(&self, out: &mut String) {
        header(out, &self.desc, "histogram");
        if self.desc.labels.is_empty() {
            if let Ok(b) = self.plain.lock() {
                b.write(out, &self.desc, self.bounds, &[]);
            }
            return;
        }
        if let Ok(m) = self.series.lock() {
            for (values, b) in m.iter() {
                b.write(out, &self.desc, self.bounds, values);
            }
        }
    }
}

/// The key for `values`, folded into `other` once a family is full.
fn series_key<V>(m: &BTreeMap<Vec<String>, V>, values: &[&str]) -> Vec<String> {
    let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    if m.len() >= MAX_SERIES && !m.contains_key(&key) {
        return values.iter().map(|_| "other".to_string()).collect();
    }
    key
}

/// Counters or gauges with labels (requests by verb and code, pods by phase, …).
pub struct Family {
    pub desc: Desc,
    counter: bool,
    series: Mutex<BTreeMap<Vec<String>, i64>>,
}

impl Family {
    pub const fn counter(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Family {
        Family { desc: Desc { name, help, labels }, counter: true, series: Mutex::new(BTreeMap::new()) }
    }
    pub const fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Family {
        Family { desc: Desc { name, help, labels }, counter: false, series: Mutex::new(BTreeMap::new()) }
    }
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }
    pub fn add(&self, values: &[&str], n: i64) {
        if let Ok(mut m) = self.series.lock() {
            let key = series_key(&m, values);
            *m.entry(key).or_insert(0) += n;
        }
    }
    /// Set a gauge's series.
    pub fn set(&self, values: &[&str], v: i64) {
        if let Ok(mut m) = self.series.lock() {
            let key = series_key(&m, values);
            m.insert(key, v);
        }
    }
    /// Replace every series of a gauge at once (a recount).
    pub fn replace(&self, all: impl IntoIterator<Item = (Vec<String>, i64)>) {
        if let Ok(mut m) = self.series.lock() {
            *m = all.into_iter().take(MAX_SERIES).collect();
        }
    }
    pub fn get(&self, values: &[&str]) -> i64 {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        self.series.lock().ok().and_then(|m| m.get(&key).copied()).unwrap_or(0)
    }
    /// The sum over every series.
    pub fn total(&self) -> i64 {
        self.series.lock().map(|m| m.values().sum()).unwrap_or(0)
    }
    pub fn write(&self, out: &mut String) {
        header(out, &self.desc, if self.counter { "counter" } else { "gauge" });
        if let Ok(m) = self.series.lock() {
            for (values, v) in m.iter() {
                out.push_str(self.desc.name);
                labels(out, self.desc.labels, values, None);
                let _ = writeln!(out, " {v}");
            }
        }
    }
}

/// The queue depth of every module inbox of this process.
pub fn write_queues(out: &mut String, router: &crate::core::Router) {
    static QUEUES: Family = Family::gauge("hive_module_queue_depth", "Messages waiting in each module's inbox.", &["module"]);
    QUEUES.replace(router.queue_depths().into_iter().map(|(m, n)| (vec![m], n as i64)));
    QUEUES.write(out);
}

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_of_each_kind() {
        static C: Counter = Counter::new("t_total", "A counter.");
        static H: Histogram = Histogram::new("t_seconds", "A histogram.", &["verb"], &[0.1, 1.0]);
        static F: Family = Family::counter("t_requests_total", "By code.", &["code"]);
        C.add(3);
        H.observe(&["GET"], 0.0625);
        H.observe(&["GET"], 0.5);
        H.observe(&["GET"], 4.0);
        F.inc(&["a\"b\\c\n"]);
        let mut out = String::new();
        C.write(&mut out);
        H.write(&mut out);
        F.write(&mut out);
        assert!(out.contains("# TYPE t_total counter\nt_total 3\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{verb=\"GET\",le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{verb=\"GET\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("t_seconds_sum{verb=\"GET\"} 4.5625\n"), "{out}");
        assert!(out.contains("t_seconds_count{verb=\"GET\"} 3\n"), "{out}");
        assert!(out.contains("t_requests_total{code=\"a\\\"b\\\\c\\n\"} 1\n"), "{out}");
    }

    #[test]
    fn families_stop_growing_at_the_cap() {
        static F: Family = Family::counter("t_capped_total", "Capped.", &["k"]);
        for i in 0..MAX_SERIES + 50 {
            F.inc(&[&i.to_string()]);
        }
        assert_eq!(F.get(&["other"]), 50);
        assert_eq!(F.total(), (MAX_SERIES + 50) as i64);
    }
}
