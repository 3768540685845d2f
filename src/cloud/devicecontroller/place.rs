//! Which node gets which device, for DeviceController: a Device goes to the
//! node named by `spec.nodeName` (v1beta1) or by KubeEdge's older
//! `spec.nodeSelector` form (a `matchExpressions` entry with operator `In`),
//! and its DeviceModel (`spec.deviceModelRef.name`, same namespace) with it.
//!
//! Owns: that rule. Must not do I/O.

use serde_json::Value;

use crate::cloud::nodeset::Placement;
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

/// Where one object goes: a device to its node with its model; a model
/// only with the devices that use it.
pub fn place(key: &str, v: &Value) -> Placement {
    let (ns, kind, _) = split_key(key);
    if kind != "device" {
        return Placement::default();
    }
    let Some(node) = device_node(v) else { return Placement::default() };
    let takes = v.pointer("/spec/deviceModelRef/name").and_then(Value::as_str).map(|m| format!("{ns}/devicemodel/{m}")).into_iter().collect();
    Placement { nodes: vec![node.to_string()], takes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn devices_go_by_node_name_or_node_selector_with_their_model() {
        let d1 = place("default/device/d1", &json!({"spec": {"nodeName": "e1", "deviceModelRef": {"name": "m1"}}}));
        assert_eq!((d1.nodes, d1.takes), (vec!["e1".to_string()], vec!["default/devicemodel/m1".to_string()]));
        let sel = json!({"spec": {"nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "", "operator": "In", "values": ["e2"]}]}]}}});
        assert_eq!(place("default/device/d2", &sel).nodes, vec!["e2"]);
        assert_eq!(place("default/device/nowhere", &json!({"spec": {}})), Placement::default());
        assert_eq!(place("default/devicemodel/m1", &json!({})), Placement::default());
    }
}
