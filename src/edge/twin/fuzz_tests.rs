//! Fuzzing what a device sends DeviceTwin (topic and JSON payload from any
//! local MQTT client): never a panic, a refusal leaves the device as it
//! was, and an accepted update is the state the next update starts from.

use serde_json::Value;

use super::model::Device;
use super::{topic, update};
use crate::fuzz::Fuzzer;

fn seeds() -> Vec<Vec<u8>> {
    [
        "$hw/events/device/default/thermo/twin/update\n{\"event_id\":\"e\",\"twin\":{\"temp\":{\"actual\":{\"value\":\"21.5\"},\"metadata\":{\"type\":\"float\"}}}}",
        "$hw/events/device/thermo/twin/update\n{\"twin\":{\"temp\":{\"expected\":{\"value\":\"25\"}}}}",
        "$hw/events/device/default/thermo/twin/update\n{\"twin\":{\"temp\":null}}",
        "$hw/events/device/default/thermo/twin/cloud_updated\n{\"twin\":{\"temp\":{\"expected\":{\"value\":\"1\"},\"expected_version\":{\"cloud\":2,\"edge\":0}}}}",
        "$hw/events/device/default/thermo/state/update\n{\"state\":\"online\"}",
        "$hw/events/node/edge-1/membership/get\n{\"event_id\":\"m\"}",
        "$hw/events/device/default/thermo/twin/get\n{}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn device_messages_never_panic_and_refusals_change_nothing() {
    let mut f = Fuzzer::new("twin", seeds());
    let mut dev = Device { id: "default/thermo".into(), name: "thermo".into(), properties: vec!["temp".into()], ..Default::default() };
    f.run(|bytes| {
        let text = String::from_utf8_lossy(bytes);
        let (t, body) = text.split_once('\n').unwrap_or((&text, ""));
        let Some(req) = topic::parse(t) else { return "no request".into() };
        let Ok(payload) = serde_json::from_str::<Value>(body) else { return format!("{:?} bad json", req.action) };
        if !matches!(req.action, topic::Action::TwinUpdate | topic::Action::CloudUpdated) {
            return format!("{:?}", req.action);
        }
        let twin = match update::twin_field(&payload) {
            Ok(t) => t,
            Err((code, _)) => return format!("{:?} {code}", req.action),
        };
        let before = dev.clone();
        let r = if req.action == topic::Action::TwinUpdate { update::edge_update(&mut dev, twin, 1) } else { update::cloud_sync(&mut dev, twin, 1) };
        match r {
            Ok(_) => format!("{:?} ok", req.action),
            Err((code, reason)) => {
                assert_eq!(dev, before, "a refused update ({reason}) changed the device");
                format!("{:?} refused {code}", req.action)
            }
        }
    });
    assert!(f.outcomes.len() >= 6, "the fuzzer reached only {:?}", f.outcomes);
}
