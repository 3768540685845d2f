//! The resources the cloud API serves: URL plural → kind, group/version,
//! scope, and the store key of an object. Also the discovery documents
//! kubectl reads first.
//!
//! Owns: that table. Must not touch the store.

use serde_json::{json, Value};

pub const DEVICES_GROUP: &str = "devices.kubeedge.io";
pub const DEVICES_VERSION: &str = "v1beta1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
}

pub const RESOURCES: &[Resource] = &[
    Resource { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, short: &["po"] },
    Resource { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true, short: &["cm"] },
    Resource { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true, short: &[] },
    Resource { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false, short: &["no"] },
    Resource { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true, short: &["ev"] },
    Resource { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, short: &["ns"] },
    Resource { group: DEVICES_GROUP, version: DEVICES_VERSION, plural: "devices", kind: "Device", namespaced: true, short: &[] },
    Resource { group: DEVICES_GROUP, version: DEVICES_VERSION, plural: "devicemodels", kind: "DeviceModel", namespaced: true, short: &[] },
];

impl Resource {
    pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
        RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Store key prefix of this resource (in `ns`, or all namespaces).
    pub fn prefix(&self, ns: Option<&str>) -> String {
        let base = if self.group.is_empty() { self.plural.to_string() } else { format!("{}/{}", self.group, self.plural) };
        match (self.namespaced, ns) {
            (true, Some(ns)) => format!("{base}/{ns}/"),
            _ => format!("{base}/"),
        }
    }

    pub fn key(&self, ns: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.prefix(ns))
    }

    fn discovery_entry(&self) -> Value {
        let mut verbs = vec!["create", "delete", "get", "list", "patch", "update", "watch"];
        verbs.sort();
        let mut e = json!({"name": self.plural, "singularName": self.kind.to_lowercase(), "namespaced": self.namespaced,
               "kind": self.kind, "verbs": verbs, "shortNames": self.short});
        // `kubectl get all` lists the kinds in category `all`.
        if self.kind == "Pod" {
            e["categories"] = json!(["all"]);
        }
        e
    }
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

pub fn api_groups() -> Value {
    let gv = format!("{DEVICES_GROUP}/{DEVICES_VERSION}");
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": DEVICES_GROUP,
        "versions": [{"groupVersion": gv, "version": DEVICES_VERSION}],
        "preferredVersion": {"groupVersion": gv, "version": DEVICES_VERSION}}]})
}

/// APIResourceList of one group/version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<Value> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).map(|r| r.discovery_entry()).collect();
    if rs.is_empty() {
        return None;
    }
    let mut subresources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}))
        .collect();
    let mut all = rs;
    all.append(&mut subresources);
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": all}))
}
