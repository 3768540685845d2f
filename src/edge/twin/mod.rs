//! DeviceTwin: the desired (expected) and reported (actual) state of the
//! devices placed on this node, spoken over MQTT the way KubeEdge's
//! DeviceTwin does (../shared/MQTT-COMPAT.md), so KubeEdge mappers work
//! unchanged.
//! - Devices come from the cloud's Device objects in MetaManager (list at
//!   start, then group `metachange`); their spec's desired values become
//!   expected values (update.rs), published as document and delta.
//! - Devices publish `twin/update`, `twin/get`, `twin/cloud_updated`,
//!   `state/update`, `membership/get` (via EventBus, group `twin`); answers
//!   go back through EventBus. Reported values go up through EdgeHub's
//!   outbox (durable, coalesced per property) to DeviceController.
//! - At start, after every cloud (re)connect (group `connection`) and when
//!   a device subscribes to its delta topic (EventBus tells), the current
//!   desired state is pushed again (a delta per device that differs),
//!   which KubeEdge and Azure IoT Edge miss.
//!
//! Owns: the `twin` tree and twin semantics. Must not talk MQTT or to the
//! cloud itself.

mod model;
mod store;
mod topic;
mod update;
mod validate;

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use crate::core::message::now_ms;
use crate::core::Reply;
use crate::core::{Context, Message, Module, ModuleError, ModuleFuture};
use crate::edge::names;
use crate::proto::ObjectChange;
use model::{error, event_id, message, Device};
use topic::Action;
use update::{Desired, Outcome};

pub const NAME: &str = crate::edge::names::DEVICETWIN;
/// Largest twin message accepted from a device, bytes.
pub const MAX_PAYLOAD: usize = 64 * 1024;

pub struct DeviceTwin {
    db: sled::Db,
    node: String,
}

impl DeviceTwin {
    pub fn new(db: sled::Db, node: String) -> DeviceTwin {
        DeviceTwin { db, node }
    }
}

struct State<'a> {
    ctx: &'a Context,
    node: String,
    store: store::TwinStore,
    devices: BTreeMap<String, Device>,
    /// DeviceModel key (`<ns>/devicemodel/<name>`) → property name → type.
    models: HashMap<String, HashMap<String, String>>,
}

impl Module for DeviceTwin {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        "twin"
    }
    fn also_groups(&self) -> &'static [&'static str] {
        &[names::GROUP_METACHANGE, names::GROUP_CONNECTION]
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let store = store::TwinStore::open(&self.db).map_err(ModuleError::new)?;
            let devices = store.load().map_err(ModuleError::new)?;
            // What MetaManager holds now; later changes arrive as `metachange`.
            let mut listed = Vec::new();
            for kind in ["devicemodel", "device"] {
                listed.extend(list(&ctx, kind).await.map_err(ModuleError::new)?);
            }
            ctx.ready();
            let mut st = State { ctx: &ctx, node: self.node.clone(), store, devices, models: HashMap::new() };
            for c in listed {
                st.on_object(c).await;
            }
            log::info!(target: NAME, "{} devices", st.devices.len());
            st.push_desired("edge start", None);
            while let Some(m) = ctx.recv().await {
                match (m.group.as_str(), m.operation.as_str()) {
                    (names::GROUP_METACHANGE, _) => match crate::store::from_bytes::<ObjectChange>(&m.content) {
                        Ok(c) => st.on_object(c).await,
                        Err(e) => log::warn!(target: NAME, "bad metachange for {}: {e}", m.resource),
                    },
                    (names::GROUP_CONNECTION, "connected") => st.push_desired("cloud connected", None),
                    (_, "subscribed") => st.push_desired("a device subscribed", Some(&m.resource)),
                    (_, "mqtt") => st.on_mqtt(&m).await,
                    _ => {}
                }
            }
            Ok(())
        })
    }
}

/// MetaManager's objects of `kind`.
async fn list(ctx: &Context, kind: &str) -> Result<Vec<ObjectChange>, String> {
    let q = ctx.message(names::GROUP_META, kind, "list", Vec::new());
    let r = ctx.request(crate::edge::names::METAMANAGER, q).await.map_err(|e| format!("listing {kind}s from metamanager: {e}"))?;
    crate::store::from_bytes(&r.content).map_err(|e| format!("listing {kind}s: {e}: {}", r.content_text()))
}

fn model_type(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "int" | "integer" => "int".into(),
        "float" | "double" => "float".into(),
        "boolean" | "bool" => "boolean".into(),
        _ => "string".into(),
    }
}

impl State<'_> {
    fn publish(&self, topic: &str, payload: Vec<u8>) {
        let m = self.ctx.message("bus", topic, "publish", payload);
        if let Err(e) = self.ctx.router.send(crate::edge::names::EVENTBUS, m) {
            static NOT_PUBLISHED: std::sync::Mutex<crate::logging::Throttle> =
                std::sync::Mutex::new(crate::logging::Throttle::new(std::time::Duration::from_secs(60)));
            if let Some(n) = NOT_PUBLISHED.lock().ok().and_then(|mut t| t.allow()) {
                log::warn!(target: NAME, "{}: not published: {e} ({n} more not logged)", crate::logging::clip(topic, 200));
            }
        }
    }

    /// A Device or DeviceModel object from the cloud was added, changed or removed.
    async fn on_object(&mut self, c: ObjectChange) {
        let (ns, kind, name) = crate::kube::split_key(&c.key);
        let obj: Option<Value> = c.content.as_deref().and_then(|b| serde_json::from_slice(b).ok());
        match (kind, obj) {
            ("devicemodel", Some(v)) => {
                let props = crate::kube::items(&v, "/spec/properties")
                    .filter_map(|p| Some((p["name"].as_str()?.to_string(), model_type(p["type"].as_str().unwrap_or("")))))
                    .collect();
                self.model_changed(&c.key, props).await;
            }
            ("devicemodel", None) => {
                self.models.remove(&c.key);
            }
            ("device", Some(v)) => self.device_upserted(ns, name, c.version, &v).await,
            ("device", None) => {
                let id = format!("{ns}/{name}");
                if self.devices.remove(&id).is_some() {
                    if let Err(e) = self.store.remove(&id) {
                        log::warn!(target: NAME, "device {id}: {e}");
                    }
                    let m = message(&event_id(), now_ms(), json!({"added_devices": null, "removed_devices": [{"id": id, "name": name}]}));
                    self.publish(&format!("$hw/events/node/{}/membership/updated", self.node), m);
                    log::info!(target: NAME, "device {id} removed");
                }
            }
            _ => {}
        }
    }

    /// A DeviceModel arrived or changed: its property types apply to the
    /// twins of the devices that use it (it may arrive after them).
    async fn model_changed(&mut self, key: &str, props: HashMap<String, String>) {
        let mut retyped = Vec::new();
        for dev in self.devices.values_mut().filter(|d| d.model == key) {
            let mut changed = false;
            for (name, ty) in &props {
                if let Some(t) = dev.twins.get_mut(name).filter(|t| !t.deleted && t.ty != *ty) {
                    t.ty = ty.clone();
                    changed = true;
                }
            }
            if changed {
                if let Err(e) = self.store.put(dev) {
                    log::warn!(target: NAME, "device {}: {e}", dev.id);
                }
                retyped.push(dev.clone());
            }
        }
        for dev in retyped {
            self.publish_delta(&format!("$hw/events/device/{}", dev.id), &dev);
        }
        self.models.insert(key.to_string(), props);
    }

    async fn device_upserted(&mut self, ns: &str, name: &str, version: u64, v: &Value) {
        let id = format!("{ns}/{name}");
        let model = v.pointer("/spec/deviceModelRef/name").and_then(Value::as_str).map(|m| format!("{ns}/devicemodel/{m}")).unwrap_or_default();
        let types = self.models.get(&model);
        let props: Vec<Desired> = crate::kube::items(v, "/spec/properties")
            .filter_map(|p| {
                let pname = p["name"].as_str()?.to_string();
                let ty = p
                    .pointer("/desired/metadata/type")
                    .and_then(Value::as_str)
                    .map(model_type)
                    .or_else(|| types.and_then(|t| t.get(&pname).cloned()))
                    .unwrap_or_else(|| "string".into());
                Some(Desired { value: p.pointer("/desired/value").and_then(Value::as_str).map(str::to_string), name: pname, ty })
            })
            .collect();
        let added = !self.devices.contains_key(&id);
        let dev = self.devices.entry(id.clone()).or_insert_with(|| Device { id: id.clone(), name: name.to_string(), ..Default::default() });
        dev.model = model;
        let (out, skipped) = update::cloud_desired(dev, version, &props, now_ms());
        for s in skipped {
            log::warn!(target: NAME, "device {id}: desired value of `{}` does not fit its type or KubeEdge's value rules; not applied", crate::logging::clip(&s, 64));
        }
        let dev = dev.clone();
        if let Err(e) = self.store.put(&dev) {
            log::warn!(target: NAME, "device {id}: {e}");
        }
        let _ = self.store.flush().await;
        if added {
            log::info!(target: NAME, "device {id} added");
            let m = message(&event_id(), now_ms(), json!({"added_devices": [{"id": id, "name": name}], "removed_devices": null}));
            self.publish(&format!("$hw/events/node/{}/membership/updated", self.node), m);
        }
        if !out.changed.is_empty() {
            let base = format!("$hw/events/device/{id}");
            self.publish(&format!("{base}/twin/update/document"), message("", now_ms(), json!({ "twin": out.document })));
            self.publish_delta(&base, &dev);
        }
    }

    fn publish_delta(&self, base: &str, dev: &Device) {
        if let Some((twin, delta)) = dev.delta() {
            self.publish(&format!("{base}/twin/update/delta"), message(&event_id(), now_ms(), json!({"twin": twin, "delta": delta})));
        }
    }

    /// Push the desired state again (a delta where it differs) to every
    /// device, or to those whose delta topic `filter` matches.
    fn push_desired(&self, why: &str, filter: Option<&str>) {
        let mut n = 0;
        for dev in self.devices.values() {
            let topic = format!("$hw/events/device/{}/twin/update/delta", dev.id);
            if filter.is_some_and(|f| !topic_matches(&topic, f)) {
                continue;
            }
            if dev.delta().is_some() {
                self.publish_delta(&format!("$hw/events/device/{}", dev.id), dev);
                n += 1;
            }
        }
        if n > 0 {
            log::info!(target: NAME, "{why}: desired state pushed again to {n} devices");
        }
    }

    async fn on_mqtt(&mut self, m: &Message) {
        let Some(req) = topic::parse(&m.resource) else { return };
        let now = now_ms();
        if m.content.len() > MAX_PAYLOAD {
            log::warn!(target: NAME, "{}: payload of {} bytes over the {MAX_PAYLOAD}-byte cap; refused", m.resource, m.content.len());
            crate::edge::metrics::TWIN_REJECTED.inc(&["413"]);
            if matches!(req.action, Action::TwinUpdate | Action::CloudUpdated) {
                self.publish(&format!("{}/twin/update/result", req.base), error("", now, 400, &format!("payload over {MAX_PAYLOAD} bytes")));
            }
            return;
        }
        let payload: Result<Value, _> = serde_json::from_slice(&m.content);
        let eid = payload.as_ref().ok().and_then(|v| v.get("event_id")).and_then(Value::as_str).unwrap_or("").to_string();
        match req.action {
            Action::TwinUpdate | Action::CloudUpdated => {
                let topic = format!("{}/twin/update/result", req.base);
                let cloud = req.action == Action::CloudUpdated;
                let outcome = match payload {
                    Err(_) => Err((400, update::UNMARSHAL.to_string())),
                    Ok(p) => match update::twin_field(&p) {
                        Err(e) => Err(e),
                        Ok(twin) => match self.devices.get_mut(&req.id) {
                            None => Err((404, "update rejected due to the device is not existed".to_string())),
                            Some(dev) if cloud => update::cloud_sync(dev, twin, now),
                            Some(dev) => update::edge_update(dev, twin, now),
                        },
                    },
                };
                match outcome {
                    Err((code, reason)) => {
                        crate::edge::metrics::TWIN_REJECTED.inc(&[&code.to_string()]);
                        log::info!(target: NAME, "{}: refused ({code}): {}", crate::logging::clip(&m.resource, 200), crate::logging::clip(&reason, 300));
                        self.publish(&topic, error(&eid, now, code, &reason));
                    }
                    Ok(out) => {
                        crate::edge::metrics::TWIN_UPDATES.inc();
                        self.after_update(&req, &eid, out, cloud, now).await
                    }
                }
            }
            Action::TwinGet => {
                let topic = format!("{}/twin/get/result", req.base);
                let reply = match (&payload, self.devices.get(&req.id)) {
                    (Err(_), _) | (Ok(Value::Array(_) | Value::String(_) | Value::Number(_) | Value::Bool(_)), _) => {
                        error("", now, 400, &format!("Unmarshal twin info {} failed", String::from_utf8_lossy(&m.content)))
                    }
                    (_, None) => error(&eid, now, 404, &format!("Device {} not found while getting twin", req.id)),
                    (_, Some(dev)) => message(&eid, now, json!({ "twin": dev.twins_json() })),
                };
                self.publish(&topic, reply);
            }
            Action::StateUpdate => self.state_update(&req, payload.ok(), now).await,
            Action::MembershipGet => {
                let topic = format!("$hw/events/node/{}/membership/get/result", self.node);
                let reply = match payload {
                    Ok(Value::Object(_) | Value::Null) => {
                        let devices: Vec<Value> = self.devices.values().map(Device::member_json).collect();
                        message(&eid, now, json!({ "devices": devices }))
                    }
                    _ => error("", now, 400, "Unmarshal get membership info failed"),
                };
                self.publish(&topic, reply);
            }
        }
    }

    /// Store, answer (result, document, delta), then report changed values up.
    async fn after_update(&mut self, req: &topic::Request, eid: &str, out: Outcome, cloud: bool, now: u64) {
        let Some(dev) = self.devices.get(&req.id).cloned() else { return };
        if let Err(e) = self.store.put(&dev) {
            log::error!(target: NAME, "device {}: {e}", dev.id);
            self.publish(&format!("{}/twin/update/result", req.base), error(eid, now, 500, &e.to_string()));
            return;
        }
        if !cloud {
            self.publish(&format!("{}/twin/update/result", req.base), message(eid, now, json!({ "twin": out.result })));
        }
        if !out.document.is_empty() {
            self.publish(&format!("{}/twin/update/document", req.base), message(eid, now, json!({ "twin": out.document })));
        }
        self.publish_delta(&req.base, &dev);
        let mut reported = false;
        for key in out.changed.iter().filter(|k| dev.properties.contains(k)) {
            let Some(t) = dev.twins.get(key) else { continue };
            let prop = |v: &Option<model::TwinValue>| v.as_ref().map(|v| json!({"value": v.value, "metadata": {"timestamp": v.ts.to_string(), "type": t.ty}}));
            let mut body = Map::new();
            if let Some(r) = prop(&t.actual) {
                body.insert("reported".into(), r);
            }
            if let Some(d) = prop(&t.expected) {
                body.insert("observedDesired".into(), d);
            }
            if body.is_empty() {
                continue;
            }
            self.report(&format!("{}/twin/{key}", resource_of(&dev.id)), Value::Object(body)).await;
            reported = true;
        }
        if !reported {
            let _ = self.store.flush().await;
        }
    }

    async fn state_update(&mut self, req: &topic::Request, payload: Option<Value>, now: u64) {
        let state = payload.as_ref().and_then(|p| p.get("state")).and_then(Value::as_str).map(str::to_string);
        let (Some(state), Some(dev)) = (state, self.devices.get_mut(&req.id)) else {
            log::info!(target: NAME, "{}: state update ignored (unknown device, bad JSON or no state)", req.id);
            return;
        };
        if !update::state_ok(&state) {
            log::info!(target: NAME, "{}: state `{}` is not one of online, offline, ok, unknown, unhealthy; ignored", req.id, crate::logging::clip(&state, 64));
            return;
        }
        dev.state = state.clone();
        dev.last_online = if matches!(state.to_ascii_lowercase().as_str(), "online" | "ok") { crate::kube::rfc3339_now() } else { String::new() };
        let dev = dev.clone();
        if let Err(e) = self.store.put(&dev) {
            log::error!(target: NAME, "device {}: {e}", dev.id);
            return;
        }
        let mut d = Map::new();
        d.insert("name".into(), json!(dev.name));
        d.insert("state".into(), json!(dev.state));
        if !dev.last_online.is_empty() {
            d.insert("lastOnlineTime".into(), json!(dev.last_online));
        }
        self.publish(&format!("{}/state/update/result", req.base), message(&event_id(), now, json!({ "device": d })));
        let mut body = json!({ "state": dev.state });
        if !dev.last_online.is_empty() {
            body["lastOnlineTime"] = json!(dev.last_online);
        }
        self.report(&format!("{}/state", resource_of(&dev.id)), body).await;
    }

    /// A durable report for DeviceController (EdgeHub's outbox, coalesced per resource).
    async fn report(&self, resource: &str, body: Value) {
        let m = self.ctx.message("devicecontroller", resource, "report", serde_json::to_vec(&body).unwrap_or_default());
        match self.ctx.request(crate::edge::names::EDGEHUB, m).await {
            Ok(r) if matches!(Reply::parse(&r.content), Some(Reply::Stored(_))) => {}
            Ok(r) => log::warn!(target: NAME, "{resource}: report not stored: {}", r.content_text()),
            Err(e) => log::warn!(target: NAME, "{resource}: report not stored: {e}"),
        }
    }
}

/// MQTT filter matching (`+` one level, `#` the rest).
/// MQTT 3.1.1's matching (§4.7, `#` does not match `$hw/...`), as EventBus applies it.
fn topic_matches(topic: &str, filter: &str) -> bool {
    crate::edge::topic_filter::matches(filter, topic)
}

/// `{ns}/{name}` → the cloud resource `{ns}/device/{name}`.
fn resource_of(id: &str) -> String {
    let (ns, name) = id.split_once('/').unwrap_or(("default", id));
    format!("{ns}/device/{name}")
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests {
    #[test]
    fn filters_match_like_mqtt() {
        let t = "$hw/events/device/default/thermo/twin/update/delta";
        for f in ["$hw/events/device/#", "$hw/events/device/+/+/twin/update/delta", t] {
            assert!(super::topic_matches(t, f), "{f}");
        }
        // `#` and `+/...` do not match `$` topics (MQTT 3.1.1 §4.7.2): a `#` subscriber pushes nothing.
        for f in ["$hw/events/device/+/twin/update/delta", "$hw/events/device/default/other/#", "$hw/+", "#", "+/events/#"] {
            assert!(!super::topic_matches(t, f), "{f}");
        }
    }
}
