//! `hive bench nodesets`: what one pod change costs EdgeController's node
//! sets (src/cloud/nodeset/) with few and with many placed objects, in
//! process. For each object count: pods spread 10 per node, each taking a
//! configmap shared by its node's pods; then one pod's labels change (an
//! edge-visible change) and the changes for CloudHub are computed, a
//! thousand times. The peer in the same run is the full recompute hive
//! did before (place every object, build every node's set), so the report
//! gives both and their ratio.
//!
//! Owns: this driver. Must not be started by any role.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use super::{rss_kib, write_report};
use crate::cloud::edgecontroller::place;
use crate::cloud::nodeset::NodeSets;
use crate::cloud::store::{Event, EventKind};

const CHANGES: usize = 1000;

fn pod(i: usize, nodes: usize, round: usize) -> Event {
    let node = i % nodes;
    let v = json!({"metadata": {"name": format!("p{i}"), "namespace": "default", "labels": {"round": round.to_string()}},
        "spec": {"nodeName": format!("n{node}"), "containers": [{"name": "c", "image": "busybox"}], "volumes": [{"configMap": {"name": format!("conf-{node}")}}]}});
    Event { rev: 0, kind: EventKind::Modified, key: format!("pods/default/p{i}"), value: serde_json::to_vec(&v).unwrap_or_default() }
}

/// The old way: every object placed again and every node's set built.
fn full_recompute(objects: &BTreeMap<String, Value>, bytes: &HashMap<String, Vec<u8>>) -> usize {
    let mut sets: HashMap<String, BTreeMap<String, Vec<u8>>> = HashMap::new();
    for (key, v) in objects {
        let p = place::place(key, v);
        for n in p.nodes {
            let set = sets.entry(n).or_default();
            for k in std::iter::once(key).chain(&p.takes) {
                if let Some(b) = bytes.get(k) {
                    set.insert(k.clone(), b.clone());
                }
            }
        }
    }
    sets.values().map(BTreeMap::len).sum()
}

fn one(objects: usize, baseline: bool) -> (String, Value) {
    let nodes = (objects / 10).max(1);
    let rss0 = rss_kib();
    let mut sets = NodeSets::new("bench", place::KINDS, place::place);
    let t = Instant::now();
    for n in 0..nodes {
        let v = json!({"metadata": {"name": format!("conf-{n}"), "namespace": "default"}, "data": {"k": "v"}});
        sets.apply(&Event { rev: 0, kind: EventKind::Added, key: format!("configmaps/default/conf-{n}"), value: serde_json::to_vec(&v).unwrap_or_default() });
    }
    for i in 0..objects {
        sets.apply(&pod(i, nodes, 0));
    }
    let first = sets.changes().len();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss = rss_kib().saturating_sub(rss0);
    let t = Instant::now();
    let mut sent = 0;
    for r in 0..CHANGES {
        sets.apply(&pod((r * 7919) % objects, nodes, r + 1));
        sent += sets.changes().len();
    }
    let per_change_us = t.elapsed().as_secs_f64() * 1e6 / CHANGES as f64;
    // The peer: the same change followed by the old full recompute (fewer rounds when it is slow).
    let old_us = baseline.then(|| {
        let mut objs = BTreeMap::new();
        let mut bytes = HashMap::new();
        for i in 0..objects {
            let e = pod(i, nodes, 0);
            let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
            let key = format!("default/pod/p{i}");
            bytes.insert(key.clone(), e.value);
            objs.insert(key, v);
        }
        let rounds = (CHANGES * 1000 / objects.max(1)).clamp(3, CHANGES);
        let t = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(full_recompute(&objs, &bytes));
        }
        t.elapsed().as_secs_f64() * 1e6 / rounds as f64
    });
    let mut line = format!(
        "{objects:>7} pods on {nodes:>6} nodes: placed in {load_ms:>7.1} ms ({first} upserts, +{:.1} MiB); one pod change: {per_change_us:>7.1} µs incremental",
        rss as f64 / 1024.0
    );
    if let Some(o) = old_us {
        line.push_str(&format!(", {o:>9.1} µs full recompute ({:.0}× slower)", o / per_change_us.max(0.001)));
    }
    debug_assert_eq!(sent, CHANGES);
    (
        line,
        json!({"objects": objects, "nodes": nodes, "load_ms": load_ms, "rss_kib": rss, "change_us": per_change_us, "full_recompute_us": old_us, "sent": sent}),
    )
}

pub fn run(counts: &[usize], out: &Path) -> Result<(), String> {
    let mut text = String::from("hive bench nodesets: EdgeController's node sets, one edge-visible pod change at a time (in process)\n\n");
    let mut js = Vec::new();
    let mut per = Vec::new();
    for &n in counts {
        let (l, j) = one(n, true);
        per.push(j["change_us"].as_f64().unwrap_or(0.0));
        text.push_str(&l);
        text.push('\n');
        js.push(j);
    }
    if let (Some(a), Some(b)) = (per.first(), per.last()) {
        text.push_str(&format!("\none change at {} pods costs {:.2}× what it costs at {} pods\n", counts[counts.len() - 1], b / a.max(0.001), counts[0]));
    }
    write_report(out, "nodesets", &text, &Value::Array(js).to_string())
}
