//! Request bodies in Kubernetes' protobuf encoding
//! (`application/vnd.kubernetes.protobuf`, what kubectl's typed clients
//! send for `kubectl create configmap|secret …`): the 4 bytes `k8s\0`, then
//! a runtime.Unknown {1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3
//! contentEncoding, 4 contentType} whose raw bytes are the object's own
//! message. The object becomes the JSON the rest of the API handles.
//! Lossless or refused: kinds without a table and fields a table does not
//! know are a 415 naming them; bytes that are not such a message a 400.
//!
//! Owns: the envelope and the mapping of refusals onto `ApiError`. Must
//! not touch the store.

mod convert;
pub mod schema;
mod schema_apps;
mod schema_container;
mod schema_core;
mod schema_meta;
mod schema_node;
mod schema_pod;
mod schema_volume;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_k8s_pb;

use hyper::StatusCode;
use serde_json::Value;

use super::error::ApiError;
use super::resources::Resource;
use convert::{message, Refused};
use wire::{fields, Wire};

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

fn unsupported(msg: String) -> ApiError {
    ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", msg)
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Unknown(m) => unsupported(format!("protobuf body: {m}")),
            Refused::Malformed(m) => ApiError::bad(format!("protobuf body is malformed: {m}")),
        }
    }
}

/// The envelope's parts.
#[derive(Default)]
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

fn string(w: Wire<'_>, at: &str) -> Result<String, Refused> {
    match w {
        Wire::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| Refused::Malformed(format!("{at}: not UTF-8"))),
        w => Err(Refused::Malformed(format!("{at}: expected length-delimited bytes, found {}", w.kind()))),
    }
}

fn envelope(body: &[u8]) -> Result<Unknown<'_>, Refused> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(|| {
        Refused::Malformed(format!(
            "it does not start with the 4 bytes \"k8s\\0\" of Kubernetes' protobuf encoding (starts with {:02x?})",
            &body[..body.len().min(4)]
        ))
    })?;
    let mut u = Unknown::default();
    for item in fields(rest) {
        match item.map_err(|e| Refused::Malformed(format!("runtime.Unknown: {e}")))? {
            (1, Wire::Bytes(tm)) => {
                for item in fields(tm) {
                    match item.map_err(|e| Refused::Malformed(format!("typeMeta: {e}")))? {
                        (1, w) => u.api_version = string(w, "typeMeta.apiVersion")?,
                        (2, w) => u.kind = string(w, "typeMeta.kind")?,
                        (no, _) => return Err(Refused::Unknown(format!("typeMeta: field number {no} is not one hive decodes"))),
                    }
                }
            }
            (2, Wire::Bytes(raw)) => u.raw = raw,
            (3, w) => u.content_encoding = string(w, "contentEncoding")?,
            (4, w) => u.content_type = string(w, "contentType")?,
            (no, w) => return Err(Refused::Malformed(format!("runtime.Unknown: unexpected field number {no} ({})", w.kind()))),
        }
    }
    Ok(u)
}

/// A protobuf request body for resource `res`, as the JSON object it encodes.
pub fn decode(body: &[u8], res: &Resource) -> Result<Value, ApiError> {
    let url = format!("this URL is for {} {} ({})", res.api_version(), res.kind, res.plural);
    decode_as(body, res.kind, &[&res.api_version()], &url)
}

/// A protobuf body that must hold a `kind` of one of `api_versions` (a
/// Binding, Scale or DeleteOptions), as JSON; `url` says in an error what
/// the request's URL takes.
pub fn decode_as(body: &[u8], kind: &str, api_versions: &[&str], url: &str) -> Result<Value, ApiError> {
    let u = envelope(body)?;
    if u.kind != kind || !api_versions.contains(&u.api_version.as_str()) {
        return Err(ApiError::bad(format!(
            "protobuf body holds {} {:?} but {url}",
            if u.api_version.is_empty() { "apiVersion \"\"" } else { &u.api_version },
            u.kind,
        )));
    }
    if !u.content_encoding.is_empty() {
        return Err(unsupported(format!("protobuf body: contentEncoding {:?} is not supported (send it unencoded)", u.content_encoding)));
    }
    if !u.content_type.is_empty() && u.content_type != MEDIA_TYPE {
        return Err(unsupported(format!("protobuf body: contentType {:?} inside runtime.Unknown is not supported", u.content_type)));
    }
    let msg = schema::kind(kind)
        .ok_or_else(|| unsupported(format!("{kind} is not decoded from protobuf by hive (it decodes {}); send it as application/json", schema::KINDS)))?;
    let mut obj = message(u.raw, msg, "")?;
    obj.insert("apiVersion".into(), Value::String(u.api_version));
    obj.insert("kind".into(), Value::String(u.kind));
    Ok(Value::Object(obj))
}
