//! The Kubernetes protobuf messages hive decodes, as tables: for each field
//! its number, JSON name and type, from Kubernetes' generated.proto of
//! k8s.io/api and k8s.io/apimachinery meta/v1, names, pointers and
//! `omitempty` from their Go types (here: object metadata, ConfigMap,
//! Secret, Namespace; pods in schema_pod.rs with schema_container.rs and
//! schema_volume.rs, nodes in schema_node.rs, Event and Binding in
//! schema_core.rs, Scale and DeleteOptions in schema_meta.rs, apps/v1 in
//! schema_apps.rs). A field number not in a table is refused, never
//! skipped: adding a kind means adding its table, and the round trip
//! against k8s-pb's messages in tests_k8s_pb.rs checks every table.
//!
//! Owns: these tables and the kind → table lookup. Must not read bytes
//! (wire.rs) or build JSON (convert.rs).

/// What a field holds, and so how its wire value becomes JSON.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    /// int32 / int64 (a varint, two's complement).
    Int,
    Bool,
    Msg(&'static Msg),
    /// metav1.Time {seconds, nanos}: `2006-01-02T15:04:05Z`; zero is null.
    Time,
    /// metav1.MicroTime {seconds, nanos}: `2006-01-02T15:04:05.000000Z`; zero is null.
    MicroTime,
    /// A message whose one `bytes` field 1 holds JSON (metav1.FieldsV1,
    /// runtime.RawExtension): that JSON.
    RawJson,
    /// map<string, string>.
    MapStr,
    /// map<string, bytes>: values in base64.
    MapBytes,
    /// map<string, resource.Quantity>: values as their strings.
    MapQuantity,
    /// resource.Quantity {1 string}: that string.
    Quantity,
    /// intstr.IntOrString {1 type, 2 intVal, 3 strVal}: a JSON number or string.
    IntOrStr,
    /// A Go struct embedded inline: its fields are the parent's in JSON.
    Inline(&'static Msg),
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub no: u32,
    pub name: &'static str,
    pub ty: Ty,
    /// `repeated`: a JSON array.
    pub list: bool,
    /// A Go pointer (`*bool`, `*int64`, `*Time`) or a field whose JSON tag
    /// has no `omitempty`: present means set, so a zero value is kept.
    /// Other scalars follow Go's `omitempty` and are left out when zero
    /// (Go's marshaller writes every non-pointer field).
    pub ptr: bool,
}

/// One message type.
#[derive(Debug)]
pub struct Msg {
    pub name: &'static str,
    pub fields: &'static [Field],
}

pub(super) const fn f(no: u32, name: &'static str, ty: Ty) -> Field {
    Field { no, name, ty, list: false, ptr: false }
}
pub(super) const fn list(no: u32, name: &'static str, ty: Ty) -> Field {
    Field { no, name, ty, list: true, ptr: false }
}
pub(super) const fn ptr(no: u32, name: &'static str, ty: Ty) -> Field {
    Field { no, name, ty, list: false, ptr: true }
}
pub(super) const fn inline(no: u32, msg: &'static Msg) -> Field {
    Field { no, name: "", ty: Ty::Inline(msg), list: false, ptr: false }
}

use Ty::*;

pub static OWNER_REFERENCE: Msg = Msg {
    name: "OwnerReference",
    fields: &[
        ptr(5, "apiVersion", Str),
        ptr(1, "kind", Str),
        ptr(3, "name", Str),
        ptr(4, "uid", Str),
        ptr(6, "controller", Bool),
        ptr(7, "blockOwnerDeletion", Bool),
    ],
};

pub static MANAGED_FIELDS_ENTRY: Msg = Msg {
    name: "ManagedFieldsEntry",
    fields: &[
        f(1, "manager", Str),
        f(2, "operation", Str),
        f(3, "apiVersion", Str),
        ptr(4, "time", Time),
        f(6, "fieldsType", Str),
        ptr(7, "fieldsV1", RawJson),
        f(8, "subresource", Str),
    ],
};

pub static OBJECT_META: Msg = Msg {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", Str),
        f(2, "generateName", Str),
        f(3, "namespace", Str),
        f(4, "selfLink", Str),
        f(5, "uid", Str),
        f(6, "resourceVersion", Str),
        f(7, "generation", Int),
        f(8, "creationTimestamp", Time),
        ptr(9, "deletionTimestamp", Time),
        ptr(10, "deletionGracePeriodSeconds", Int),
        f(11, "labels", MapStr),
        f(12, "annotations", MapStr),
        list(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
        list(14, "finalizers", Str),
        list(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY)),
    ],
};

static LABEL_SELECTOR_REQUIREMENT: Msg = Msg { name: "LabelSelectorRequirement", fields: &[f(1, "key", Str), f(2, "operator", Str), list(3, "values", Str)] };

pub static LABEL_SELECTOR: Msg =
    Msg { name: "LabelSelector", fields: &[f(1, "matchLabels", MapStr), list(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT))] };

pub static CONFIG_MAP: Msg =
    Msg { name: "ConfigMap", fields: &[f(1, "metadata", Msg(&OBJECT_META)), ptr(4, "immutable", Bool), f(2, "data", MapStr), f(3, "binaryData", MapBytes)] };

pub static SECRET: Msg = Msg {
    name: "Secret",
    fields: &[f(1, "metadata", Msg(&OBJECT_META)), ptr(5, "immutable", Bool), f(2, "data", MapBytes), f(4, "stringData", MapStr), f(3, "type", Str)],
};

pub static NAMESPACE_CONDITION: Msg = Msg {
    name: "NamespaceCondition",
    fields: &[ptr(1, "type", Str), ptr(2, "status", Str), f(4, "lastTransitionTime", Time), f(5, "reason", Str), f(6, "message", Str)],
};

pub static NAMESPACE_SPEC: Msg = Msg { name: "NamespaceSpec", fields: &[list(1, "finalizers", Str)] };

pub static NAMESPACE_STATUS: Msg = Msg { name: "NamespaceStatus", fields: &[f(1, "phase", Str), list(2, "conditions", Msg(&NAMESPACE_CONDITION))] };

pub static NAMESPACE: Msg =
    Msg { name: "Namespace", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&NAMESPACE_SPEC)), f(3, "status", Msg(&NAMESPACE_STATUS))] };

/// The message of a kind whose protobuf form hive decodes.
pub fn kind(kind: &str) -> Option<&'static Msg> {
    Some(match kind {
        "ConfigMap" => &CONFIG_MAP,
        "Secret" => &SECRET,
        "Namespace" => &NAMESPACE,
        "Pod" => &super::schema_pod::POD,
        "Node" => &super::schema_node::NODE,
        "Event" => &super::schema_core::EVENT,
        "Binding" => &super::schema_core::BINDING,
        "DaemonSet" => &super::schema_apps::DAEMON_SET,
        "Deployment" => &super::schema_apps::DEPLOYMENT,
        "ReplicaSet" => &super::schema_apps::REPLICA_SET,
        "Scale" => &super::schema_meta::SCALE,
        "DeleteOptions" => &super::schema_meta::DELETE_OPTIONS,
        _ => return None,
    })
}

/// Kinds `kind` knows, for error messages.
pub const KINDS: &str = "ConfigMap, Secret, Namespace, Pod, Node, Event, Binding, DaemonSet, Deployment, ReplicaSet, Scale, DeleteOptions";
