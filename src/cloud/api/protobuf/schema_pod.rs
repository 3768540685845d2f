//! Protobuf tables of a pod template (k8s.io/api core/v1 generated.proto,
//! v0.26 numbering): PodTemplateSpec, PodSpec, Container and what they
//! hold — what `kubectl create deployment` sends and what manifests
//! commonly carry. A PodSpec field without a table here (affinity,
//! dnsConfig, ephemeral containers, …) is refused by number, never dropped.
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, inline, list, ptr, Msg, OBJECT_META};

pub static LOCAL_OBJECT_REFERENCE: Msg = Msg { name: "LocalObjectReference", fields: &[f(1, "name", Str)] };

static CONTAINER_PORT: Msg =
    Msg { name: "ContainerPort", fields: &[f(1, "name", Str), f(2, "hostPort", Int), f(3, "containerPort", Int), f(4, "protocol", Str), f(5, "hostIP", Str)] };

static OBJECT_FIELD_SELECTOR: Msg = Msg { name: "ObjectFieldSelector", fields: &[f(1, "apiVersion", Str), f(2, "fieldPath", Str)] };

static KEY_SELECTOR: Msg = Msg { name: "KeySelector", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), f(2, "key", Str), ptr(3, "optional", Bool)] };

static ENV_VAR_SOURCE: Msg = Msg {
    name: "EnvVarSource",
    fields: &[ptr(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)), ptr(3, "configMapKeyRef", Msg(&KEY_SELECTOR)), ptr(4, "secretKeyRef", Msg(&KEY_SELECTOR))],
};

static ENV_VAR: Msg = Msg { name: "EnvVar", fields: &[f(1, "name", Str), f(2, "value", Str), ptr(3, "valueFrom", Msg(&ENV_VAR_SOURCE))] };

static RESOURCE_REQUIREMENTS: Msg = Msg { name: "ResourceRequirements", fields: &[f(1, "limits", MapQuantity), f(2, "requests", MapQuantity)] };

static VOLUME_MOUNT: Msg = Msg {
    name: "VolumeMount",
    fields: &[
        f(1, "name", Str),
        f(2, "readOnly", Bool),
        f(3, "mountPath", Str),
        f(4, "subPath", Str),
        ptr(5, "mountPropagation", Str),
        f(6, "subPathExpr", Str),
    ],
};

static EXEC_ACTION: Msg = Msg { name: "ExecAction", fields: &[list(1, "command", Str)] };

static HTTP_HEADER: Msg = Msg { name: "HTTPHeader", fields: &[f(1, "name", Str), f(2, "value", Str)] };

static HTTP_GET_ACTION: Msg = Msg {
    name: "HTTPGetAction",
    fields: &[f(1, "path", Str), f(2, "port", IntOrStr), f(3, "host", Str), f(4, "scheme", Str), list(5, "httpHeaders", Msg(&HTTP_HEADER))],
};

static TCP_SOCKET_ACTION: Msg = Msg { name: "TCPSocketAction", fields: &[f(1, "port", IntOrStr), f(2, "host", Str)] };

static PROBE_HANDLER: Msg = Msg {
    name: "ProbeHandler",
    fields: &[ptr(1, "exec", Msg(&EXEC_ACTION)), ptr(2, "httpGet", Msg(&HTTP_GET_ACTION)), ptr(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION))],
};

static PROBE: Msg = Msg {
    name: "Probe",
    fields: &[
        inline(1, &PROBE_HANDLER),
        f(2, "initialDelaySeconds", Int),
        f(3, "timeoutSeconds", Int),
        f(4, "periodSeconds", Int),
        f(5, "successThreshold", Int),
        f(6, "failureThreshold", Int),
        ptr(7, "terminationGracePeriodSeconds", Int),
    ],
};

static SECURITY_CONTEXT: Msg = Msg {
    name: "SecurityContext",
    fields: &[
        ptr(2, "privileged", Bool),
        ptr(4, "runAsUser", Int),
        ptr(5, "runAsNonRoot", Bool),
        ptr(6, "readOnlyRootFilesystem", Bool),
        ptr(7, "allowPrivilegeEscalation", Bool),
        ptr(8, "runAsGroup", Int),
    ],
};

pub static CONTAINER: Msg = Msg {
    name: "Container",
    fields: &[
        f(1, "name", Str),
        f(2, "image", Str),
        list(3, "command", Str),
        list(4, "args", Str),
        f(5, "workingDir", Str),
        list(6, "ports", Msg(&CONTAINER_PORT)),
        list(7, "env", Msg(&ENV_VAR)),
        f(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        list(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        ptr(10, "livenessProbe", Msg(&PROBE)),
        ptr(11, "readinessProbe", Msg(&PROBE)),
        f(13, "terminationMessagePath", Str),
        f(14, "imagePullPolicy", Str),
        ptr(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        f(16, "stdin", Bool),
        f(17, "stdinOnce", Bool),
        f(18, "tty", Bool),
        f(20, "terminationMessagePolicy", Str),
        ptr(22, "startupProbe", Msg(&PROBE)),
    ],
};

static KEY_TO_PATH: Msg = Msg { name: "KeyToPath", fields: &[f(1, "key", Str), f(2, "path", Str), ptr(3, "mode", Int)] };

static HOST_PATH: Msg = Msg { name: "HostPathVolumeSource", fields: &[f(1, "path", Str), ptr(2, "type", Str)] };

static EMPTY_DIR: Msg = Msg { name: "EmptyDirVolumeSource", fields: &[f(1, "medium", Str), ptr(2, "sizeLimit", Quantity)] };

static SECRET_VOLUME: Msg = Msg {
    name: "SecretVolumeSource",
    fields: &[f(1, "secretName", Str), list(2, "items", Msg(&KEY_TO_PATH)), ptr(3, "defaultMode", Int), ptr(4, "optional", Bool)],
};

static CONFIG_MAP_VOLUME: Msg = Msg {
    name: "ConfigMapVolumeSource",
    fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), list(2, "items", Msg(&KEY_TO_PATH)), ptr(3, "defaultMode", Int), ptr(4, "optional", Bool)],
};

static VOLUME_SOURCE: Msg = Msg {
    name: "VolumeSource",
    fields: &[
        ptr(1, "hostPath", Msg(&HOST_PATH)),
        ptr(2, "emptyDir", Msg(&EMPTY_DIR)),
        ptr(6, "secret", Msg(&SECRET_VOLUME)),
        ptr(19, "configMap", Msg(&CONFIG_MAP_VOLUME)),
    ],
};

static VOLUME: Msg = Msg { name: "Volume", fields: &[f(1, "name", Str), inline(2, &VOLUME_SOURCE)] };

static TOLERATION: Msg =
    Msg { name: "Toleration", fields: &[f(1, "key", Str), f(2, "operator", Str), f(3, "value", Str), f(4, "effect", Str), ptr(5, "tolerationSeconds", Int)] };

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
        list(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        f(16, "hostname", Str),
        f(17, "subdomain", Str),
        f(19, "schedulerName", Str),
        list(20, "initContainers", Msg(&CONTAINER)),
        ptr(21, "automountServiceAccountToken", Bool),
        list(22, "tolerations", Msg(&TOLERATION)),
        f(24, "priorityClassName", Str),
        ptr(25, "priority", Int),
        ptr(27, "shareProcessNamespace", Bool),
        ptr(29, "runtimeClassName", Str),
        ptr(30, "enableServiceLinks", Bool),
        ptr(31, "preemptionPolicy", Str),
        ptr(35, "setHostnameAsFQDN", Bool),
        ptr(37, "hostUsers", Bool),
    ],
};

pub static POD_TEMPLATE_SPEC: Msg = Msg { name: "PodTemplateSpec", fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&POD_SPEC))] };
