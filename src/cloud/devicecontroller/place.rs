//! Which node gets which device, for DeviceController: a Device goes to the
//! node named by `spec.nodeName` (v1beta1) or by KubeEdge's older
//! `spec.nodeSelector` form (a `matchExpressions` entry with operator `In`),
//! and its DeviceModel (`spec.deviceModelRef.name`, same namespace) with it.
//!
//! Owns: that rule. Must not do I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::kube::{items, split_key};

pub const KINDS: &[(&str, &str)] = &[("devices.kubeedge.io/devices/", "device"), ("devices.kubeedge.io/devicemodels/", "devicemodel")];

/// The node a device is placed on, if any.
pub fn device_node(device: &Value) -> Option<&str> {
    if let Some(n) = device.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Some(n);
    }
    items(device, "/spec/nodeSelector/nodeSelectorTerms")
        .flat_map(|t| items(t, "/matchExpressions"))
        .filter(|e| e.get("operator").and_then(Value::as_str) == Some("In"))
        .flat_map(|e| items(e, "/values"))
        .filter_map(Value::as_str)
        .find(|n| !n.is_empty())
}

pub fn place(objects: &BTreeMap<String, Value>) -> HashMap<String, BTreeSet<String>> {
    let mut sets: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (key, v) in objects {
        let (ns, kind, _) = split_key(key);
        if kind != "device" {
            continue;
        }
        let Some(node) = device_node(v) else { continue };
        let set = sets.entry(node.to_string()).or_default();
        set.insert(key.clone());
        if let Some(m) = v.pointer("/spec/deviceModelRef/name").and_then(Value::as_str) {
            set.insert(format!("{ns}/devicemodel/{m}"));
        }
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn devices_go_by_node_name_or_node_selector_with_their_model() {
        let mut objects = BTreeMap::new();
        objects.insert("default/device/d1".to_string(), json!({"spec": {"nodeName": "e1", "deviceModelRef": {"name": "m1"}}}));
        objects.insert(
            "default/device/d2".to_string(),
            json!({"spec": {"nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "", "operator": "In", "values": ["e2"]}]}]}}}),
        );
        objects.insert("default/device/nowhere".to_string(), json!({"spec": {}}));
        objects.insert("default/devicemodel/m1".to_string(), json!({}));
        let sets = place(&objects);
        assert_eq!(sets["e1"].iter().collect::<Vec<_>>(), vec!["default/device/d1", "default/devicemodel/m1"]);
        assert_eq!(sets["e2"].iter().collect::<Vec<_>>(), vec!["default/device/d2"]);
        assert_eq!(sets.len(), 2);
    }
}
