//! KubeEdge's DMI v1beta1 messages (`pkg/apis/dmi/v1beta1/api.proto` of
//! kubeedge/kubeedge v1.23.1, Apache-2.0, The KubeEdge Authors): every
//! message with its field numbers, as prost structs written out (no protoc
//! at build time). Field names are the proto's in snake case.
//!
//! Owns: the wire form. Must not hold behaviour.

use std::collections::HashMap;

pub use super::push::*;

/// `google.protobuf.Any`: configData values are StringValue, BoolValue,
/// Int64Value, FloatValue… wrappers (see convert.rs).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MapperRegisterRequest {
    #[prost(bool, tag = "1")]
    pub with_data: bool,
    #[prost(message, optional, tag = "2")]
    pub mapper: Option<MapperInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MapperRegisterResponse {
    #[prost(message, repeated, tag = "1")]
    pub model_list: Vec<DeviceModel>,
    #[prost(message, repeated, tag = "2")]
    pub device_list: Vec<Device>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceModel {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<DeviceModelSpec>,
    #[prost(string, tag = "3")]
    pub namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceModelSpec {
    #[prost(message, repeated, tag = "1")]
    pub properties: Vec<ModelProperty>,
    #[prost(message, repeated, tag = "2")]
    pub commands: Vec<DeviceCommand>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProperty {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(string, tag = "3")]
    pub r#type: String,
    #[prost(string, tag = "4")]
    pub access_mode: String,
    #[prost(string, tag = "5")]
    pub minimum: String,
    #[prost(string, tag = "6")]
    pub maximum: String,
    #[prost(string, tag = "7")]
    pub unit: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceCommand {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub url: String,
    #[prost(string, tag = "3")]
    pub method: String,
    #[prost(string, repeated, tag = "4")]
    pub status_code: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    pub parameters: Vec<String>,
    #[prost(bytes = "vec", tag = "6")]
    pub response: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Device {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<DeviceSpec>,
    #[prost(message, optional, tag = "3")]
    pub status: Option<DeviceStatus>,
    #[prost(string, tag = "4")]
    pub namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceSpec {
    #[prost(string, tag = "1")]
    pub device_model_reference: String,
    #[prost(message, optional, tag = "2")]
    pub protocol: Option<ProtocolConfig>,
    #[prost(message, repeated, tag = "3")]
    pub properties: Vec<DeviceProperty>,
    #[prost(message, repeated, tag = "4")]
    pub methods: Vec<DeviceMethod>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceMethod {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(string, repeated, tag = "3")]
    pub property_names: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceProperty {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub desired: Option<TwinProperty>,
    #[prost(message, optional, tag = "3")]
    pub visitors: Option<VisitorConfig>,
    #[prost(int64, tag = "4")]
    pub report_cycle: i64,
    #[prost(int64, tag = "5")]
    pub collect_cycle: i64,
    #[prost(bool, tag = "6")]
    pub report_to_cloud: bool,
    #[prost(message, optional, tag = "7")]
    pub push_method: Option<PushMethod>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtocolConfig {
    #[prost(string, tag = "1")]
    pub protocol_name: String,
    #[prost(message, optional, tag = "2")]
    pub config_data: Option<CustomizedValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VisitorConfig {
    #[prost(string, tag = "1")]
    pub protocol_name: String,
    #[prost(message, optional, tag = "2")]
    pub config_data: Option<CustomizedValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CustomizedValue {
    #[prost(map = "string, message", tag = "1")]
    pub data: HashMap<String, Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MapperInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(string, tag = "3")]
    pub api_version: String,
    #[prost(string, tag = "4")]
    pub protocol: String,
    #[prost(bytes = "vec", tag = "5")]
    pub address: Vec<u8>,
    #[prost(string, tag = "6")]
    pub state: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportDeviceStatusRequest {
    #[prost(string, tag = "1")]
    pub device_name: String,
    #[prost(message, optional, tag = "2")]
    pub reported_device: Option<DeviceStatus>,
    #[prost(string, tag = "3")]
    pub device_namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportDeviceStatesRequest {
    #[prost(string, tag = "1")]
    pub device_name: String,
    #[prost(string, tag = "2")]
    pub device_namespace: String,
    #[prost(string, tag = "3")]
    pub state: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceStatus {
    #[prost(message, repeated, tag = "1")]
    pub twins: Vec<Twin>,
    #[prost(bool, tag = "2")]
    pub report_to_cloud: bool,
    #[prost(int64, tag = "3")]
    pub report_cycle: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Twin {
    #[prost(string, tag = "1")]
    pub property_name: String,
    #[prost(message, optional, tag = "2")]
    pub observed_desired: Option<TwinProperty>,
    #[prost(message, optional, tag = "3")]
    pub reported: Option<TwinProperty>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TwinProperty {
    #[prost(string, tag = "1")]
    pub value: String,
    #[prost(map = "string, string", tag = "2")]
    pub metadata: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportDeviceStatusResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportDeviceStatesResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterDeviceRequest {
    #[prost(message, optional, tag = "1")]
    pub device: Option<Device>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterDeviceResponse {
    #[prost(string, tag = "1")]
    pub device_name: String,
    #[prost(string, tag = "2")]
    pub device_namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateDeviceModelRequest {
    #[prost(message, optional, tag = "1")]
    pub model: Option<DeviceModel>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateDeviceModelResponse {
    #[prost(string, tag = "1")]
    pub device_model_name: String,
    #[prost(string, tag = "2")]
    pub device_model_namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveDeviceRequest {
    #[prost(string, tag = "1")]
    pub device_name: String,
    #[prost(string, tag = "2")]
    pub device_namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveDeviceResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveDeviceModelRequest {
    #[prost(string, tag = "1")]
    pub model_name: String,
    #[prost(string, tag = "2")]
    pub model_namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveDeviceModelResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateDeviceRequest {
    #[prost(message, optional, tag = "1")]
    pub device: Option<Device>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateDeviceResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateDeviceModelRequest {
    #[prost(message, optional, tag = "1")]
    pub model: Option<DeviceModel>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateDeviceModelResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetDeviceRequest {
    #[prost(string, tag = "1")]
    pub device_name: String,
    #[prost(string, tag = "2")]
    pub device_namespace: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetDeviceResponse {
    #[prost(message, optional, tag = "1")]
    pub device: Option<Device>,
}
