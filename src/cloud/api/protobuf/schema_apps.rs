//! Protobuf tables of the apps/v1 workloads hive serves (k8s.io/api
//! apps/v1 generated.proto): DaemonSet, Deployment and ReplicaSet with
//! their specs, strategies and statuses.
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, list, ptr, Msg, LABEL_SELECTOR, OBJECT_META};
use super::schema_pod::POD_TEMPLATE_SPEC;

pub static ROLLING_UPDATE_DAEMON_SET: Msg = Msg { name: "RollingUpdateDaemonSet", fields: &[ptr(1, "maxUnavailable", IntOrStr), ptr(2, "maxSurge", IntOrStr)] };

pub static DAEMON_SET_UPDATE_STRATEGY: Msg =
    Msg { name: "DaemonSetUpdateStrategy", fields: &[f(1, "type", Str), ptr(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DAEMON_SET))] };

pub static DAEMON_SET_SPEC: Msg = Msg {
    name: "DaemonSetSpec",
    fields: &[
        ptr(1, "selector", Msg(&LABEL_SELECTOR)),
        ptr(2, "template", Msg(&POD_TEMPLATE_SPEC)),
        f(3, "updateStrategy", Msg(&DAEMON_SET_UPDATE_STRATEGY)),
        f(4, "minReadySeconds", Int),
        ptr(6, "revisionHistoryLimit", Int),
    ],
};

pub static DAEMON_SET_CONDITION: Msg = Msg {
    name: "DaemonSetCondition",
    fields: &[ptr(1, "type", Str), ptr(2, "status", Str), f(3, "lastTransitionTime", Time), f(4, "reason", Str), f(5, "message", Str)],
};

pub static DAEMON_SET_STATUS: Msg = Msg {
    name: "DaemonSetStatus",
    fields: &[
        ptr(1, "currentNumberScheduled", Int),
        ptr(2, "numberMisscheduled", Int),
        ptr(3, "desiredNumberScheduled", Int),
        ptr(4, "numberReady", Int),
        f(5, "observedGeneration", Int),
        f(6, "updatedNumberScheduled", Int),
        f(7, "numberAvailable", Int),
        f(8, "numberUnavailable", Int),
        ptr(9, "collisionCount", Int),
        list(10, "conditions", Msg(&DAEMON_SET_CONDITION)),
    ],
};

pub static DAEMON_SET: Msg =
    Msg { name: "DaemonSet", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&DAEMON_SET_SPEC)), f(3, "status", Msg(&DAEMON_SET_STATUS))] };

pub static ROLLING_UPDATE_DEPLOYMENT: Msg =
    Msg { name: "RollingUpdateDeployment", fields: &[ptr(1, "maxUnavailable", IntOrStr), ptr(2, "maxSurge", IntOrStr)] };

pub static DEPLOYMENT_STRATEGY: Msg =
    Msg { name: "DeploymentStrategy", fields: &[f(1, "type", Str), ptr(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT))] };

pub static DEPLOYMENT_SPEC: Msg = Msg {
    name: "DeploymentSpec",
    fields: &[
        ptr(1, "replicas", Int),
        ptr(2, "selector", Msg(&LABEL_SELECTOR)),
        ptr(3, "template", Msg(&POD_TEMPLATE_SPEC)),
        f(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        f(5, "minReadySeconds", Int),
        ptr(6, "revisionHistoryLimit", Int),
        f(7, "paused", Bool),
        ptr(9, "progressDeadlineSeconds", Int),
    ],
};

pub static DEPLOYMENT_CONDITION: Msg = Msg {
    name: "DeploymentCondition",
    fields: &[
        ptr(1, "type", Str),
        ptr(2, "status", Str),
        f(4, "reason", Str),
        f(5, "message", Str),
        f(6, "lastUpdateTime", Time),
        f(7, "lastTransitionTime", Time),
    ],
};

pub static DEPLOYMENT_STATUS: Msg = Msg {
    name: "DeploymentStatus",
    fields: &[
        f(1, "observedGeneration", Int),
        f(2, "replicas", Int),
        f(3, "updatedReplicas", Int),
        f(4, "availableReplicas", Int),
        f(5, "unavailableReplicas", Int),
        list(6, "conditions", Msg(&DEPLOYMENT_CONDITION)),
        f(7, "readyReplicas", Int),
        ptr(8, "collisionCount", Int),
        ptr(9, "terminatingReplicas", Int),
    ],
};

pub static DEPLOYMENT: Msg =
    Msg { name: "Deployment", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&DEPLOYMENT_SPEC)), f(3, "status", Msg(&DEPLOYMENT_STATUS))] };

pub static REPLICA_SET_SPEC: Msg = Msg {
    name: "ReplicaSetSpec",
    fields: &[ptr(1, "replicas", Int), ptr(2, "selector", Msg(&LABEL_SELECTOR)), f(3, "template", Msg(&POD_TEMPLATE_SPEC)), f(4, "minReadySeconds", Int)],
};

pub static REPLICA_SET_CONDITION: Msg = Msg {
    name: "ReplicaSetCondition",
    fields: &[ptr(1, "type", Str), ptr(2, "status", Str), f(3, "lastTransitionTime", Time), f(4, "reason", Str), f(5, "message", Str)],
};

pub static REPLICA_SET_STATUS: Msg = Msg {
    name: "ReplicaSetStatus",
    fields: &[
        ptr(1, "replicas", Int),
        f(2, "fullyLabeledReplicas", Int),
        f(3, "observedGeneration", Int),
        f(4, "readyReplicas", Int),
        f(5, "availableReplicas", Int),
        list(6, "conditions", Msg(&REPLICA_SET_CONDITION)),
        ptr(7, "terminatingReplicas", Int),
    ],
};

pub static REPLICA_SET: Msg =
    Msg { name: "ReplicaSet", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&REPLICA_SET_SPEC)), f(3, "status", Msg(&REPLICA_SET_STATUS))] };
