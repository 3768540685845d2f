//! One protobuf message, read by its table (schema.rs), becomes the JSON
//! object Kubernetes' own JSON encoding gives the same object: field names
//! as in JSON, times in RFC 3339, bytes in base64, maps as objects, Go's
//! `omitempty` for zero scalars. A field the table does not know, a value
//! of the wrong wire type or bad UTF-8 is refused with the field's path.
//!
//! Owns: that conversion. Must not know HTTP or the envelope (mod.rs).

use base64::Engine as _;
use serde_json::{Map, Value};

use super::schema::{Field, Msg, Ty};
use super::wire::{fields, Wire};

/// Why a message was refused: `Unknown` names a field hive cannot carry
/// (415), `Malformed` bytes that are not the message at all (400).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Unknown(String),
    Malformed(String),
}

fn malformed(path: &str, what: impl std::fmt::Display) -> Refused {
    Refused::Malformed(format!("{}: {what}", if path.is_empty() { "(object)" } else { path }))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `bytes` as one message of type `msg`, found at `path`.
pub fn message(bytes: &[u8], msg: &Msg, path: &str) -> Result<Map<String, Value>, Refused> {
    let mut out = Map::new();
    for item in fields(bytes) {
        let (no, wire) = item.map_err(|e| malformed(path, e))?;
        let Some(field) = msg.fields.iter().find(|f| f.no == no) else {
            return Err(Refused::Unknown(format!(
                "{}: field number {no} of {} is not one hive decodes (it would be lost); send this object as JSON",
                if path.is_empty() { "(object)" } else { path },
                msg.name
            )));
        };
        let at = join(path, field.name);
        match field.ty {
            // An embedded Go struct: its fields land in this object.
            Ty::Inline(m) => {
                for (k, v) in message(self::bytes(wire, path)?, m, path)? {
                    out.insert(k, v);
                }
            }
            Ty::MapStr | Ty::MapBytes | Ty::MapQuantity => {
                let (k, v) = entry(wire, field, &at)?;
                let m = out.entry(field.name).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = m {
                    m.insert(k, v);
                }
            }
            _ if field.list => {
                let v = value(wire, field, &format!("{at}[{}]", out.get(field.name).and_then(Value::as_array).map_or(0, Vec::len)))?;
                if let Value::Array(a) = out.entry(field.name).or_insert_with(|| Value::Array(Vec::new())) {
                    a.push(v);
                }
            }
            _ => {
                let v = value(wire, field, &at)?;
                if !field.ptr && is_zero(&v, field.ty) {
                    out.remove(field.name);
                } else {
                    out.insert(field.name.to_string(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Go's `omitempty` zero of a non-pointer scalar (messages and times are
/// structs in Go, never omitted).
fn is_zero(v: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Str => v.as_str() == Some(""),
        Ty::Int => v.as_i64() == Some(0),
        Ty::Bool => v.as_bool() == Some(false),
        _ => false,
    }
}

fn bytes<'a>(wire: Wire<'a>, at: &str) -> Result<&'a [u8], Refused> {
    match wire {
        Wire::Bytes(b) => Ok(b),
        w => Err(malformed(at, format!("expected length-delimited bytes, found {}", w.kind()))),
    }
}

fn varint(wire: Wire<'_>, at: &str) -> Result<u64, Refused> {
    match wire {
        Wire::Varint(v) => Ok(v),
        w => Err(malformed(at, format!("expected a varint, found {}", w.kind()))),
    }
}

fn text(b: &[u8], at: &str) -> Result<String, Refused> {
    String::from_utf8(b.to_vec()).map_err(|e| malformed(at, format!("not UTF-8 ({e}); binary values belong in a bytes field")))
}

fn b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

fn value(wire: Wire<'_>, field: &Field, at: &str) -> Result<Value, Refused> {
    Ok(match field.ty {
        Ty::Str => Value::String(text(bytes(wire, at)?, at)?),
        // int32 and int64 are both sign-extended to 64 bits on the wire.
        Ty::Int => Value::from(varint(wire, at)? as i64),
        Ty::Bool => Value::Bool(varint(wire, at)? != 0),
        Ty::Msg(m) => Value::Object(message(bytes(wire, at)?, m, at)?),
        Ty::Time => time(bytes(wire, at)?, false, at)?,
        Ty::MicroTime => time(bytes(wire, at)?, true, at)?,
        Ty::RawJson => raw_json(bytes(wire, at)?, at)?,
        Ty::Quantity => quantity(bytes(wire, at)?, at)?,
        Ty::IntOrStr => int_or_string(bytes(wire, at)?, at)?,
        Ty::MapStr | Ty::MapBytes | Ty::MapQuantity | Ty::Inline(_) => return Err(malformed(at, "a map or inline struct inside a list")),
    })
}

/// metav1.Time / MicroTime {1: seconds, 2: nanos} (JSON keeps whole
/// seconds / microseconds).
fn time(b: &[u8], micro: bool, at: &str) -> Result<Value, Refused> {
    let (mut secs, mut nanos) = (0i64, 0i64);
    for item in fields(b) {
        match item.map_err(|e| malformed(at, e))? {
            (1, w) => secs = varint(w, at)? as i64,
            (2, w) => nanos = varint(w, at)? as i64,
            (no, _) => return Err(Refused::Unknown(format!("{at}: field number {no} of Time is not one hive decodes"))),
        }
    }
    if secs == 0 && nanos == 0 {
        return Ok(Value::Null);
    }
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(malformed(at, format!("nanos {nanos} out of range")));
    }
    crate::kube::rfc3339(secs, micro.then_some((nanos / 1000) as u32))
        .map(Value::String)
        .ok_or_else(|| malformed(at, format!("seconds {secs} is not a time between the years 0 and 9999")))
}

/// resource.Quantity {1: its string}.
fn quantity(b: &[u8], at: &str) -> Result<Value, Refused> {
    let mut q = String::new();
    for item in fields(b) {
        match item.map_err(|e| malformed(at, e))? {
            (1, w) => q = text(bytes(w, at)?, at)?,
            (no, _) => return Err(Refused::Unknown(format!("{at}: field number {no} of Quantity is not one hive decodes"))),
        }
    }
    Ok(Value::String(q))
}

/// intstr.IntOrString {1: type (0 int, 1 string), 2: intVal, 3: strVal}.
fn int_or_string(b: &[u8], at: &str) -> Result<Value, Refused> {
    let (mut ty, mut int, mut s) = (0u64, 0i64, String::new());
    for item in fields(b) {
        match item.map_err(|e| malformed(at, e))? {
            (1, w) => ty = varint(w, at)?,
            (2, w) => int = varint(w, at)? as i32 as i64,
            (3, w) => s = text(bytes(w, at)?, at)?,
            (no, _) => return Err(Refused::Unknown(format!("{at}: field number {no} of IntOrString is not one hive decodes"))),
        }
    }
    match ty {
        0 => Ok(Value::from(int)),
        1 => Ok(Value::String(s)),
        t => Err(malformed(at, format!("IntOrString type {t} (0 is int, 1 is string)"))),
    }
}

/// FieldsV1 / RawExtension {1: raw JSON bytes}.
fn raw_json(b: &[u8], at: &str) -> Result<Value, Refused> {
    let mut v = Value::Null;
    for item in fields(b) {
        match item.map_err(|e| malformed(at, e))? {
            (1, w) => {
                let raw = bytes(w, at)?;
                v = if raw.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(raw).map_err(|e| malformed(at, format!("raw bytes are not JSON: {e}")))?
                };
            }
            (no, _) => return Err(Refused::Unknown(format!("{at}: field number {no} is not one hive decodes"))),
        }
    }
    Ok(v)
}

/// One map entry {1: key, 2: value}.
fn entry(wire: Wire<'_>, field: &Field, at: &str) -> Result<(String, Value), Refused> {
    let (mut key, mut val) = (String::new(), None);
    for item in fields(bytes(wire, at)?) {
        match item.map_err(|e| malformed(at, e))? {
            (1, w) => key = text(bytes(w, at)?, at)?,
            (2, w) => val = Some(bytes(w, at)?),
            (no, _) => return Err(Refused::Unknown(format!("{at}: field number {no} of a map entry is not one hive decodes"))),
        }
    }
    let at = format!("{at}[{key:?}]");
    let v = val.unwrap_or_default();
    Ok((
        key,
        match field.ty {
            Ty::MapBytes => b64(v),
            Ty::MapQuantity => quantity(v, &at)?,
            _ => Value::String(text(v, &at)?),
        },
    ))
}
