//! Fuzzing what a local MQTT client sends the listener: packets through the
//! codec it uses, and the topic rules applied to what decodes — escaping
//! for the router is lossless, and filter matching never panics and agrees
//! with itself (a topic matches itself when it is a valid filter).

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{self as mqtt, Connect, Packet, Publish, Subscribe, SubscribeFilter, Unsubscribe};
use rumqttc::mqttbytes::QoS;

use super::escape::{escape, unescape};
use crate::edge::topic_filter::{matches, Subscriptions};
use crate::fuzz::Fuzzer;

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = BytesMut::new();
    Connect::new("sensor-1").write(&mut b).unwrap();
    out.push(b.split().to_vec());
    let mut p = Publish::new("$hw/events/device/default/thermo/twin/update", QoS::AtLeastOnce, b"{\"twin\":{}}".to_vec());
    p.pkid = 7;
    p.write(&mut b).unwrap();
    out.push(b.split().to_vec());
    Subscribe::new_many([SubscribeFilter::new("$hw/events/device/+/twin/+".into(), QoS::AtMostOnce), SubscribeFilter::new("a/#".into(), QoS::AtLeastOnce)])
        .write(&mut b)
        .unwrap();
    out.push(b.split().to_vec());
    Unsubscribe::new("a/#").write(&mut b).unwrap();
    out.push(b.split().to_vec());
    mqtt::PingReq.write(&mut b).unwrap();
    out.push(b.split().to_vec());
    out
}

fn check_topic(t: &str) {
    assert_eq!(unescape(&escape(t)), t, "escaping for the router must be lossless");
    if rumqttd::protocol::valid_filter(t) && !t.contains(['+', '#']) {
        assert!(matches(t, t), "`{t}` does not match itself");
    }
    let mut s = Subscriptions::default();
    s.insert(t, 1);
    let _ = s.wants(t);
}

#[test]
fn mqtt_packets_and_topics_never_panic_and_escaping_is_lossless() {
    let mut f = Fuzzer::new("mqtt", seeds());
    f.run(|bytes| {
        let mut buf = BytesMut::from(bytes);
        match mqtt::read(&mut buf, 1 << 16) {
            Ok(Packet::Publish(p)) => {
                check_topic(&p.topic);
                "publish".into()
            }
            Ok(Packet::Subscribe(s)) => {
                for sf in &s.filters {
                    check_topic(&sf.path);
                    let _ = matches(&sf.path, "$hw/events/device/default/thermo/twin/update");
                }
                "subscribe".into()
            }
            Ok(p) => format!("{:?}", std::mem::discriminant(&p)),
            Err(e) => format!("error {:?}", std::mem::discriminant(&e)),
        }
    });
    assert!(f.outcomes.len() >= 6, "the fuzzer reached only {:?}", f.outcomes);
}
