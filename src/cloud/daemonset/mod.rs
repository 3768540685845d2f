//! DaemonSet controller, as Kubernetes' does it: one pod of the template on
//! every eligible node (its nodeSelector, required node affinity and the
//! node's taints, with the tolerations Kubernetes gives DaemonSet pods, so
//! a NotReady or offline edge keeps its pod), bound to the node directly.
//! A node that joins later gets its pod, one that is deleted or stops
//! matching loses it. A changed template rolls out one node at a time
//! (`RollingUpdate` with maxUnavailable 1: the next old pod goes only when
//! every other pod is Ready); `OnDelete` waits for the user to delete it.
//! Pods whose DaemonSet is gone are the garbage collector's (gc/).
//!
//! Owns: pods owned by DaemonSets and DaemonSet status. Must not touch
//! other pods or the DaemonSet spec.

mod pods;

use std::sync::Arc;

use serde_json::Value;

use crate::cloud::controller::Controller;
use crate::cloud::store::Store;

pub const NAME: &str = "daemonset";

/// Store prefix of DaemonSets (apps/v1).
pub const PREFIX: &str = "apps/daemonsets/";

/// The module.
pub fn controller(store: Arc<dyn Store + Send + Sync>) -> Controller {
    Controller::new(NAME, store, &[PREFIX, "nodes/", "pods/"], |s| pods::reconcile(s).map(|()| None))
}

/// The DaemonSet's name, namespace and uid.
fn identity(ds: &Value) -> (&str, &str, &str) {
    let s = |p: &str| ds.pointer(p).and_then(Value::as_str).unwrap_or("");
    (s("/metadata/namespace"), s("/metadata/name"), s("/metadata/uid"))
}
