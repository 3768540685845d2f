//! Devices over MQTT, end to end with real processes: `hive cloud`, `hive
//! edge` (EventBus with its in-process broker, DeviceTwin), Debian's
//! mosquitto_pub/mosquitto_sub as the mapper, and the cloud API as the
//! user. Topics and payloads are KubeEdge's (../shared/MQTT-COMPAT.md).

mod common;

use std::time::Duration;

use common::api::{start_cloud_with_api, Api};
use common::inproc::free_port;
use common::mqtt::{publish, Sub};
use common::{Proc, Site};

use serde_json::{json, Value};

const DEV: &str = "$hw/events/device/default/thermo";
const CLOUD_CFG: &str = "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"\nnode_timeout_s = 3";

fn device_path() -> &'static str {
    "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/thermo"
}

fn create_device(api: &Api, desired: &str) {
    let model = json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "DeviceModel", "metadata": {"name": "thermo-model"},
        "spec": {"protocol": "modbus", "properties": [{"name": "temp", "type": "FLOAT", "accessMode": "ReadWrite"}]}});
    let (c, b) = api.send("POST", "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicemodels", &model);
    assert_eq!(c, 201, "{b}");
    let dev = json!({"apiVersion": "devices.kubeedge.io/v1beta1", "kind": "Device", "metadata": {"name": "thermo"},
        "spec": {"deviceModelRef": {"name": "thermo-model"}, "nodeName": "edge-1", "protocol": {"protocolName": "modbus"},
                 "properties": [{"name": "temp", "desired": {"value": desired}, "reportCycle": 1000}]}});
    let (c, b) = api.send("POST", "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices", &dev);
    assert_eq!(c, 201, "{b}");
}

fn reported(api: &Api) -> Option<String> {
    let (_, d) = api.get(device_path());
    d["status"]["twins"].as_array()?.iter().find(|t| t["propertyName"] == "temp")?["reported"]["value"].as_str().map(str::to_string)
}

fn start_edge(site: &Site, hub: u16, mqtt: u16) -> Proc {
    let mut e = site.start_edge("edge-1", hub, &format!("[eventbus]\nlisten = \"127.0.0.1:{mqtt}\""));
    e.wait_for("hive edge ready", Duration::from_secs(20));
    e
}

#[test]
fn a_kubeedge_mapper_talks_to_hive_over_mqtt() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, CLOUD_CFG);
    site.node_cert("edge-1");
    let mqtt = free_port();
    let mut edge = start_edge(&site, hub, mqtt);
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    let mut sub = Sub::new(mqtt, &["$hw/events/device/#", "$hw/events/node/#"]);

    // The cloud places a device with a desired value: the edge announces it and pushes the desired value.
    create_device(&api, "25");
    let m = sub.on("$hw/events/node/edge-1/membership/updated", 20);
    assert_eq!(m["added_devices"], json!([{"id": "default/thermo", "name": "thermo"}]));
    assert_eq!(m["removed_devices"], Value::Null);
    let d = sub.on(&format!("{DEV}/twin/update/delta"), 20);
    assert_eq!(d["delta"], json!({"temp": "25"}));
    assert_eq!(d["twin"]["temp"]["expected"]["value"], "25");
    assert_eq!(d["twin"]["temp"]["metadata"]["type"], "float", "type from the DeviceModel");
    assert_eq!(d["event_id"].as_str().unwrap().len(), 36);

    // Membership get: the result goes to the configured node's topic.
    publish(mqtt, "$hw/events/node/edge-1/membership/get", r#"{"event_id":"m-1"}"#);
    let r = sub.on("$hw/events/node/edge-1/membership/get/result", 10);
    assert_eq!((r["event_id"].as_str(), r["devices"][0]["id"].as_str()), (Some("m-1"), Some("default/thermo")));
    assert!(r["devices"][0].get("twin").is_none());

    // State: echoed with the short name and lastOnlineTime; the cloud shows it.
    publish(mqtt, &format!("{DEV}/state/update"), r#"{"event_id":"","timestamp":0,"state":"online"}"#);
    let r = sub.on(&format!("{DEV}/state/update/result"), 10);
    assert_eq!((r["device"]["name"].as_str(), r["device"]["state"].as_str()), (Some("thermo"), Some("online")));
    assert!(r["device"]["lastOnlineTime"].as_str().unwrap().ends_with('Z'));
    api.wait_until(device_path(), 20, |d| d["status"]["state"] == "online");
    publish(mqtt, &format!("{DEV}/state/update"), r#"{"state":"disconnected"}"#);

    // A report: result (only what changed), document, delta (still differs); the cloud's status shows it.
    publish(mqtt, &format!("{DEV}/twin/update"), r#"{"event_id":"u-1","timestamp":0,"twin":{"temp":{"actual":{"value":"23.5"},"metadata":{"type":"float"}}}}"#);
    let r = sub.on(&format!("{DEV}/twin/update/result"), 10);
    assert_eq!(r["event_id"], "u-1");
    assert_eq!(r["twin"]["temp"]["actual"]["value"], "23.5");
    assert!(r["twin"]["temp"].get("expected").is_none(), "only what was written: {r}");
    assert!(r["twin"]["temp"]["actual"]["metadata"]["timestamp"].as_u64().unwrap() > 0);
    let doc = sub.on(&format!("{DEV}/twin/update/document"), 10);
    assert_eq!((doc["twin"]["temp"]["last"]["actual"].is_null(), doc["twin"]["temp"]["current"]["actual"]["value"].as_str()), (true, Some("23.5")));
    assert_eq!(sub.on(&format!("{DEV}/twin/update/delta"), 10)["delta"], json!({"temp": "25"}));
    api.wait_until(device_path(), 20, |_| reported(&api).as_deref() == Some("23.5"));

    // Errors: KubeEdge's codes and reasons, on the device's own result topic, nothing else changes.
    for (payload, code, reason) in [
        (r#"{"event_id":"u-2","twin":{"temp":{"actual":{"value":"hot"}}}}"#, 400, "the value is not float"),
        (r#"{"event_id":"u-3","twin":{"temp":{"actual":{"value":"23.5 C"}}}}"#, 400, "The value of twin must only include"),
        (r#"{"event_id":"u-4","twin":{"temp":{"actual":{"value":5}}}}"#, 400, "Unmarshal update request body failed"),
        (r#"{"event_id":"u-5"}"#, 400, "key:twin does not exist"),
        ("not json", 400, "Unmarshal update request body failed"),
    ] {
        publish(mqtt, &format!("{DEV}/twin/update"), payload);
        let r = sub.on(&format!("{DEV}/twin/update/result"), 10);
        assert_eq!(r["code"], code, "{payload}: {r}");
        assert!(r["reason"].as_str().unwrap().contains(reason), "{payload}: {r}");
        assert!(r.get("twin").is_none());
    }
    // Over the 64 KiB cap: refused with a result, not applied.
    let big = format!(r#"{{"event_id":"u-big","twin":{{"temp":{{"actual":{{"value":"{}"}}}}}}}}"#, "1".repeat(70 * 1024));
    publish(mqtt, &format!("{DEV}/twin/update"), &big);
    let r = sub.on(&format!("{DEV}/twin/update/result"), 10);
    assert_eq!(r["code"], 400, "{r}");
    assert!(r["reason"].as_str().unwrap().contains("65536"), "{r}");
    publish(mqtt, "$hw/events/device/default/ghost/twin/update", r#"{"event_id":"u-6","twin":{"x":{"actual":{"value":"1"}}}}"#);
    let r = sub.on("$hw/events/device/default/ghost/twin/update/result", 10);
    assert_eq!((r["code"].as_u64(), r["event_id"].as_str()), (Some(404), Some("u-6")));

    // Get, in the two-level and the legacy one-level form.
    publish(mqtt, &format!("{DEV}/twin/get"), r#"{"event_id":"g-1"}"#);
    let g = sub.on(&format!("{DEV}/twin/get/result"), 10);
    assert_eq!((g["twin"]["temp"]["expected"]["value"].as_str(), g["twin"]["temp"]["actual"]["value"].as_str()), (Some("25"), Some("23.5")));
    assert!(g["twin"]["temp"].get("expected_version").is_none(), "versions never on MQTT");
    publish(mqtt, "$hw/events/device/thermo/twin/get", r#"{"event_id":"g-2"}"#);
    assert_eq!(sub.on("$hw/events/device/thermo/twin/get/result", 10)["event_id"], "g-2");
    publish(mqtt, "$hw/events/device/default/nope/twin/get", r#"{"event_id":"g-3"}"#);
    assert_eq!(sub.on("$hw/events/device/default/nope/twin/get/result", 10)["code"], 404);

    // The user changes the desired value: a delta reaches the device.
    let (c, b) = api.send("PATCH", device_path(), &json!({"spec": {"properties": [{"name": "temp", "desired": {"value": "30"}}]}}));
    assert_eq!(c, 200, "{b}");
    assert_eq!(sub.on(&format!("{DEV}/twin/update/delta"), 20)["delta"], json!({"temp": "30"}));

    // A stale cloud_updated is refused with an error result, a fresh one applies.
    publish(
        mqtt,
        &format!("{DEV}/twin/cloud_updated"),
        r#"{"event_id":"c-1","twin":{"temp":{"expected":{"value":"1"},"expected_version":{"cloud":0,"edge":0}}}}"#,
    );
    let r = sub.on(&format!("{DEV}/twin/update/result"), 10);
    assert_eq!((r["code"].as_u64(), r["event_id"].as_str()), (Some(409), Some("c-1")));

    // Uploads go up to the cloud.
    publish(mqtt, "SYS/dis/upload_records", "record-1");
    cloud.wait_for("upload from node/edge-1/SYS/dis/upload_records", Duration::from_secs(20));

    // A twin deleted with null (optional twins only): result null, document current null.
    publish(mqtt, &format!("{DEV}/twin/update"), r#"{"event_id":"u-del","twin":{"extra":{"actual":{"value":"1"}}}}"#);
    assert_eq!(sub.on(&format!("{DEV}/twin/update/result"), 10)["event_id"], "u-del");
    publish(mqtt, &format!("{DEV}/twin/update"), r#"{"event_id":"u-del2","twin":{"extra":null}}"#);
    let r = sub.on(&format!("{DEV}/twin/update/result"), 10);
    assert_eq!((r["event_id"].as_str(), &r["twin"]), (Some("u-del2"), &json!({"extra": null})));
    let doc = sub.on(&format!("{DEV}/twin/update/document"), 10);
    assert_eq!((doc["twin"]["extra"]["current"].is_null(), doc["twin"]["extra"]["last"]["actual"]["value"].as_str()), (true, Some("1")));

    // Deleting the device removes it from the edge and tells the mapper.
    let (c, _) = api.call("DELETE", device_path(), "application/json", b"", true);
    assert_eq!(c, 200);
    let m = sub.on("$hw/events/node/edge-1/membership/updated", 20);
    assert_eq!(m["removed_devices"][0]["id"], "default/thermo");

    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn reports_survive_a_cloud_outage_and_desired_state_is_pushed_again() {
    let site = Site::new();
    let hub = free_port();
    let cfg = format!("[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:{hub}\"\nnode_timeout_s = 3");
    let (mut cloud, api, _) = start_cloud_with_api(&site, &cfg);
    site.node_cert("edge-1");
    let mqtt = free_port();
    let mut edge = start_edge(&site, hub, mqtt);
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    let mut sub = Sub::new(mqtt, &["$hw/events/device/#"]);
    create_device(&api, "25");
    assert_eq!(sub.on(&format!("{DEV}/twin/update/delta"), 20)["delta"], json!({"temp": "25"}));

    // The cloud dies; the device keeps reporting and is answered locally.
    cloud.signal("KILL");
    cloud.wait_exit(Duration::from_secs(10));
    for (i, v) in ["20.1", "20.2", "20.3"].iter().enumerate() {
        publish(mqtt, &format!("{DEV}/twin/update"), &format!(r#"{{"event_id":"o-{i}","twin":{{"temp":{{"actual":{{"value":"{v}"}}}}}}}}"#));
        let r = sub.on(&format!("{DEV}/twin/update/result"), 10);
        assert_eq!((r["event_id"].as_str(), r["twin"]["temp"]["actual"]["value"].as_str()), (Some(format!("o-{i}").as_str()), Some(*v)));
    }
    // Back: the newest value per property arrives, and the desired state is pushed again.
    let (mut cloud, api, _) = start_cloud_with_api(&site, &cfg);
    assert_eq!(sub.on(&format!("{DEV}/twin/update/delta"), 30)["delta"], json!({"temp": "25"}), "re-pushed after the reconnect");
    api.wait_until(device_path(), 30, |_| reported(&api).as_deref() == Some("20.3"));
    let log = cloud.drain().join("\n");
    assert!(!log.contains("refused"), "{log}");

    // After an edge restart, a device that subscribes again gets the desired state at once.
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    drop(sub);
    let mut edge = start_edge(&site, hub, mqtt);
    let mut sub = Sub::new(mqtt, &["$hw/events/device/default/thermo/twin/update/delta", "$hw/events/device/default/thermo/twin/get/result"]);
    assert_eq!(sub.on(&format!("{DEV}/twin/update/delta"), 10)["delta"], json!({"temp": "25"}), "pushed on subscribe");
    publish(mqtt, &format!("{DEV}/twin/get"), r#"{"event_id":"after-restart"}"#);
    let g = sub.on(&format!("{DEV}/twin/get/result"), 10);
    assert_eq!(
        (g["twin"]["temp"]["actual"]["value"].as_str(), g["twin"]["temp"]["expected"]["value"].as_str()),
        (Some("20.3"), Some("25")),
        "twins survive a restart"
    );
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn external_mode_against_mosquitto_with_a_rust_mqtt_client() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, CLOUD_CFG);
    site.node_cert("edge-1");
    let port = free_port();
    let broker = common::mqtt::Mosquitto::start(site.path(), port);
    let mut edge = site.start_edge("edge-1", hub, &format!("[eventbus]\nmode = \"external\"\nexternal = \"127.0.0.1:{port}\""));
    edge.wait_for("hive edge ready", Duration::from_secs(20));
    edge.wait_for("connected to MQTT broker", Duration::from_secs(20));

    // A Rust client (rumqttc) as the mapper.
    let mut opts = rumqttc::MqttOptions::new("rust-mapper", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = rumqttc::Client::new(opts, 64);
    let (tx, rx) = std::sync::mpsc::channel::<(String, Value)>();
    std::thread::spawn(move || {
        for ev in connection.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let v = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    if tx.send((p.topic.clone(), v)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    client.subscribe(format!("{DEV}/twin/update/+"), rumqttc::QoS::AtLeastOnce).unwrap();
    let wait = |topic: &str| -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (t, v) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).unwrap_or_else(|_| panic!("nothing on {topic}"));
            if t == topic {
                return v;
            }
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    create_device(&api, "25");
    assert_eq!(wait(&format!("{DEV}/twin/update/delta"))["delta"], json!({"temp": "25"}));
    client
        .publish(format!("{DEV}/twin/update"), rumqttc::QoS::AtLeastOnce, false, r#"{"event_id":"r-1","twin":{"temp":{"actual":{"value":"24.5"}}}}"#)
        .unwrap();
    let r = wait(&format!("{DEV}/twin/update/result"));
    assert_eq!((r["event_id"].as_str(), r["twin"]["temp"]["actual"]["value"].as_str()), (Some("r-1"), Some("24.5")));
    api.wait_until(device_path(), 20, |_| reported(&api).as_deref() == Some("24.5"));
    drop(client);

    // The broker restarts: hive reconnects and subscribes again.
    drop(broker);
    let _broker = common::mqtt::Mosquitto::start(site.path(), port);
    let n = edge.drain().iter().filter(|l| l.contains("connected to MQTT broker")).count();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while edge.drain().iter().filter(|l| l.contains("connected to MQTT broker")).count() <= n {
        assert!(std::time::Instant::now() < deadline, "hive did not reconnect to mosquitto");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut sub = Sub::new(port, &[&format!("{DEV}/twin/update/result")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // Subscriptions are made right after CONNACK; retry until they are in place.
        publish(port, &format!("{DEV}/twin/update"), r#"{"event_id":"r-2","twin":{"temp":{"actual":{"value":"26"}}}}"#);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sub.on(&format!("{DEV}/twin/update/result"), 1))).is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no twin result after the broker restart");
    }
    api.wait_until(device_path(), 20, |_| reported(&api).as_deref() == Some("26"));
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn the_internal_broker_can_require_a_login() {
    let site = Site::new();
    let (mut cloud, _api, hub) = start_cloud_with_api(&site, CLOUD_CFG);
    site.node_cert("edge-1");
    let mqtt = free_port();
    let mut edge = site.start_edge("edge-1", hub, &format!("[eventbus]\nlisten = \"127.0.0.1:{mqtt}\"\nusername = \"mapper\"\npassword = \"s3cret\""));
    edge.wait_for("MQTT broker listening on", Duration::from_secs(20));
    let pubc = |extra: &[&str]| {
        std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &mqtt.to_string(), "-t", "$hw/events/node/edge-1/membership/get", "-m", "{}"])
            .args(extra)
            .output()
            .unwrap()
    };
    let none = pubc(&[]);
    assert!(!none.status.success(), "anonymous must be refused");
    let bad = pubc(&["-u", "mapper", "-P", "wrong"]);
    assert!(!bad.status.success(), "a wrong password must be refused");
    assert!(String::from_utf8_lossy(&bad.stderr).to_lowercase().contains("password"), "{}", String::from_utf8_lossy(&bad.stderr));
    let good = pubc(&["-u", "mapper", "-P", "s3cret"]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    assert!(edge.drain().iter().any(|l| l.contains("bad username or password")), "refusals are logged");
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}
