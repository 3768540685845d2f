//! DaemonSet controller, as Kubernetes' does it: one pod of the template on
//! every eligible node (its nodeSelector, required node affinity and the
//! node's taints, with the tolerations Kubernetes gives DaemonSet pods, so
//! a NotReady or offline edge keeps its pod), bound to the node directly.
//! A node that joins later gets its pod, one that is deleted or stops
//! matching loses it. A changed template rolls out one node at a time
//! (`RollingUpdate` with maxUnavailable 1: the next old pod goes only when
//! every other pod is Ready); `OnDelete` waits for the user to delete it.
//! Pods whose DaemonSet is gone are deleted (garbage collection).
//!
//! Owns: pods owned by DaemonSets and DaemonSet status. Must not touch
//! other pods or the DaemonSet spec.

mod pods;

use std::sync::Arc;

use serde_json::Value;

use crate::cloud::nodeset::merge_watches;
use crate::cloud::store::{Store, StoreError};
use crate::core::{Context, Module, ModuleError, ModuleFuture};

pub const NAME: &str = "daemonset";

/// Store prefix of DaemonSets (apps/v1).
pub const PREFIX: &str = "apps/daemonsets/";

pub struct DaemonSetController {
    store: Arc<dyn Store + Send + Sync>,
}

impl DaemonSetController {
    pub fn new(store: Arc<dyn Store + Send + Sync>) -> DaemonSetController {
        DaemonSetController { store }
    }
}

fn watches(store: &dyn Store) -> Result<Vec<crate::cloud::store::Watch>, StoreError> {
    let rev = store.revision()?;
    [PREFIX, "nodes/", "pods/"].iter().map(|p| store.watch(p, rev)).collect()
}

impl Module for DaemonSetController {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = &*self.store;
            let ex = smol::LocalExecutor::new();
            let mut events = merge_watches(&ex, watches(store).map_err(ModuleError::new)?);
            ctx.ready();
            let main = async {
                use smol::future::FutureExt as _;
                loop {
                    if let Err(e) = pods::reconcile(store) {
                        log::warn!(target: NAME, "daemonsets not reconciled (will retry on the next change): {e}");
                    }
                    let got = async { Some(events.recv().await.ok().flatten()) }
                        .or(async {
                            ctx.shutdown.wait().await;
                            None
                        })
                        .await;
                    let Some(first) = got else { return Ok(()) };
                    if first.is_none() {
                        log::warn!(target: NAME, "a store watch ended (fell behind); watching again");
                        events = merge_watches(&ex, watches(store).map_err(ModuleError::new)?);
                        continue;
                    }
                    // One reconcile for this change and whatever else is queued.
                    loop {
                        match events.try_recv() {
                            Ok(Some(_)) => continue,
                            Ok(None) => {
                                log::warn!(target: NAME, "a store watch ended (fell behind); watching again");
                                events = merge_watches(&ex, watches(store).map_err(ModuleError::new)?);
                            }
                            Err(_) => {}
                        }
                        break;
                    }
                }
            };
            ex.run(main).await
        })
    }
}

/// The DaemonSet's name, namespace and uid.
fn identity(ds: &Value) -> (&str, &str, &str) {
    let s = |p: &str| ds.pointer(p).and_then(Value::as_str).unwrap_or("");
    (s("/metadata/namespace"), s("/metadata/name"), s("/metadata/uid"))
}
