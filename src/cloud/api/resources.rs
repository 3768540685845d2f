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
    // Read-only views of the same stored Events (events_v1.rs).
    Resource { group: super::events_v1::GROUP, version: "v1", plural: "events", kind: "Event", namespaced: true, short: &[] },
    Resource { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, short: &["ns"] },
    Resource { group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true, short: &["ds"] },
    Resource { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true, short: &["deploy"] },
    Resource { group: "apps", version: "v1", plural: "replicasets", kind: "ReplicaSet", namespaced: true, short: &["rs"] },
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
        let base = if self.group.is_empty() || self.read_only() { self.plural.to_string() } else { format!("{}/{}", self.group, self.plural) };
        match (self.namespaced, ns) {
            (true, Some(ns)) => format!("{base}/{ns}/"),
            _ => format!("{base}/"),
        }
    }

    /// Whether `/scale` (autoscaling/v1 Scale) is served for this kind.
    pub fn scalable(&self) -> bool {
        matches!(self.kind, "Deployment" | "ReplicaSet")
    }

    /// events.k8s.io Events are served from the core ones, for reading only.
    pub fn read_only(&self) -> bool {
        self.group == super::events_v1::GROUP
    }

    pub fn key(&self, ns: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.prefix(ns))
    }

    fn discovery_entry(&self) -> Value {
        let verbs: &[&str] =
            if self.read_only() { &["get", "list", "watch"] } else { &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] };
        let mut e = json!({"name": self.plural, "singularName": self.kind.to_lowercase(), "namespaced": self.namespaced,
               "kind": self.kind, "verbs": verbs, "shortNames": self.short});
        // `kubectl get all` lists the kinds in category `all`.
        if matches!(self.kind, "Pod" | "DaemonSet" | "Deployment" | "ReplicaSet") {
            e["categories"] = json!(["all"]);
        }
        e
    }
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

pub fn api_groups() -> Value {
    let group = |name: &str, version: &str| {
        let gv = format!("{name}/{version}");
        json!({"name": name, "versions": [{"groupVersion": gv, "version": version}], "preferredVersion": {"groupVersion": gv, "version": version}})
    };
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group(DEVICES_GROUP, DEVICES_VERSION), group("apps", "v1"), group(super::events_v1::GROUP, "v1")]})
}

/// APIResourceList of one group/version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<Value> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).map(|r| r.discovery_entry()).collect();
    if rs.is_empty() {
        return None;
    }
    let mut subresources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version && !r.read_only())
        .map(|r| json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}))
        .collect();
    // kubectl scale finds the Scale kind's group and version here.
    subresources.extend(RESOURCES.iter().filter(|r| r.group == group && r.version == version && r.scalable()).map(|r| {
        json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1",
            "kind": "Scale", "verbs": ["get", "patch", "update"]})
    }));
    if group.is_empty() {
        subresources.push(json!({"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]}));
    }
    let mut all = rs;
    all.append(&mut subresources);
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": all}))
}
