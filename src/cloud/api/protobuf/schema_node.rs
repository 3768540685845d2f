//! Protobuf tables of a Node (k8s.io/api core/v1 generated.proto): spec
//! (taints, cordon) and status (capacity, conditions, addresses, system
//! info, images). The deprecated dynamic kubelet config source is not
//! tabled.
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, list, ptr, Msg, OBJECT_META};

pub static TAINT: Msg = Msg { name: "Taint", fields: &[ptr(1, "key", Str), f(2, "value", Str), ptr(3, "effect", Str), ptr(4, "timeAdded", Time)] };

pub static NODE_SPEC: Msg = Msg {
    name: "NodeSpec",
    fields: &[
        f(1, "podCIDR", Str),
        f(2, "externalID", Str),
        f(3, "providerID", Str),
        f(4, "unschedulable", Bool),
        list(5, "taints", Msg(&TAINT)),
        // skipped 6 configSource: NodeConfigSource
        list(7, "podCIDRs", Str),
        // skipped 8 podPreemptionPolicy: NodePodPreemptionPolicy
    ],
};

pub static NODE_CONDITION: Msg = Msg {
    name: "NodeCondition",
    fields: &[
        ptr(1, "type", Str),
        ptr(2, "status", Str),
        f(3, "lastHeartbeatTime", Time),
        f(4, "lastTransitionTime", Time),
        f(5, "reason", Str),
        f(6, "message", Str),
    ],
};

pub static NODE_ADDRESS: Msg = Msg { name: "NodeAddress", fields: &[ptr(1, "type", Str), ptr(2, "address", Str)] };

pub static DAEMON_ENDPOINT: Msg = Msg { name: "DaemonEndpoint", fields: &[ptr(1, "Port", Int)] };

pub static NODE_DAEMON_ENDPOINTS: Msg = Msg { name: "NodeDaemonEndpoints", fields: &[f(1, "kubeletEndpoint", Msg(&DAEMON_ENDPOINT))] };

pub static NODE_SWAP_STATUS: Msg = Msg { name: "NodeSwapStatus", fields: &[ptr(1, "capacity", Int)] };

pub static NODE_SYSTEM_INFO: Msg = Msg {
    name: "NodeSystemInfo",
    fields: &[
        ptr(1, "machineID", Str),
        ptr(2, "systemUUID", Str),
        ptr(3, "bootID", Str),
        ptr(4, "kernelVersion", Str),
        ptr(5, "osImage", Str),
        ptr(6, "containerRuntimeVersion", Str),
        ptr(7, "kubeletVersion", Str),
        ptr(8, "kubeProxyVersion", Str),
        ptr(9, "operatingSystem", Str),
        ptr(10, "architecture", Str),
        ptr(11, "swap", Msg(&NODE_SWAP_STATUS)),
    ],
};

pub static CONTAINER_IMAGE: Msg = Msg { name: "ContainerImage", fields: &[list(1, "names", Str), f(2, "sizeBytes", Int)] };

pub static ATTACHED_VOLUME: Msg = Msg { name: "AttachedVolume", fields: &[ptr(1, "name", Str), ptr(2, "devicePath", Str)] };

pub static NODE_RUNTIME_HANDLER_FEATURES: Msg =
    Msg { name: "NodeRuntimeHandlerFeatures", fields: &[ptr(1, "recursiveReadOnlyMounts", Bool), ptr(2, "userNamespaces", Bool)] };

pub static NODE_RUNTIME_HANDLER: Msg =
    Msg { name: "NodeRuntimeHandler", fields: &[ptr(1, "name", Str), ptr(2, "features", Msg(&NODE_RUNTIME_HANDLER_FEATURES))] };

pub static NODE_FEATURES: Msg = Msg { name: "NodeFeatures", fields: &[ptr(1, "supplementalGroupsPolicy", Bool)] };

pub static NODE_STATUS: Msg = Msg {
    name: "NodeStatus",
    fields: &[
        f(1, "capacity", MapQuantity),
        f(2, "allocatable", MapQuantity),
        f(3, "phase", Str),
        list(4, "conditions", Msg(&NODE_CONDITION)),
        list(5, "addresses", Msg(&NODE_ADDRESS)),
        f(6, "daemonEndpoints", Msg(&NODE_DAEMON_ENDPOINTS)),
        f(7, "nodeInfo", Msg(&NODE_SYSTEM_INFO)),
        list(8, "images", Msg(&CONTAINER_IMAGE)),
        list(9, "volumesInUse", Str),
        list(10, "volumesAttached", Msg(&ATTACHED_VOLUME)),
        // skipped 11 config: NodeConfigStatus
        list(12, "runtimeHandlers", Msg(&NODE_RUNTIME_HANDLER)),
        ptr(13, "features", Msg(&NODE_FEATURES)),
        list(14, "declaredFeatures", Str),
    ],
};

pub static NODE: Msg = Msg { name: "Node", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&NODE_SPEC)), f(3, "status", Msg(&NODE_STATUS))] };
