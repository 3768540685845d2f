//! Protobuf tables of core/v1 Event and Binding and the ObjectReference
//! both carry (k8s.io/api core/v1 generated.proto).
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, ptr, Msg, OBJECT_META};

pub static OBJECT_REFERENCE: Msg = Msg {
    name: "ObjectReference",
    fields: &[
        f(1, "kind", Str),
        f(2, "namespace", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        f(5, "apiVersion", Str),
        f(6, "resourceVersion", Str),
        f(7, "fieldPath", Str),
    ],
};

pub static EVENT_SOURCE: Msg = Msg { name: "EventSource", fields: &[f(1, "component", Str), f(2, "host", Str)] };

pub static EVENT_SERIES: Msg = Msg { name: "EventSeries", fields: &[f(1, "count", Int), f(2, "lastObservedTime", MicroTime)] };

pub static EVENT: Msg = Msg {
    name: "Event",
    fields: &[
        ptr(1, "metadata", Msg(&OBJECT_META)),
        ptr(2, "involvedObject", Msg(&OBJECT_REFERENCE)),
        f(3, "reason", Str),
        f(4, "message", Str),
        f(5, "source", Msg(&EVENT_SOURCE)),
        f(6, "firstTimestamp", Time),
        f(7, "lastTimestamp", Time),
        f(8, "count", Int),
        f(9, "type", Str),
        f(10, "eventTime", MicroTime),
        ptr(11, "series", Msg(&EVENT_SERIES)),
        f(12, "action", Str),
        ptr(13, "related", Msg(&OBJECT_REFERENCE)),
        ptr(14, "reportingComponent", Str),
        ptr(15, "reportingInstance", Str),
    ],
};

pub static BINDING: Msg = Msg { name: "Binding", fields: &[f(1, "metadata", Msg(&OBJECT_META)), ptr(2, "target", Msg(&OBJECT_REFERENCE))] };
