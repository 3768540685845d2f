//! Protobuf tables of the apps/v1 workloads hive serves (k8s.io/api
//! apps/v1 generated.proto, v0.26 numbering): Deployment and ReplicaSet
//! with their specs, strategies and statuses.
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, list, ptr, Msg, LABEL_SELECTOR, OBJECT_META};
use super::schema_pod::POD_TEMPLATE_SPEC;

static ROLLING_UPDATE: Msg = Msg { name: "RollingUpdateDeployment", fields: &[ptr(1, "maxUnavailable", IntOrStr), ptr(2, "maxSurge", IntOrStr)] };

static STRATEGY: Msg = Msg { name: "DeploymentStrategy", fields: &[f(1, "type", Str), ptr(2, "rollingUpdate", Msg(&ROLLING_UPDATE))] };

static DEPLOYMENT_SPEC: Msg = Msg {
    name: "DeploymentSpec",
    fields: &[
        ptr(1, "replicas", Int),
        ptr(2, "selector", Msg(&LABEL_SELECTOR)),
        f(3, "template", Msg(&POD_TEMPLATE_SPEC)),
        f(4, "strategy", Msg(&STRATEGY)),
        f(5, "minReadySeconds", Int),
        ptr(6, "revisionHistoryLimit", Int),
        f(7, "paused", Bool),
        ptr(9, "progressDeadlineSeconds", Int),
    ],
};

static DEPLOYMENT_CONDITION: Msg = Msg {
    name: "DeploymentCondition",
    fields: &[
        f(1, "type", Str),
        f(2, "status", Str),
        f(4, "reason", Str),
        f(5, "message", Str),
        f(6, "lastUpdateTime", Time),
        f(7, "lastTransitionTime", Time),
    ],
};

static DEPLOYMENT_STATUS: Msg = Msg {
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
    ],
};

pub static DEPLOYMENT: Msg =
    Msg { name: "Deployment", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&DEPLOYMENT_SPEC)), f(3, "status", Msg(&DEPLOYMENT_STATUS))] };

static REPLICA_SET_SPEC: Msg = Msg {
    name: "ReplicaSetSpec",
    fields: &[ptr(1, "replicas", Int), ptr(2, "selector", Msg(&LABEL_SELECTOR)), f(3, "template", Msg(&POD_TEMPLATE_SPEC)), f(4, "minReadySeconds", Int)],
};

static REPLICA_SET_CONDITION: Msg = Msg {
    name: "ReplicaSetCondition",
    fields: &[f(1, "type", Str), f(2, "status", Str), f(3, "lastTransitionTime", Time), f(4, "reason", Str), f(5, "message", Str)],
};

static REPLICA_SET_STATUS: Msg = Msg {
    name: "ReplicaSetStatus",
    fields: &[
        f(1, "replicas", Int),
        f(2, "fullyLabeledReplicas", Int),
        f(3, "observedGeneration", Int),
        f(4, "readyReplicas", Int),
        f(5, "availableReplicas", Int),
        list(6, "conditions", Msg(&REPLICA_SET_CONDITION)),
    ],
};

pub static REPLICA_SET: Msg =
    Msg { name: "ReplicaSet", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&REPLICA_SET_SPEC)), f(3, "status", Msg(&REPLICA_SET_STATUS))] };
