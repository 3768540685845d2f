//! The internal broker under floods, against a real `hive edge`: publishers
//! faster than a subscriber are held back (TCP pushes back on them) rather
//! than overrunning it, so nothing is lost while it keeps reading and the
//! router's log stays small; a subscriber that stops reading is no longer
//! waited for after 2 s; every twin request of a burst reaches DeviceTwin.
//! (Issue: footprint — a 20,000-message flood used to leave ~9 MiB behind;
//! a smaller log without flow control dropped 58% of it.)

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::inproc::free_port;
use common::rawmqtt::{rss_kib, Raw};
use common::{Proc, Site};
use rumqttc::mqttbytes::v4::Packet;

fn start_edge(site: &Site, hub: u16, mqtt: u16) -> Proc {
    let mut e = site.start_edge("edge-1", hub, &format!("[eventbus]\nlisten = \"127.0.0.1:{mqtt}\"\n"));
    e.wait_for("hive edge ready", Duration::from_secs(20));
    e
}

/// Publish `n` QoS 0 messages of `size` bytes on `flood/<p>` from each of
/// `publishers` threads (payload: publisher, sequence number, filler).
fn flood(mqtt: u16, publishers: usize, n: u32, size: usize) -> Vec<std::thread::JoinHandle<u32>> {
    (0..publishers)
        .map(|p| {
            std::thread::spawn(move || {
                let (mut c, code) = Raw::connect(mqtt, &format!("pub-{p}"), 120);
                assert_eq!(code, 0);
                let mut sent = 0;
                for i in 0..n {
                    let mut payload = format!("{p} {i} ").into_bytes();
                    payload.resize(size, b'x');
                    if !c.publish(&format!("flood/{p}"), &payload) {
                        break;
                    }
                    sent += 1;
                }
                // A round trip: everything before it has been read by the broker.
                assert!(c.publish_acked("flood/done", b""), "publisher {p} cut off");
                sent
            })
        })
        .collect()
}

/// Read publishes on `flood/<p>` until `want` have come (or 20 s of nothing),
/// pausing `pause` every 500 messages; checks per-publisher order.
fn receive(sub: &mut Raw, want: u64, pause: Duration) -> u64 {
    let mut next: HashMap<String, u32> = HashMap::new();
    let mut got = 0u64;
    sub.tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while got < want {
        match sub.read() {
            Some(Packet::Publish(p)) if p.topic != "flood/done" => {
                let text = String::from_utf8_lossy(&p.payload[..p.payload.len().min(32)]).to_string();
                let mut it = text.split(' ');
                let (who, seq) = (it.next().unwrap_or("").to_string(), it.next().and_then(|s| s.parse::<u32>().ok()).unwrap_or(u32::MAX));
                let expected = next.entry(who.clone()).or_insert(0);
                assert_eq!(seq, *expected, "publisher {who}: message {seq} came where {expected} was due (lost or reordered)");
                *expected += 1;
                got += 1;
                if got % 500 == 0 {
                    std::thread::sleep(pause);
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    got
}

#[test]
fn ten_publishers_flooding_a_slower_subscriber_lose_nothing_and_leave_little_behind() {
    let site = Site::new();
    let (_cloud, hub) = site.start_cloud("");
    site.node_cert("edge-1");
    let mqtt = free_port();
    let edge = start_edge(&site, hub, mqtt);
    let pid = edge.child.id();
    let (mut sub, _) = Raw::connect(mqtt, "slow", 120);
    assert_eq!(sub.subscribe(&["flood/#".to_string()]), vec![true]);
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss_kib(pid);
    // 60,000 messages of 1 KiB (~60 MB): far more than the broker may keep
    // (~200 KB by default; before, a 4 MiB log overran and dropped).
    let pubs = flood(mqtt, 10, 6_000, 1024);
    let got = receive(&mut sub, 60_000, Duration::from_millis(20));
    let sent: u32 = pubs.into_iter().map(|h| h.join().expect("publisher")).sum();
    assert_eq!(sent, 60_000, "every publisher got every message out");
    assert_eq!(got, 60_000, "the subscriber got {got} of 60,000");
    std::thread::sleep(Duration::from_secs(2));
    let grown = rss_kib(pid).saturating_sub(idle);
    eprintln!("edge RSS {idle} KiB before, +{grown} KiB after 60,000 messages of 1 KiB");
    assert!(grown < 3 << 10, "RSS grew by {grown} KiB after the flood (the router's log must stay small)");
}

#[test]
fn a_subscriber_that_stops_reading_holds_publishers_up_for_two_seconds_only() {
    let site = Site::new();
    let (_cloud, hub) = site.start_cloud("");
    site.node_cert("edge-1");
    let mqtt = free_port();
    let mut edge = start_edge(&site, hub, mqtt);
    let (mut stuck, _) = Raw::connect(mqtt, "stuck", 120);
    assert_eq!(stuck.subscribe(&["flood/#".to_string()]), vec![true]);
    let (mut reader, _) = Raw::connect(mqtt, "reader", 120);
    assert_eq!(reader.subscribe(&["flood/#".to_string()]), vec![true]);
    // 20 MB: more than the stuck client's socket buffers take.
    let t0 = Instant::now();
    let pubs = flood(mqtt, 1, 20_000, 1024);
    let got = receive(&mut reader, 20_000, Duration::ZERO);
    let sent: u32 = pubs.into_iter().map(|h| h.join().expect("publisher")).sum();
    assert_eq!((sent, got), (20_000, 20_000), "the reading subscriber got {got} of {sent}");
    edge.wait_for("MQTT client `stuck` is ", Duration::from_secs(5));
    eprintln!("20,000 messages past a stuck subscriber in {:?}", t0.elapsed());
    drop(stuck);
}

#[test]
fn every_request_of_a_burst_reaches_device_twin_and_is_answered() {
    let site = Site::new();
    let (_cloud, hub) = site.start_cloud("");
    site.node_cert("edge-1");
    let mqtt = free_port();
    let _edge = start_edge(&site, hub, mqtt);
    let (mut sub, _) = Raw::connect(mqtt, "answers", 120);
    assert_eq!(sub.subscribe(&["$hw/events/node/edge-1/membership/get/result".to_string()]), vec![true]);
    // 5,000 requests as fast as TCP takes them: more than any queue on the way holds.
    let (mut p, _) = Raw::connect(mqtt, "asker", 120);
    for i in 0..5_000 {
        assert!(p.publish("$hw/events/node/edge-1/membership/get", format!(r#"{{"event_id":"q{i}"}}"#).as_bytes()), "asker cut off");
    }
    let mut seen = std::collections::HashSet::new();
    sub.tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while seen.len() < 5_000 {
        match sub.read() {
            Some(Packet::Publish(m)) => {
                let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("a JSON answer");
                seen.insert(v["event_id"].as_str().unwrap_or("").to_string());
            }
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(seen.len(), 5_000, "answers to {} of 5,000 requests", seen.len());
}
