//! Protobuf tables of a pod (k8s.io/api core/v1 generated.proto): its spec
//! (scheduling: affinity, tolerations, spread; security, DNS), its status
//! (conditions, container states) and the pod template workloads embed.
//! Dynamic resource claims and ephemeral containers are not tabled
//! (refused with their path).
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, list, ptr, Msg, LABEL_SELECTOR, OBJECT_META};
use super::schema_container::{APP_ARMOR_PROFILE, CONTAINER, RESOURCE_REQUIREMENTS, SECCOMP_PROFILE, SE_LINUX_OPTIONS, WINDOWS_SECURITY_CONTEXT_OPTIONS};
use super::schema_volume::{LOCAL_OBJECT_REFERENCE, VOLUME};

pub static SYSCTL: Msg = Msg { name: "Sysctl", fields: &[ptr(1, "name", Str), ptr(2, "value", Str)] };

pub static POD_SECURITY_CONTEXT: Msg = Msg {
    name: "PodSecurityContext",
    fields: &[
        ptr(1, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        ptr(2, "runAsUser", Int),
        ptr(3, "runAsNonRoot", Bool),
        list(4, "supplementalGroups", Int),
        ptr(5, "fsGroup", Int),
        ptr(6, "runAsGroup", Int),
        list(7, "sysctls", Msg(&SYSCTL)),
        ptr(8, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        ptr(9, "fsGroupChangePolicy", Str),
        ptr(10, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        ptr(11, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
        ptr(12, "supplementalGroupsPolicy", Str),
        ptr(13, "seLinuxChangePolicy", Str),
    ],
};

pub static NODE_SELECTOR_REQUIREMENT: Msg =
    Msg { name: "NodeSelectorRequirement", fields: &[ptr(1, "key", Str), ptr(2, "operator", Str), list(3, "values", Str)] };

pub static NODE_SELECTOR_TERM: Msg = Msg {
    name: "NodeSelectorTerm",
    fields: &[list(1, "matchExpressions", Msg(&NODE_SELECTOR_REQUIREMENT)), list(2, "matchFields", Msg(&NODE_SELECTOR_REQUIREMENT))],
};

pub static NODE_SELECTOR: Msg = Msg { name: "NodeSelector", fields: &[list(1, "nodeSelectorTerms", Msg(&NODE_SELECTOR_TERM))] };

pub static PREFERRED_SCHEDULING_TERM: Msg =
    Msg { name: "PreferredSchedulingTerm", fields: &[ptr(1, "weight", Int), ptr(2, "preference", Msg(&NODE_SELECTOR_TERM))] };

pub static NODE_AFFINITY: Msg = Msg {
    name: "NodeAffinity",
    fields: &[
        ptr(1, "requiredDuringSchedulingIgnoredDuringExecution", Msg(&NODE_SELECTOR)),
        list(2, "preferredDuringSchedulingIgnoredDuringExecution", Msg(&PREFERRED_SCHEDULING_TERM)),
    ],
};

pub static POD_AFFINITY_TERM: Msg = Msg {
    name: "PodAffinityTerm",
    fields: &[
        ptr(1, "labelSelector", Msg(&LABEL_SELECTOR)),
        list(2, "namespaces", Str),
        ptr(3, "topologyKey", Str),
        ptr(4, "namespaceSelector", Msg(&LABEL_SELECTOR)),
        list(5, "matchLabelKeys", Str),
        list(6, "mismatchLabelKeys", Str),
    ],
};

pub static WEIGHTED_POD_AFFINITY_TERM: Msg =
    Msg { name: "WeightedPodAffinityTerm", fields: &[ptr(1, "weight", Int), ptr(2, "podAffinityTerm", Msg(&POD_AFFINITY_TERM))] };

pub static POD_AFFINITY: Msg = Msg {
    name: "PodAffinity",
    fields: &[
        list(1, "requiredDuringSchedulingIgnoredDuringExecution", Msg(&POD_AFFINITY_TERM)),
        list(2, "preferredDuringSchedulingIgnoredDuringExecution", Msg(&WEIGHTED_POD_AFFINITY_TERM)),
    ],
};

pub static POD_ANTI_AFFINITY: Msg = Msg {
    name: "PodAntiAffinity",
    fields: &[
        list(1, "requiredDuringSchedulingIgnoredDuringExecution", Msg(&POD_AFFINITY_TERM)),
        list(2, "preferredDuringSchedulingIgnoredDuringExecution", Msg(&WEIGHTED_POD_AFFINITY_TERM)),
    ],
};

pub static AFFINITY: Msg = Msg {
    name: "Affinity",
    fields: &[ptr(1, "nodeAffinity", Msg(&NODE_AFFINITY)), ptr(2, "podAffinity", Msg(&POD_AFFINITY)), ptr(3, "podAntiAffinity", Msg(&POD_ANTI_AFFINITY))],
};

pub static TOLERATION: Msg =
    Msg { name: "Toleration", fields: &[f(1, "key", Str), f(2, "operator", Str), f(3, "value", Str), f(4, "effect", Str), ptr(5, "tolerationSeconds", Int)] };

pub static HOST_ALIAS: Msg = Msg { name: "HostAlias", fields: &[ptr(1, "ip", Str), list(2, "hostnames", Str)] };

pub static POD_DNS_CONFIG_OPTION: Msg = Msg { name: "PodDNSConfigOption", fields: &[f(1, "name", Str), ptr(2, "value", Str)] };

pub static POD_DNS_CONFIG: Msg =
    Msg { name: "PodDNSConfig", fields: &[list(1, "nameservers", Str), list(2, "searches", Str), list(3, "options", Msg(&POD_DNS_CONFIG_OPTION))] };

pub static POD_READINESS_GATE: Msg = Msg { name: "PodReadinessGate", fields: &[ptr(1, "conditionType", Str)] };

pub static TOPOLOGY_SPREAD_CONSTRAINT: Msg = Msg {
    name: "TopologySpreadConstraint",
    fields: &[
        ptr(1, "maxSkew", Int),
        ptr(2, "topologyKey", Str),
        ptr(3, "whenUnsatisfiable", Str),
        ptr(4, "labelSelector", Msg(&LABEL_SELECTOR)),
        ptr(5, "minDomains", Int),
        ptr(6, "nodeAffinityPolicy", Str),
        ptr(7, "nodeTaintsPolicy", Str),
        list(8, "matchLabelKeys", Str),
    ],
};

pub static POD_OS: Msg = Msg { name: "PodOS", fields: &[ptr(1, "name", Str)] };

pub static POD_SCHEDULING_GATE: Msg = Msg { name: "PodSchedulingGate", fields: &[ptr(1, "name", Str)] };

pub static POD_SPEC: Msg = Msg {
    name: "PodSpec",
    fields: &[
        list(1, "volumes", Msg(&VOLUME)),
        list(2, "containers", Msg(&CONTAINER)),
        f(3, "restartPolicy", Str),
        ptr(4, "terminationGracePeriodSeconds", Int),
        ptr(5, "activeDeadlineSeconds", Int),
        f(6, "dnsPolicy", Str),
        f(7, "nodeSelector", MapStr),
        f(8, "serviceAccountName", Str),
        f(9, "serviceAccount", Str),
        f(10, "nodeName", Str),
        f(11, "hostNetwork", Bool),
        f(12, "hostPID", Bool),
        f(13, "hostIPC", Bool),
        ptr(14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
        list(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        f(16, "hostname", Str),
        f(17, "subdomain", Str),
        ptr(18, "affinity", Msg(&AFFINITY)),
        f(19, "schedulerName", Str),
        list(20, "initContainers", Msg(&CONTAINER)),
        ptr(21, "automountServiceAccountToken", Bool),
        list(22, "tolerations", Msg(&TOLERATION)),
        list(23, "hostAliases", Msg(&HOST_ALIAS)),
        f(24, "priorityClassName", Str),
        ptr(25, "priority", Int),
        ptr(26, "dnsConfig", Msg(&POD_DNS_CONFIG)),
        ptr(27, "shareProcessNamespace", Bool),
        list(28, "readinessGates", Msg(&POD_READINESS_GATE)),
        ptr(29, "runtimeClassName", Str),
        ptr(30, "enableServiceLinks", Bool),
        ptr(31, "preemptionPolicy", Str),
        f(32, "overhead", MapQuantity),
        list(33, "topologySpreadConstraints", Msg(&TOPOLOGY_SPREAD_CONSTRAINT)),
        // skipped 34 ephemeralContainers: EphemeralContainer
        ptr(35, "setHostnameAsFQDN", Bool),
        ptr(36, "os", Msg(&POD_OS)),
        ptr(37, "hostUsers", Bool),
        list(38, "schedulingGates", Msg(&POD_SCHEDULING_GATE)),
        // skipped 39 resourceClaims: PodResourceClaim
        ptr(40, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        ptr(41, "hostnameOverride", Str),
        // skipped 43 schedulingGroup: PodSchedulingGroup
        // skipped 44 evictionResponders: EvictionResponder
    ],
};

pub static POD_TEMPLATE_SPEC: Msg = Msg { name: "PodTemplateSpec", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&POD_SPEC))] };

pub static POD_CONDITION: Msg = Msg {
    name: "PodCondition",
    fields: &[
        ptr(1, "type", Str),
        ptr(2, "status", Str),
        f(3, "lastProbeTime", Time),
        f(4, "lastTransitionTime", Time),
        f(5, "reason", Str),
        f(6, "message", Str),
        f(7, "observedGeneration", Int),
    ],
};

pub static CONTAINER_STATE_WAITING: Msg = Msg { name: "ContainerStateWaiting", fields: &[f(1, "reason", Str), f(2, "message", Str)] };

pub static CONTAINER_STATE_RUNNING: Msg = Msg { name: "ContainerStateRunning", fields: &[f(1, "startedAt", Time)] };

pub static CONTAINER_STATE_TERMINATED: Msg = Msg {
    name: "ContainerStateTerminated",
    fields: &[
        ptr(1, "exitCode", Int),
        f(2, "signal", Int),
        f(3, "reason", Str),
        f(4, "message", Str),
        f(5, "startedAt", Time),
        f(6, "finishedAt", Time),
        f(7, "containerID", Str),
    ],
};

pub static CONTAINER_STATE: Msg = Msg {
    name: "ContainerState",
    fields: &[
        ptr(1, "waiting", Msg(&CONTAINER_STATE_WAITING)),
        ptr(2, "running", Msg(&CONTAINER_STATE_RUNNING)),
        ptr(3, "terminated", Msg(&CONTAINER_STATE_TERMINATED)),
    ],
};

pub static VOLUME_MOUNT_STATUS: Msg =
    Msg { name: "VolumeMountStatus", fields: &[ptr(1, "name", Str), ptr(2, "mountPath", Str), f(3, "readOnly", Bool), ptr(4, "recursiveReadOnly", Str)] };

pub static LINUX_CONTAINER_USER: Msg =
    Msg { name: "LinuxContainerUser", fields: &[ptr(1, "uid", Int), ptr(2, "gid", Int), list(3, "supplementalGroups", Int)] };

pub static CONTAINER_USER: Msg = Msg { name: "ContainerUser", fields: &[ptr(1, "linux", Msg(&LINUX_CONTAINER_USER))] };

pub static CONTAINER_STATUS: Msg = Msg {
    name: "ContainerStatus",
    fields: &[
        ptr(1, "name", Str),
        f(2, "state", Msg(&CONTAINER_STATE)),
        f(3, "lastState", Msg(&CONTAINER_STATE)),
        ptr(4, "ready", Bool),
        ptr(5, "restartCount", Int),
        ptr(6, "image", Str),
        ptr(7, "imageID", Str),
        f(8, "containerID", Str),
        ptr(9, "started", Bool),
        f(10, "allocatedResources", MapQuantity),
        ptr(11, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        list(12, "volumeMounts", Msg(&VOLUME_MOUNT_STATUS)),
        ptr(13, "user", Msg(&CONTAINER_USER)),
        // skipped 14 allocatedResourcesStatus: ResourceStatus
        ptr(15, "stopSignal", Str),
    ],
};

pub static POD_IP: Msg = Msg { name: "PodIP", fields: &[ptr(1, "ip", Str)] };

pub static HOST_IP: Msg = Msg { name: "HostIP", fields: &[ptr(1, "ip", Str)] };

pub static POD_STATUS: Msg = Msg {
    name: "PodStatus",
    fields: &[
        f(1, "phase", Str),
        list(2, "conditions", Msg(&POD_CONDITION)),
        f(3, "message", Str),
        f(4, "reason", Str),
        f(5, "hostIP", Str),
        f(6, "podIP", Str),
        ptr(7, "startTime", Time),
        list(8, "containerStatuses", Msg(&CONTAINER_STATUS)),
        f(9, "qosClass", Str),
        list(10, "initContainerStatuses", Msg(&CONTAINER_STATUS)),
        f(11, "nominatedNodeName", Str),
        list(12, "podIPs", Msg(&POD_IP)),
        list(13, "ephemeralContainerStatuses", Msg(&CONTAINER_STATUS)),
        f(14, "resize", Str),
        // skipped 15 resourceClaimStatuses: PodResourceClaimStatus
        list(16, "hostIPs", Msg(&HOST_IP)),
        f(17, "observedGeneration", Int),
        // skipped 18 extendedResourceClaimStatus: PodExtendedResourceClaimStatus
        f(19, "allocatedResources", MapQuantity),
        ptr(20, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        // skipped 21 nodeAllocatableResourceClaimStatuses: NodeAllocatableResourceClaimStatus
        // skipped 22 volumeHealth: PodVolumeHealth
    ],
};

pub static POD: Msg = Msg { name: "Pod", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&POD_SPEC)), f(3, "status", Msg(&POD_STATUS))] };
