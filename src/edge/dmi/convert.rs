//! Device and DeviceModel objects (devices.kubeedge.io/v1beta1, as
//! MetaManager caches them) into DMI messages, as edgecore converts them
//! (`dtcommon/util.go`): the model's `protocolConfigData` and property
//! visitors under the device's own (the device's keys win), configData
//! values wrapped in `Any` the way edgecore wraps them (string →
//! StringValue, bool → BoolValue, every number → FloatValue), and every
//! field a Go mapper reads without a nil check present (spec, protocol,
//! each property's desired, visitors and configData, status).
//!
//! Owns: the conversion. Must not do I/O.

use prost::Message as _;
use serde_json::{Map, Value};

use super::api::{self, Any};

const WRAPPERS: &str = "type.googleapis.com/google.protobuf.";

#[derive(Clone, PartialEq, prost::Message)]
struct StringValue {
    #[prost(string, tag = "1")]
    value: String,
}
#[derive(Clone, PartialEq, prost::Message)]
struct BoolValue {
    #[prost(bool, tag = "1")]
    value: bool,
}
#[derive(Clone, PartialEq, prost::Message)]
struct FloatValue {
    #[prost(float, tag = "1")]
    value: f32,
}

/// One configData value as `Any`; objects, arrays and null are refused
/// (edgecore refuses them too), naming the key.
fn to_any(key: &str, v: &Value) -> Result<Any, String> {
    let (name, value) = match v {
        Value::String(s) => ("StringValue", StringValue { value: s.clone() }.encode_to_vec()),
        Value::Bool(b) => ("BoolValue", BoolValue { value: *b }.encode_to_vec()),
        Value::Number(n) => ("FloatValue", FloatValue { value: n.as_f64().unwrap_or(0.0) as f32 }.encode_to_vec()),
        _ => return Err(format!("configData `{key}`: only strings, numbers and booleans can be sent to a mapper (KubeEdge's rule), not {v}")),
    };
    Ok(Any { type_url: format!("{WRAPPERS}{name}"), value })
}

fn customized(data: &Map<String, Value>, at: &str) -> Result<api::CustomizedValue, String> {
    let mut out = api::CustomizedValue::default();
    for (k, v) in data {
        out.data.insert(k.clone(), to_any(k, v).map_err(|e| format!("{at}: {e}"))?);
    }
    Ok(out)
}

/// `over` laid on `base`, key by key (the device's keys win).
fn overlay(base: Option<&Value>, over: Option<&Value>) -> Map<String, Value> {
    let mut m = base.and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in over.and_then(Value::as_object).into_iter().flatten() {
        m.insert(k.clone(), v.clone());
    }
    m
}

fn s(v: &Value, p: &str) -> String {
    v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string()
}

fn i(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64))).unwrap_or(0)
}

fn b(v: &Value, p: &str) -> bool {
    v.pointer(p).and_then(Value::as_bool).unwrap_or(false)
}

fn string_map(v: Option<&Value>) -> std::collections::HashMap<String, String> {
    let obj = v.and_then(Value::as_object).into_iter().flatten();
    obj.map(|(k, x)| (k.clone(), x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))).collect()
}

/// The protocol a Device is served by (`spec.protocol.protocolName`).
pub fn protocol_of(device: &Value) -> String {
    s(device, "/spec/protocol/protocolName")
}

/// A Device for its mapper, with its model's defaults merged in.
pub fn device(dev: &Value, model: &Value) -> Result<api::Device, String> {
    let at = format!("device {}/{}", s(dev, "/metadata/namespace"), s(dev, "/metadata/name"));
    let model_props: Vec<&Value> = crate::kube::items(model, "/spec/properties").collect();
    let mut properties = Vec::new();
    for p in crate::kube::items(dev, "/spec/properties") {
        let name = s(p, "/name");
        let model_visitors = model_props.iter().find(|m| m["name"] == p["name"]).and_then(|m| m.get("visitors"));
        let visitors = api::VisitorConfig {
            protocol_name: p
                .pointer("/visitors/protocolName")
                .or_else(|| model_visitors?.get("protocolName"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            config_data: Some(customized(
                &overlay(model_visitors.and_then(|v| v.get("configData")), p.pointer("/visitors/configData")),
                &format!("{at} property {name} visitors"),
            )?),
        };
        let anomaly = p.pointer("/pushMethod/anomalyDetection").and_then(Value::as_object);
        properties.push(api::DeviceProperty {
            desired: Some(api::TwinProperty { value: s(p, "/desired/value"), metadata: string_map(p.pointer("/desired/metadata")) }),
            visitors: Some(visitors),
            report_cycle: i(p, "/reportCycle"),
            collect_cycle: i(p, "/collectCycle"),
            report_to_cloud: b(p, "/reportToCloud"),
            push_method: p.get("pushMethod").map(|m| push_method(m, anomaly, &at)).transpose()?,
            name,
        });
    }
    let methods = crate::kube::items(dev, "/spec/methods")
        .map(|m| api::DeviceMethod {
            name: s(m, "/name"),
            description: s(m, "/description"),
            property_names: crate::kube::items(m, "/propertyNames").filter_map(|n| n.as_str().map(str::to_string)).collect(),
        })
        .collect();
    let state = dev.pointer("/spec/stateReport").or_else(|| dev.get("status")).cloned().unwrap_or(Value::Null);
    Ok(api::Device {
        name: s(dev, "/metadata/name"),
        namespace: s(dev, "/metadata/namespace"),
        spec: Some(api::DeviceSpec {
            device_model_reference: s(dev, "/spec/deviceModelRef/name"),
            protocol: Some(api::ProtocolConfig {
                protocol_name: protocol_of(dev),
                config_data: Some(customized(
                    &overlay(model.pointer("/spec/protocolConfigData"), dev.pointer("/spec/protocol/configData")),
                    &format!("{at} protocol"),
                )?),
            }),
            properties,
            methods,
        }),
        status: Some(api::DeviceStatus { twins: Vec::new(), report_to_cloud: b(&state, "/reportToCloud"), report_cycle: i(&state, "/reportCycle") }),
    })
}

fn push_method(m: &Value, anomaly: Option<&Map<String, Value>>, at: &str) -> Result<api::PushMethod, String> {
    let http = m.get("http").map(|h| api::PushMethodHttp {
        hostname: s(h, "/hostName"),
        port: i(h, "/port"),
        requestpath: s(h, "/requestPath"),
        timeout: i(h, "/timeout"),
    });
    let mqtt =
        m.get("mqtt").map(|q| api::PushMethodMqtt { address: s(q, "/address"), topic: s(q, "/topic"), qos: i(q, "/qos") as i32, retained: b(q, "/retained") });
    let otel = m.get("otel").map(|o| api::PushMethodOtel { endpoint_url: s(o, "/endpointURL") });
    let db_method = m.get("dbMethod").map(|d| api::DbMethod {
        influxdb2: d.get("influxdb2").map(|x| api::DbMethodInfluxdb2 {
            influxdb2_client_config: x.get("influxdb2ClientConfig").map(|c| api::Influxdb2ClientConfig {
                url: s(c, "/url"),
                org: s(c, "/org"),
                bucket: s(c, "/bucket"),
            }),
            influxdb2_data_config: x.get("influxdb2DataConfig").map(|c| api::Influxdb2DataConfig {
                measurement: s(c, "/measurement"),
                tag: string_map(c.get("tag")),
                field_key: s(c, "/fieldKey"),
            }),
        }),
        redis: d.get("redis").map(|x| api::DbMethodRedis {
            redis_client_config: x.get("redisClientConfig").map(|c| api::RedisClientConfig {
                addr: s(c, "/addr"),
                db: i(c, "/db") as i32,
                poolsize: i(c, "/poolsize") as i32,
                min_idle_conns: i(c, "/minIdleConns") as i32,
            }),
        }),
        tdengine: d.get("TDEngine").or_else(|| d.get("tdengine")).map(|x| api::DbMethodTdEngine {
            td_engine_client_config: x
                .get("TDEngineClientConfig")
                .or_else(|| x.get("tdEngineClientConfig"))
                .map(|c| api::TdEngineClientConfig { addr: s(c, "/addr"), dbname: s(c, "/dbName") }),
        }),
        mysql: d.get("mysql").map(|x| api::DbMethodMySql {
            mysql_client_config: x.get("mysqlClientConfig").map(|c| api::MySqlClientConfig {
                addr: s(c, "/addr"),
                database: s(c, "/database"),
                user_name: s(c, "/userName"),
            }),
        }),
    });
    let anomaly_detection = anomaly.map(|a| customized(a, &format!("{at} anomalyDetection")).map(|c| api::AnomalyDetection { data: c.data })).transpose()?;
    Ok(api::PushMethod { http, mqtt, otel, db_method, anomaly_detection })
}

/// A DeviceModel for a mapper: its properties as written (types upper or
/// lower case; the mapper lower-cases them).
pub fn model(m: &Value) -> api::DeviceModel {
    let properties = crate::kube::items(m, "/spec/properties")
        .map(|p| api::ModelProperty {
            name: s(p, "/name"),
            description: s(p, "/description"),
            r#type: s(p, "/type"),
            access_mode: s(p, "/accessMode"),
            minimum: s(p, "/minimum"),
            maximum: s(p, "/maximum"),
            unit: s(p, "/unit"),
        })
        .collect();
    api::DeviceModel {
        name: s(m, "/metadata/name"),
        namespace: s(m, "/metadata/namespace"),
        spec: Some(api::DeviceModelSpec { properties, commands: Vec::new() }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_device_gets_its_models_defaults_under_its_own_and_every_field_a_mapper_reads() {
        let model = json!({"metadata": {"name": "thermo", "namespace": "plant"}, "spec": {"protocolConfigData": {"baud": 9600, "port": "/dev/ttyS0"},
            "properties": [{"name": "temp", "type": "INT", "accessMode": "ReadOnly", "visitors": {"protocolName": "modbus", "configData": {"register": "HoldingRegister", "offset": 1}}}]}});
        let dev = json!({"metadata": {"name": "t1", "namespace": "plant"}, "spec": {"deviceModelRef": {"name": "thermo"},
            "protocol": {"protocolName": "modbus", "configData": {"port": "/dev/ttyS1", "slaveID": 1}},
            "properties": [{"name": "temp", "desired": {"value": "20"}, "visitors": {"configData": {"offset": 2}}, "reportToCloud": true, "collectCycle": 500,
                "pushMethod": {"mqtt": {"address": "tcp://127.0.0.1:1883", "topic": "t", "qos": 1}}}, {"name": "bare"}],
            "stateReport": {"reportToCloud": true, "reportCycle": 2000}}});
        let d = device(&dev, &model).unwrap();
        let spec = d.spec.as_ref().unwrap();
        let proto = spec.protocol.as_ref().unwrap();
        assert_eq!((d.name.as_str(), d.namespace.as_str(), proto.protocol_name.as_str()), ("t1", "plant", "modbus"));
        let cfg = &proto.config_data.as_ref().unwrap().data;
        assert_eq!(StringValue::decode(&cfg["port"].value[..]).unwrap().value, "/dev/ttyS1", "the device's key wins");
        assert_eq!(FloatValue::decode(&cfg["baud"].value[..]).unwrap().value, 9600.0, "the model's key is kept");
        assert_eq!(cfg["slaveID"].type_url, "type.googleapis.com/google.protobuf.FloatValue");
        let temp = &spec.properties[0];
        let v = temp.visitors.as_ref().unwrap();
        assert_eq!(v.protocol_name, "modbus");
        assert_eq!(FloatValue::decode(&v.config_data.as_ref().unwrap().data["offset"].value[..]).unwrap().value, 2.0);
        assert!(v.config_data.as_ref().unwrap().data.contains_key("register"));
        assert_eq!((temp.desired.as_ref().unwrap().value.as_str(), temp.collect_cycle, temp.report_to_cloud), ("20", 500, true));
        assert_eq!(temp.push_method.as_ref().unwrap().mqtt.as_ref().unwrap().qos, 1);
        let bare = &spec.properties[1];
        assert!(bare.desired.is_some() && bare.visitors.as_ref().unwrap().config_data.is_some(), "a Go mapper dereferences these");
        assert_eq!(d.status.as_ref().unwrap().report_cycle, 2000);
        let m = super::model(&model);
        assert_eq!(m.spec.unwrap().properties[0].r#type, "INT");
    }

    #[test]
    fn nested_config_data_is_refused_naming_the_key() {
        let dev = json!({"metadata": {"name": "t1", "namespace": "ns"}, "spec": {"protocol": {"protocolName": "x", "configData": {"deep": {"a": 1}}}}});
        let e = device(&dev, &json!({})).unwrap_err();
        assert!(e.contains("device ns/t1 protocol") && e.contains("`deep`"), "{e}");
    }
}
