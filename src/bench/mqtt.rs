//! `hive bench mqtt`: EventBus and DeviceTwin under load, with mosquitto
//! (Debian's, if installed) as the peer in the same run.
//! 1. Broker: the same Rust client (rumqttc) publishes 64-byte messages
//!    (QoS 0 and 1; 1 and 10 publishers) to one subscriber, through a
//!    `hive edge`'s in-process broker and through mosquitto; msg/s and
//!    publish-to-delivery latency, and the hive/mosquitto ratio.
//! 2. Twins: a `hive edge` (no cloud) with N devices in its cache; a
//!    mapper sends twin updates round-robin over all devices and waits for
//!    each result: updates/s end to end (validate, store, publish result,
//!    document and delta, durable report queued for the cloud), latency,
//!    and the edge's RSS with N devices.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::{pct, rss_of, write_report};
use crate::edge::meta::MetaStore;
use crate::proto::ObjectChange;

pub(super) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) -> Result<(), String> {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(format!("nothing listens on 127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A `hive edge` with `devices` Device objects in its cache and no cloud.
fn start_edge(dir: &Path, devices: usize) -> Result<(Killed, u16), String> {
    let edge_dir = dir.join("edge");
    super::node_credentials(dir, &edge_dir, "bench-1")?;
    {
        let db = crate::store::open(&edge_dir, 2 << 20).map_err(|e| e.to_string())?;
        let store = MetaStore::open(&db).map_err(|e| e.to_string())?;
        let mut changes: Vec<ObjectChange> = (0..devices)
            .map(|i| {
                let d = format!(r#"{{"apiVersion":"devices.kubeedge.io/v1beta1","kind":"Device","metadata":{{"name":"d{i}","namespace":"default"}},"spec":{{"nodeName":"bench-1","deviceModelRef":{{"name":"m"}},"properties":[{{"name":"temp","desired":{{"value":"20"}}}}]}}}}"#);
                ObjectChange { key: format!("default/device/d{i}"), version: i as u64 + 2, content: Some(d.into_bytes()) }
            })
            .collect();
        let model = r#"{"metadata":{"name":"m","namespace":"default"},"spec":{"properties":[{"name":"temp","type":"FLOAT"}]}}"#;
        changes.push(ObjectChange { key: "default/devicemodel/m".into(), version: 1, content: Some(model.as_bytes().to_vec()) });
        smol::block_on(store.load(&changes)).map_err(|e| e.to_string())?;
    }
    let (mqtt, api, dead) = (free_port()?, free_port()?, free_port()?);
    let cfg = dir.join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "role = \"edge\"\ndata_dir = {:?}\nmodules = [\"edgehub\", \"metamanager\", \"eventbus\", \"devicetwin\"]\n[metaserver]\nlisten = \"127.0.0.1:{api}\"\n[edgehub]\nserver = \"127.0.0.1:{dead}\"\noutbox_max_events = 100\n[eventbus]\nlisten = \"127.0.0.1:{mqtt}\"\nmax_clients = 64\n",
            edge_dir.display().to_string()
        ),
    )
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args(["edge", "--config", &cfg.display().to_string()])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let k = Killed(child);
    wait_port(mqtt)?;
    Ok((k, mqtt))
}

fn start_mosquitto(dir: &Path) -> Option<(Killed, u16)> {
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| Path::new(p).exists())?;
    let port = free_port().ok()?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n")).ok()?;
    let child = Command::new(bin).args(["-c", &conf.display().to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let k = Killed(child);
    wait_port(port).ok()?;
    Some((k, port))
}

fn opts(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_inflight(100);
    o
}

fn now_us(t0: Instant) -> u64 {
    t0.elapsed().as_micros() as u64
}

/// One broker run: (msgs/s, delivered fraction, p50 µs, p99 µs).
pub(super) async fn broker_run(port: u16, qos: QoS, publishers: usize, messages: usize) -> Result<(f64, f64, u64, u64), String> {
    let t0 = Instant::now();
    let (sub, mut sub_loop) = AsyncClient::new(opts("bench-sub", port), 1000);
    sub.subscribe("bench/#", QoS::AtMostOnce).await.map_err(|e| e.to_string())?;
    // Wait for the SUBACK.
    loop {
        match sub_loop.poll().await.map_err(|e| format!("subscriber: {e}"))? {
            Event::Incoming(Packet::SubAck(_)) => break,
            _ => continue,
        }
    }
    let receiver = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(messages);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut last = Instant::now();
        while lat.len() < messages {
            let ev = match tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + Duration::from_secs(3)), sub_loop.poll()).await {
                Ok(Ok(ev)) => ev,
                _ => break,
            };
            if let Event::Incoming(Packet::Publish(p)) = ev {
                if p.payload.len() >= 8 {
                    let sent = u64::from_be_bytes(p.payload[..8].try_into().unwrap_or([0; 8]));
                    lat.push(now_us(t0).saturating_sub(sent));
                    last = Instant::now();
                }
            }
        }
        (lat, last)
    });
    let start = Instant::now();
    let mut pubs = Vec::new();
    for p in 0..publishers {
        let n = messages / publishers;
        pubs.push(tokio::spawn(async move {
            let (c, mut el) = AsyncClient::new(opts(&format!("bench-pub-{p}"), port), 1000);
            let driver = tokio::spawn(async move { while el.poll().await.is_ok() {} });
            for _ in 0..n {
                let mut payload = now_us(t0).to_be_bytes().to_vec();
                payload.resize(64, b'x');
                if c.publish(format!("bench/{p}"), qos, false, payload).await.is_err() {
                    break;
                }
            }
            // Let the last QoS 1 acks come in before dropping the connection.
            tokio::time::sleep(Duration::from_millis(500)).await;
            driver.abort();
        }));
    }
    for p in pubs {
        let _ = p.await;
    }
    let (mut lat, last) = receiver.await.map_err(|e| e.to_string())?;
    let secs = last.saturating_duration_since(start).as_secs_f64().max(1e-6);
    let got = lat.len();
    lat.sort_unstable();
    let expected = messages / publishers * publishers;
    Ok((got as f64 / secs, got as f64 / expected as f64, pct(&lat, 50), pct(&lat, 99)))
}

/// Twin updates through DeviceTwin: (updates/s, p50 µs, p99 µs).
pub(super) async fn twin_run(port: u16, ns: &str, devices: usize, updates: usize) -> Result<(f64, u64, u64), String> {
    let (c, mut el) = AsyncClient::new(opts("bench-mapper", port), 1000);
    c.subscribe("$hw/events/device/+/+/twin/update/result", QoS::AtMostOnce).await.map_err(|e| e.to_string())?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = el.poll().await.map_err(|e| format!("mapper: {e}"))? {
            break;
        }
    }
    let mut lat = Vec::with_capacity(updates);
    let start = Instant::now();
    for i in 0..updates {
        let d = i % devices.max(1);
        let t = Instant::now();
        let body = format!(r#"{{"event_id":"b{i}","twin":{{"temp":{{"actual":{{"value":"{}.5"}}}}}}}}"#, i % 100);
        c.publish(format!("$hw/events/device/{ns}/d{d}/twin/update"), QoS::AtLeastOnce, false, body).await.map_err(|e| e.to_string())?;
        let want = format!("$hw/events/device/{ns}/d{d}/twin/update/result");
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), el.poll())
                .await
                .map_err(|_| format!("no twin result for update {i} within 10 s"))?
                .map_err(|e| e.to_string())?;
            if let Event::Incoming(Packet::Publish(p)) = ev {
                if p.topic == want {
                    break;
                }
            }
        }
        lat.push(t.elapsed().as_micros() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    Ok((updates as f64 / secs, pct(&lat, 50), pct(&lat, 99)))
}

pub fn run(devices: usize, messages: usize, out: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("hive-bench-mqtt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let r = measure(&dir, devices, messages, out);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn measure(dir: &Path, devices: usize, messages: usize, out: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (edge, hive_port) = start_edge(dir, devices)?;
    let pid = edge.0.id().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_of(&pid);
    let peer = start_mosquitto(dir);
    let mut text =
        format!("hive bench mqtt: {messages} messages of 64 B per run, one subscriber, same client (rumqttc); hive edge vs mosquitto on this machine\n");
    let mut rows = Vec::new();
    for (qos, qn) in [(QoS::AtMostOnce, 0), (QoS::AtLeastOnce, 1)] {
        for publishers in [1usize, 10] {
            let h = rt.block_on(broker_run(hive_port, qos, publishers, messages))?;
            let m = match &peer {
                Some((_, p)) => Some(rt.block_on(broker_run(*p, qos, publishers, messages))?),
                None => None,
            };
            let ratio = m.map(|m| format!("{:.2}", h.0 / m.0)).unwrap_or_else(|| "n/a".into());
            text += &format!(
                "QoS {qn}, {publishers:>2} publishers: hive {:>8.0} msg/s ({:.1}% delivered, p50 {:.2} ms, p99 {:.2} ms) | mosquitto {} | ratio {ratio}\n",
                h.0,
                h.1 * 100.0,
                h.2 as f64 / 1000.0,
                h.3 as f64 / 1000.0,
                m.map(|m| format!("{:>8.0} msg/s ({:.1}%, p50 {:.2} ms, p99 {:.2} ms)", m.0, m.1 * 100.0, m.2 as f64 / 1000.0, m.3 as f64 / 1000.0))
                    .unwrap_or_else(|| "not installed".into())
            );
            rows.push(serde_json::json!({"qos": qn, "publishers": publishers, "hive": {"msg_per_s": h.0, "delivered": h.1, "p50_us": h.2, "p99_us": h.3},
                "mosquitto": m.map(|m| serde_json::json!({"msg_per_s": m.0, "delivered": m.1, "p50_us": m.2, "p99_us": m.3}))}));
        }
    }
    let updates = (devices * 2).clamp(1000, 5000);
    let (ups, p50, p99) = rt.block_on(twin_run(hive_port, "default", devices, updates))?;
    let rss_twins = rss_of(&pid);
    text += &format!(
        "twins: {updates} updates over {devices} devices, one mapper waiting for each result: {ups:.0} updates/s, p50 {:.2} ms, p99 {:.2} ms (each stored, answered, and queued durably for the cloud)\n\
         edge RSS with {devices} devices: {:.1} MiB at start, {:.1} MiB after the runs\n",
        p50 as f64 / 1000.0,
        p99 as f64 / 1000.0,
        rss_idle as f64 / 1024.0,
        rss_twins as f64 / 1024.0
    );
    drop(edge);
    let json = serde_json::json!({"messages": messages, "broker": rows, "devices": devices, "twin_updates": updates, "twin_updates_per_s": ups,
        "twin_p50_us": p50, "twin_p99_us": p99, "edge_rss_kib": {"start": rss_idle, "after": rss_twins}});
    write_report(out, "mqtt", &text, &format!("{json:#}\n"))
}
