//! DMI, KubeEdge's Device Management Interface (v1beta1): mappers built
//! with KubeEdge's mapper-framework talk gRPC over unix sockets instead of
//! the MQTT twin topics. The edge serves `DeviceManagerService` on
//! `dmi.socket` (server.rs, through authority.rs); a mapper registers with
//! its protocol and its own socket, is answered with the devices of its
//! protocol on this node and their models (convert.rs), and reports twins
//! and states, which go to DeviceTwin like MQTT reports do.
//!
//! Owns: the registered mappers and the view of Devices and DeviceModels
//! they are served from (MetaManager's list at start, then `metachange`).
//! Must not store twins (DeviceTwin does) or talk to the cloud.

pub mod api;
mod authority;
mod client;
pub mod convert;
mod push;
pub mod server;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bytes::Bytes;
use prost::Message as _;
use serde_json::Value;

use crate::core::{Context, Module, ModuleError, ModuleFuture};
use crate::edge::names;
use crate::proto::ObjectChange;
use server::{Call, Status, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNIMPLEMENTED};

pub const NAME: &str = "dmi";
/// DeviceManagerService's methods.
const METHODS: [&str; 3] = ["MapperRegister", "ReportDeviceStatus", "ReportDeviceStates"];

pub struct Dmi {
    socket: PathBuf,
    db: sled::Db,
}

impl Dmi {
    /// `db`: the edge's cache, where registered mappers are kept across
    /// restarts (edgecore keeps them in its database too).
    pub fn new(socket: PathBuf, db: sled::Db) -> Dmi {
        Dmi { socket, db }
    }
}

/// A registered mapper: edgecore keeps one per protocol, the latest wins.
struct Mapper {
    /// Its worker's queue; the worker calls its DeviceMapperService socket.
    pushes: smol::channel::Sender<client::Push>,
    /// The worker itself, stopped when the mapper is replaced.
    _worker: smol::Task<()>,
}

impl Mapper {
    fn start(name: String, socket: PathBuf) -> Mapper {
        let (pushes, worker) = client::worker(name, socket);
        Mapper { pushes, _worker: worker }
    }
}

/// Protocols with a mapper at most (each has a worker and a saved entry).
const MAX_MAPPERS: usize = 64;
/// Longest mapper name, protocol or socket address accepted.
const MAX_FIELD: usize = 256;

/// A Device on this node, kept as its JSON text: a parsed `Value` costs
/// several times as much, and DMI needs a device whole only when a mapper
/// registers or the device changes.
struct Dev {
    protocol: String,
    json: Box<[u8]>,
}

/// The object of JSON text this module keeps (it parsed when it came).
fn parse(json: &[u8]) -> Value {
    serde_json::from_slice(json).unwrap_or_default()
}

/// What DMI keeps of a Device: its names, spec, and the legacy
/// `status.reportToCloud/reportCycle` (convert.rs reads no more). Twins in
/// the status, which grow with every report, are left to DeviceTwin.
fn kept(v: &Value) -> Box<[u8]> {
    let kept = serde_json::json!({
        "metadata": {"name": v.pointer("/metadata/name"), "namespace": v.pointer("/metadata/namespace")},
        "spec": v.get("spec"),
        "status": {"reportToCloud": v.pointer("/status/reportToCloud"), "reportCycle": v.pointer("/status/reportCycle")},
    });
    serde_json::to_vec(&kept).unwrap_or_default().into()
}

struct State {
    /// `<ns>/<name>` → the Device.
    devices: BTreeMap<String, Dev>,
    /// `<ns>/<name>` → the DeviceModel's JSON text.
    models: HashMap<String, Box<[u8]>>,
    /// protocol → mapper.
    mappers: HashMap<String, Mapper>,
    /// protocol → `{"name", "address"}` of its mapper, kept for the next start.
    saved: sled::Tree,
}

impl Module for Dmi {
    fn name(&self) -> &'static str {
        NAME
    }
    fn group(&self) -> &'static str {
        NAME
    }
    fn also_groups(&self) -> &'static [&'static str] {
        &[names::GROUP_METACHANGE]
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            let listener = server::bind(&self.socket).map_err(ModuleError::new)?;
            let listener = smol::net::unix::UnixListener::try_from(listener).map_err(|e| ModuleError::new(format!("DMI socket: {e}")))?;
            let (calls_tx, calls) = smol::channel::bounded::<Call>(64);
            smol::spawn(server::serve(listener, calls_tx, self.socket.clone())).detach();
            let saved = self.db.open_tree("dmi_mappers").map_err(|e| ModuleError::new(format!("DMI: opening the mapper table: {e}")))?;
            let mut st = State { devices: BTreeMap::new(), models: HashMap::new(), mappers: HashMap::new(), saved };
            for kind in ["devicemodel", "device"] {
                for c in list(&ctx, kind).await.map_err(ModuleError::new)? {
                    st.on_object(c);
                }
            }
            // After the cached objects, which the mappers had: what changes from now on is pushed.
            st.restore();
            log::info!(target: NAME, "DeviceManagerService on {} ({} devices)", self.socket.display(), st.devices.len());
            ctx.ready();
            loop {
                // Either may be ready first: a busy mapper does not hold back the cloud's changes.
                let ev = futures_lite::future::race(async { Ev::Call(calls.recv().await.ok()) }, async { Ev::Msg(ctx.recv().await) }).await;
                match ev {
                    Ev::Call(Some(c)) => {
                        let answer = st.call(&ctx, &c.method, c.request);
                        let code = answer.as_ref().err().map_or(0, |s| s.code);
                        // Method names are the mappers' input: only known ones become labels.
                        let method = if METHODS.contains(&c.method.as_str()) { &c.method } else { "other" };
                        crate::edge::metrics::DMI_REQUESTS.inc(&[method, server::code_name(code)]);
                        let _ = c.reply.try_send(answer);
                    }
                    Ev::Msg(Some(m)) if m.group == names::GROUP_METACHANGE => match crate::store::from_bytes::<ObjectChange>(&m.content) {
                        Ok(c) => st.on_object(c),
                        Err(e) => log::warn!(target: NAME, "bad metachange for {}: {e}", m.resource),
                    },
                    Ev::Msg(Some(_)) => {}
                    Ev::Call(None) | Ev::Msg(None) => break,
                }
            }
            let _ = std::fs::remove_file(&self.socket);
            Ok(())
        })
    }
}

enum Ev {
    Call(Option<Call>),
    Msg(Option<crate::core::Message>),
}

/// MetaManager's objects of `kind`.
async fn list(ctx: &Context, kind: &str) -> Result<Vec<ObjectChange>, String> {
    let q = ctx.message(names::GROUP_META, kind, "list", Vec::new());
    let r = ctx.request(names::METAMANAGER, q).await.map_err(|e| format!("listing {kind}s from metamanager: {e}"))?;
    crate::store::from_bytes(&r.content).map_err(|e| format!("listing {kind}s: {e}: {}", r.content_text()))
}

fn decode<M: prost::Message + Default>(method: &str, b: Bytes) -> Result<M, Status> {
    M::decode(b).map_err(|e| Status::new(INVALID_ARGUMENT, format!("{method}: not a v1beta1 message: {e}")))
}

/// A report for DeviceTwin, as the device would have sent it over MQTT
/// (edgecore routes DMI reports the same way): same validation, versions
/// and upward path. Accepted once DeviceTwin has it queued, as edgecore.
fn to_twin(ctx: &Context, topic: &str, body: &Value) -> Result<Bytes, Status> {
    let m = ctx.message("twin", topic, "mqtt", serde_json::to_vec(body).unwrap_or_default());
    ctx.router.send_to_group("twin", m).map_err(|e| Status::new(server::UNAVAILABLE, format!("DeviceTwin: {e}")))?;
    Ok(Bytes::new())
}

/// A mapper's socket address: a path, perhaps as `unix://` or `unix:`.
fn socket_path(address: &[u8]) -> Option<PathBuf> {
    let s = std::str::from_utf8(address).ok()?;
    let p = s.strip_prefix("unix://").or_else(|| s.strip_prefix("unix:")).unwrap_or(s);
    p.starts_with('/').then(|| PathBuf::from(p))
}

impl State {
    /// A Device or DeviceModel changed: keep it, and tell the mapper of
    /// its protocol (models before the devices that use them).
    fn on_object(&mut self, c: ObjectChange) {
        let (ns, kind, name) = crate::kube::split_key(&c.key);
        let (ns, name) = (ns.to_string(), name.to_string());
        let id = format!("{ns}/{name}");
        let obj: Option<Value> = c.content.as_deref().and_then(|b| serde_json::from_slice(b).ok());
        let json = || c.content.as_deref().unwrap_or_default().into();
        match kind {
            "devicemodel" => {
                let old = match &obj {
                    Some(_) => self.models.insert(id, json()),
                    None => self.models.remove(&id),
                };
                let old = old.as_deref().map(parse);
                let protocol = obj.as_ref().or(old.as_ref()).and_then(|m| m.pointer("/spec/protocol")).and_then(Value::as_str).unwrap_or("");
                let push = match (&old, &obj) {
                    (None, Some(v)) => client::Push::CreateModel(convert::model(v)),
                    (Some(o), Some(v)) if o.get("spec") != v.get("spec") => client::Push::UpdateModel(convert::model(v)),
                    (Some(_), None) => client::Push::RemoveModel { namespace: ns, name },
                    _ => return,
                };
                self.push(protocol, push);
            }
            "device" => {
                let is = obj.as_ref().map(convert::protocol_of);
                let old = match (&obj, &is) {
                    (Some(v), Some(p)) => self.devices.insert(id.clone(), Dev { protocol: p.clone(), json: kept(v) }),
                    _ => self.devices.remove(&id),
                };
                let was = old.as_ref().map(|d| d.protocol.clone());
                let old = old.map(|d| parse(&d.json));
                if let Some(p) = was.as_ref().filter(|p| Some(*p) != is.as_ref()) {
                    self.push(p, client::Push::Remove { namespace: ns.clone(), name: name.clone() });
                }
                let (Some(v), Some(p)) = (&obj, &is) else { return };
                if !self.mappers.contains_key(p) {
                    return;
                }
                let moved = was.as_ref() != Some(p);
                if !moved && old.as_ref().and_then(|o| o.get("spec")) == v.get("spec") {
                    return; // status only
                }
                let model_name = v.pointer("/spec/deviceModelRef/name").and_then(Value::as_str).unwrap_or("");
                let Some(model) = self.models.get(&format!("{ns}/{model_name}")).map(|m| parse(m)) else {
                    log::warn!(target: NAME, "device {id}: its model `{model_name}` is not on this node; not sent to its mapper");
                    return;
                };
                match convert::device(v, &model) {
                    Ok(d) if moved => {
                        let m = convert::model(&model);
                        self.push(p, client::Push::CreateModel(m));
                        self.push(p, client::Push::Register(d));
                    }
                    Ok(d) => self.push(p, client::Push::Update(d)),
                    Err(e) => log::warn!(target: NAME, "{e}; not sent to its mapper"),
                }
            }
            _ => {}
        }
    }

    fn push(&self, protocol: &str, p: client::Push) {
        if let Some(m) = self.mappers.get(protocol) {
            if m.pushes.try_send(p).is_err() {
                log::warn!(target: NAME, "mapper for {protocol}: {} calls waiting; this change reaches it when it registers again", client::QUEUE);
            }
        }
    }

    fn call(&mut self, ctx: &Context, method: &str, req: Bytes) -> Result<Bytes, Status> {
        match method {
            "MapperRegister" => self.register(decode(method, req)?).map(|r| r.encode_to_vec().into()),
            "ReportDeviceStatus" => {
                let r: api::ReportDeviceStatusRequest = decode(method, req)?;
                self.device_of_a_mapper(method, &r.device_namespace, &r.device_name)?;
                let twins = r.reported_device.map(|d| d.twins).unwrap_or_default();
                if twins.is_empty() {
                    return Err(Status::new(INVALID_ARGUMENT, format!("{method}: no twins in reportedDevice for {}/{}", r.device_namespace, r.device_name)));
                }
                let mut twin = serde_json::Map::new();
                for t in twins {
                    let mut v = serde_json::Map::new();
                    if let Some(p) = t.reported {
                        v.insert("actual".into(), serde_json::json!({ "value": p.value }));
                    }
                    // The desired value the mapper last applied; empty = none.
                    if let Some(p) = t.observed_desired.filter(|p| !p.value.is_empty()) {
                        v.insert("expected".into(), serde_json::json!({ "value": p.value }));
                    }
                    twin.insert(t.property_name, Value::Object(v));
                }
                let body = serde_json::json!({"event_id": "", "timestamp": crate::core::message::now_ms(), "twin": twin});
                to_twin(ctx, &format!("$hw/events/device/{}/{}/twin/update", r.device_namespace, r.device_name), &body)
            }
            "ReportDeviceStates" => {
                let r: api::ReportDeviceStatesRequest = decode(method, req)?;
                self.device_of_a_mapper(method, &r.device_namespace, &r.device_name)?;
                if r.state.is_empty() {
                    return Err(Status::new(INVALID_ARGUMENT, format!("{method}: empty state for {}/{}", r.device_namespace, r.device_name)));
                }
                let body = serde_json::json!({"event_id": "", "timestamp": crate::core::message::now_ms(), "state": r.state});
                to_twin(ctx, &format!("$hw/events/device/{}/{}/state/update", r.device_namespace, r.device_name), &body)
            }
            _ => Err(Status::new(UNIMPLEMENTED, format!("v1beta1.DeviceManagerService has no method {method}"))),
        }
    }

    fn register(&mut self, r: api::MapperRegisterRequest) -> Result<api::MapperRegisterResponse, Status> {
        let m = r.mapper.ok_or_else(|| Status::new(INVALID_ARGUMENT, "MapperRegister without `mapper` (MapperInfo)"))?;
        for (field, v) in [("name", m.name.len()), ("protocol", m.protocol.len()), ("address", m.address.len())] {
            if v > MAX_FIELD {
                return Err(Status::new(INVALID_ARGUMENT, format!("MapperInfo.{field} of {v} bytes (at most {MAX_FIELD})")));
            }
        }
        if !self.mappers.contains_key(&m.protocol) && self.mappers.len() >= MAX_MAPPERS {
            return Err(Status::new(
                server::RESOURCE_EXHAUSTED,
                format!("mapper `{}`: {MAX_MAPPERS} protocols have mappers already; protocol {} is refused", m.name, m.protocol),
            ));
        }
        if m.protocol.is_empty() {
            return Err(Status::new(
                INVALID_ARGUMENT,
                format!("mapper `{}`: MapperInfo.protocol is empty; set common.protocol in the mapper's config", m.name),
            ));
        }
        let address = socket_path(&m.address).ok_or_else(|| {
            Status::new(
                INVALID_ARGUMENT,
                format!("mapper `{}`: MapperInfo.address must be an absolute unix socket path, not {:?}", m.name, String::from_utf8_lossy(&m.address)),
            )
        })?;
        let mut out = api::MapperRegisterResponse::default();
        if r.with_data {
            for (id, dev) in self.devices.iter().filter(|(_, d)| d.protocol == m.protocol) {
                let (ns, _) = id.split_once('/').unwrap_or(("", id));
                let dev = parse(&dev.json);
                let model_name = dev.pointer("/spec/deviceModelRef/name").and_then(Value::as_str).unwrap_or("");
                let Some(model) = self.models.get(&format!("{ns}/{model_name}")).map(|m| parse(m)) else {
                    log::warn!(target: NAME, "device {id}: its model `{model_name}` is not on this node; not sent to mapper {}", m.name);
                    continue;
                };
                match convert::device(&dev, &model) {
                    Ok(d) => {
                        out.device_list.push(d);
                        if !out.model_list.iter().any(|m| m.namespace == ns && m.name == model_name) {
                            out.model_list.push(convert::model(&model));
                        }
                    }
                    Err(e) => log::warn!(target: NAME, "{e}; not sent to mapper {}", m.name),
                }
            }
        }
        log::info!(target: NAME, "mapper `{}` registered for protocol {} at {} ({} devices)", m.name, m.protocol, address.display(), out.device_list.len());
        let saved = serde_json::json!({"name": m.name, "address": address});
        if let Err(e) = self.saved.insert(m.protocol.as_bytes(), serde_json::to_vec(&saved).unwrap_or_default()) {
            log::warn!(target: NAME, "mapper `{}`: not kept for the next start: {e}", m.name);
        }
        self.mappers.insert(m.protocol.clone(), Mapper::start(m.name, address));
        crate::edge::metrics::DMI_MAPPERS.set(self.mappers.len() as i64);
        Ok(out)
    }

    /// The mappers registered before this start: changes reach them
    /// without waiting for them to register again (they may be running).
    fn restore(&mut self) {
        for (k, v) in self.saved.iter().flatten() {
            let protocol = String::from_utf8_lossy(&k).into_owned();
            let m: Value = serde_json::from_slice(&v).unwrap_or_default();
            if self.mappers.len() >= MAX_MAPPERS {
                break;
            }
            match (m["name"].as_str(), m["address"].as_str()) {
                (Some(name), Some(address)) => {
                    log::info!(target: NAME, "mapper `{name}` for protocol {protocol} at {address}, registered before this start");
                    self.mappers.insert(protocol, Mapper::start(name.to_string(), PathBuf::from(address)));
                    crate::edge::metrics::DMI_MAPPERS.set(self.mappers.len() as i64);
                }
                _ => log::warn!(
                    target: NAME,
                    "the saved mapper for protocol {protocol} is unreadable ({:?}); it is used again when it registers",
                    String::from_utf8_lossy(&v)
                ),
            }
        }
    }

    /// The device a report names, if it is on this node and a registered
    /// mapper serves its protocol.
    fn device_of_a_mapper(&self, method: &str, ns: &str, name: &str) -> Result<(), Status> {
        let id = format!("{ns}/{name}");
        let dev = self.devices.get(&id).ok_or_else(|| Status::new(NOT_FOUND, format!("{method}: device {id} is not on this node")))?;
        if !self.mappers.contains_key(&dev.protocol) {
            return Err(Status::new(
                PERMISSION_DENIED,
                format!("{method}: device {id} is served by protocol `{}`, and no mapper registered for it", dev.protocol),
            ));
        }
        Ok(())
    }
}
