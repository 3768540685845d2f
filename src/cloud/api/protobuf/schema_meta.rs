//! Protobuf tables of the bodies that are not objects of a resource:
//! autoscaling/v1 Scale (`…/scale`) and meta/v1 DeleteOptions (DELETE).
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, list, ptr, Msg, OBJECT_META};

pub static SCALE_SPEC: Msg = Msg { name: "ScaleSpec", fields: &[f(1, "replicas", Int)] };

pub static SCALE_STATUS: Msg = Msg { name: "ScaleStatus", fields: &[ptr(1, "replicas", Int), f(2, "selector", Str)] };

pub static SCALE: Msg =
    Msg { name: "Scale", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&SCALE_SPEC)), f(3, "status", Msg(&SCALE_STATUS))] };

pub static PRECONDITIONS: Msg = Msg { name: "Preconditions", fields: &[ptr(1, "uid", Str), ptr(2, "resourceVersion", Str)] };

pub static DELETE_OPTIONS: Msg = Msg {
    name: "DeleteOptions",
    fields: &[
        ptr(1, "gracePeriodSeconds", Int),
        ptr(2, "preconditions", Msg(&PRECONDITIONS)),
        ptr(3, "orphanDependents", Bool),
        ptr(4, "propagationPolicy", Str),
        list(5, "dryRun", Str),
        // Kubernetes 1.32 (k8s.io/apimachinery); hive keeps no unreadable objects, so it has no effect.
        ptr(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
    ],
};
