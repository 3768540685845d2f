//! DMI v1beta1's push methods (api.proto, as api.rs): where a mapper sends
//! what it reads, besides reporting to the edge (HTTP, MQTT, OpenTelemetry,
//! databases, anomaly detection). hive passes them through from the
//! Device's spec to its mapper and reads none of them.
//!
//! Owns: these messages' wire form. Must not hold behaviour.

use std::collections::HashMap;

use super::api::Any;

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushMethod {
    #[prost(message, optional, tag = "1")]
    pub http: Option<PushMethodHttp>,
    #[prost(message, optional, tag = "2")]
    pub mqtt: Option<PushMethodMqtt>,
    #[prost(message, optional, tag = "4")]
    pub otel: Option<PushMethodOtel>,
    #[prost(message, optional, tag = "3")]
    pub db_method: Option<DbMethod>,
    #[prost(message, optional, tag = "5")]
    pub anomaly_detection: Option<AnomalyDetection>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushMethodHttp {
    #[prost(string, tag = "1")]
    pub hostname: String,
    #[prost(int64, tag = "2")]
    pub port: i64,
    #[prost(string, tag = "3")]
    pub requestpath: String,
    #[prost(int64, tag = "4")]
    pub timeout: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushMethodMqtt {
    #[prost(string, tag = "1")]
    pub address: String,
    #[prost(string, tag = "2")]
    pub topic: String,
    #[prost(int32, tag = "3")]
    pub qos: i32,
    #[prost(bool, tag = "4")]
    pub retained: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushMethodOtel {
    #[prost(string, tag = "1")]
    pub endpoint_url: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DbMethod {
    #[prost(message, optional, tag = "1")]
    pub influxdb2: Option<DbMethodInfluxdb2>,
    #[prost(message, optional, tag = "2")]
    pub redis: Option<DbMethodRedis>,
    #[prost(message, optional, tag = "3")]
    pub tdengine: Option<DbMethodTdEngine>,
    #[prost(message, optional, tag = "4")]
    pub mysql: Option<DbMethodMySql>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DbMethodInfluxdb2 {
    #[prost(message, optional, tag = "1")]
    pub influxdb2_client_config: Option<Influxdb2ClientConfig>,
    #[prost(message, optional, tag = "2")]
    pub influxdb2_data_config: Option<Influxdb2DataConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Influxdb2DataConfig {
    #[prost(string, tag = "1")]
    pub measurement: String,
    #[prost(map = "string, string", tag = "2")]
    pub tag: HashMap<String, String>,
    #[prost(string, tag = "3")]
    pub field_key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Influxdb2ClientConfig {
    #[prost(string, tag = "1")]
    pub url: String,
    #[prost(string, tag = "2")]
    pub org: String,
    #[prost(string, tag = "3")]
    pub bucket: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DbMethodRedis {
    #[prost(message, optional, tag = "1")]
    pub redis_client_config: Option<RedisClientConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RedisClientConfig {
    #[prost(string, tag = "1")]
    pub addr: String,
    #[prost(int32, tag = "2")]
    pub db: i32,
    #[prost(int32, tag = "3")]
    pub poolsize: i32,
    #[prost(int32, tag = "4")]
    pub min_idle_conns: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DbMethodTdEngine {
    #[prost(message, optional, tag = "1")]
    pub td_engine_client_config: Option<TdEngineClientConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TdEngineClientConfig {
    #[prost(string, tag = "1")]
    pub addr: String,
    #[prost(string, tag = "2")]
    pub dbname: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DbMethodMySql {
    #[prost(message, optional, tag = "1")]
    pub mysql_client_config: Option<MySqlClientConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MySqlClientConfig {
    #[prost(string, tag = "1")]
    pub addr: String,
    #[prost(string, tag = "2")]
    pub database: String,
    #[prost(string, tag = "3")]
    pub user_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DbMethodOtel {
    #[prost(message, optional, tag = "1")]
    pub otel_exporter_config: Option<OtelExporterConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OtelExporterConfig {
    #[prost(string, tag = "1")]
    pub endpoint_url: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnomalyDetection {
    #[prost(map = "string, message", tag = "1")]
    pub data: HashMap<String, Any>,
}
