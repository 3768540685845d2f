//! Protobuf tables of a container (k8s.io/api core/v1 generated.proto):
//! image, command, env, resources, mounts, probes, lifecycle, security
//! context.
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, inline, list, ptr, Msg};
use super::schema_volume::{LOCAL_OBJECT_REFERENCE, OBJECT_FIELD_SELECTOR, RESOURCE_FIELD_SELECTOR};

pub static CONTAINER_PORT: Msg = Msg {
    name: "ContainerPort",
    fields: &[f(1, "name", Str), f(2, "hostPort", Int), ptr(3, "containerPort", Int), f(4, "protocol", Str), f(5, "hostIP", Str)],
};

pub static CONFIG_MAP_KEY_SELECTOR: Msg =
    Msg { name: "ConfigMapKeySelector", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), ptr(2, "key", Str), ptr(3, "optional", Bool)] };

pub static SECRET_KEY_SELECTOR: Msg =
    Msg { name: "SecretKeySelector", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), ptr(2, "key", Str), ptr(3, "optional", Bool)] };

pub static FILE_KEY_SELECTOR: Msg =
    Msg { name: "FileKeySelector", fields: &[ptr(1, "volumeName", Str), ptr(2, "path", Str), ptr(3, "key", Str), ptr(4, "optional", Bool)] };

pub static ENV_VAR_SOURCE: Msg = Msg {
    name: "EnvVarSource",
    fields: &[
        ptr(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        ptr(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        ptr(3, "configMapKeyRef", Msg(&CONFIG_MAP_KEY_SELECTOR)),
        ptr(4, "secretKeyRef", Msg(&SECRET_KEY_SELECTOR)),
        ptr(5, "fileKeyRef", Msg(&FILE_KEY_SELECTOR)),
    ],
};

pub static ENV_VAR: Msg = Msg { name: "EnvVar", fields: &[ptr(1, "name", Str), f(2, "value", Str), ptr(3, "valueFrom", Msg(&ENV_VAR_SOURCE))] };

pub static RESOURCE_REQUIREMENTS: Msg = Msg {
    name: "ResourceRequirements",
    fields: &[
        f(1, "limits", MapQuantity),
        f(2, "requests", MapQuantity),
        // skipped 3 claims: ResourceClaim
    ],
};

pub static VOLUME_MOUNT: Msg = Msg {
    name: "VolumeMount",
    fields: &[
        ptr(1, "name", Str),
        f(2, "readOnly", Bool),
        ptr(3, "mountPath", Str),
        f(4, "subPath", Str),
        ptr(5, "mountPropagation", Str),
        f(6, "subPathExpr", Str),
        ptr(7, "recursiveReadOnly", Str),
    ],
};

pub static EXEC_ACTION: Msg = Msg { name: "ExecAction", fields: &[list(1, "command", Str)] };

pub static HTTP_HEADER: Msg = Msg { name: "HTTPHeader", fields: &[ptr(1, "name", Str), ptr(2, "value", Str)] };

pub static HTTP_GET_ACTION: Msg = Msg {
    name: "HTTPGetAction",
    fields: &[f(1, "path", Str), ptr(2, "port", IntOrStr), f(3, "host", Str), f(4, "scheme", Str), list(5, "httpHeaders", Msg(&HTTP_HEADER))],
};

pub static TCP_SOCKET_ACTION: Msg = Msg { name: "TCPSocketAction", fields: &[ptr(1, "port", IntOrStr), f(2, "host", Str)] };

pub static GRPC_ACTION: Msg = Msg { name: "GRPCAction", fields: &[ptr(1, "port", Int), ptr(2, "service", Str)] };

pub static PROBE_HANDLER: Msg = Msg {
    name: "ProbeHandler",
    fields: &[
        ptr(1, "exec", Msg(&EXEC_ACTION)),
        ptr(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        ptr(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        ptr(4, "grpc", Msg(&GRPC_ACTION)),
    ],
};

pub static PROBE: Msg = Msg {
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

pub static SLEEP_ACTION: Msg = Msg { name: "SleepAction", fields: &[ptr(1, "seconds", Int)] };

pub static LIFECYCLE_HANDLER: Msg = Msg {
    name: "LifecycleHandler",
    fields: &[
        ptr(1, "exec", Msg(&EXEC_ACTION)),
        ptr(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        ptr(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        ptr(4, "sleep", Msg(&SLEEP_ACTION)),
    ],
};

pub static LIFECYCLE: Msg =
    Msg { name: "Lifecycle", fields: &[ptr(1, "postStart", Msg(&LIFECYCLE_HANDLER)), ptr(2, "preStop", Msg(&LIFECYCLE_HANDLER)), ptr(3, "stopSignal", Str)] };

pub static CAPABILITIES: Msg = Msg { name: "Capabilities", fields: &[list(1, "add", Str), list(2, "drop", Str)] };

pub static SE_LINUX_OPTIONS: Msg = Msg { name: "SELinuxOptions", fields: &[f(1, "user", Str), f(2, "role", Str), f(3, "type", Str), f(4, "level", Str)] };

pub static WINDOWS_SECURITY_CONTEXT_OPTIONS: Msg = Msg {
    name: "WindowsSecurityContextOptions",
    fields: &[ptr(1, "gmsaCredentialSpecName", Str), ptr(2, "gmsaCredentialSpec", Str), ptr(3, "runAsUserName", Str), ptr(4, "hostProcess", Bool)],
};

pub static SECCOMP_PROFILE: Msg = Msg { name: "SeccompProfile", fields: &[ptr(1, "type", Str), ptr(2, "localhostProfile", Str)] };

pub static APP_ARMOR_PROFILE: Msg = Msg { name: "AppArmorProfile", fields: &[ptr(1, "type", Str), ptr(2, "localhostProfile", Str)] };

pub static SECURITY_CONTEXT: Msg = Msg {
    name: "SecurityContext",
    fields: &[
        ptr(1, "capabilities", Msg(&CAPABILITIES)),
        ptr(2, "privileged", Bool),
        ptr(3, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        ptr(4, "runAsUser", Int),
        ptr(5, "runAsNonRoot", Bool),
        ptr(6, "readOnlyRootFilesystem", Bool),
        ptr(7, "allowPrivilegeEscalation", Bool),
        ptr(8, "runAsGroup", Int),
        ptr(9, "procMount", Str),
        ptr(10, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        ptr(11, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        ptr(12, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
    ],
};

pub static CONFIG_MAP_ENV_SOURCE: Msg = Msg { name: "ConfigMapEnvSource", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), ptr(2, "optional", Bool)] };

pub static SECRET_ENV_SOURCE: Msg = Msg { name: "SecretEnvSource", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), ptr(2, "optional", Bool)] };

pub static ENV_FROM_SOURCE: Msg = Msg {
    name: "EnvFromSource",
    fields: &[f(1, "prefix", Str), ptr(2, "configMapRef", Msg(&CONFIG_MAP_ENV_SOURCE)), ptr(3, "secretRef", Msg(&SECRET_ENV_SOURCE))],
};

pub static VOLUME_DEVICE: Msg = Msg { name: "VolumeDevice", fields: &[ptr(1, "name", Str), ptr(2, "devicePath", Str)] };

pub static CONTAINER_RESIZE_POLICY: Msg = Msg { name: "ContainerResizePolicy", fields: &[ptr(1, "resourceName", Str), ptr(2, "restartPolicy", Str)] };

pub static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Msg =
    Msg { name: "ContainerRestartRuleOnExitCodes", fields: &[f(1, "operator", Str), list(2, "values", Int)] };

pub static CONTAINER_RESTART_RULE: Msg =
    Msg { name: "ContainerRestartRule", fields: &[f(1, "action", Str), ptr(2, "exitCodes", Msg(&CONTAINER_RESTART_RULE_ON_EXIT_CODES))] };

pub static CONTAINER: Msg = Msg {
    name: "Container",
    fields: &[
        ptr(1, "name", Str),
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
        ptr(12, "lifecycle", Msg(&LIFECYCLE)),
        f(13, "terminationMessagePath", Str),
        f(14, "imagePullPolicy", Str),
        ptr(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        f(16, "stdin", Bool),
        f(17, "stdinOnce", Bool),
        f(18, "tty", Bool),
        list(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        f(20, "terminationMessagePolicy", Str),
        list(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        ptr(22, "startupProbe", Msg(&PROBE)),
        list(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
        ptr(24, "restartPolicy", Str),
        list(25, "restartPolicyRules", Msg(&CONTAINER_RESTART_RULE)),
    ],
};
