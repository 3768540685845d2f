//! What Edged reads of a Pod (the subset hive runs): containers with image,
//! command, args, workingDir, env (values, configMapKeyRef, secretKeyRef),
//! envFrom, volumeMounts; volumes from ConfigMap, Secret, hostPath,
//! emptyDir; restartPolicy, hostNetwork, hostPID, hostIPC,
//! shareProcessNamespace, terminationGracePeriodSeconds;
//! probes (probe.rs), lifecycle hooks (hooks.rs), resources (resources.rs),
//! imagePullPolicy (default by tag, as Kubernetes), imagePullSecrets,
//! initContainers, securityContext (security.rs) — plus a hash of each container's spec, kept in
//! the runtime's labels so a changed spec means a new container.
//!
//! Owns: parsing and hashing. Must not do I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cri::api::{NAMESPACE_CONTAINER, NAMESPACE_NODE, NAMESPACE_POD};
use super::probe::{self, Action, Kind, Probe};
use super::resources::{self, Resources};
use super::security::{self, Security};
use crate::kube::items;

/// imagePullPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    Always,
    IfNotPresent,
    Never,
}

/// Kubernetes' default: Always for `:latest` or no tag, else IfNotPresent.
fn default_pull(image: &str) -> Pull {
    if image.contains('@') {
        return Pull::IfNotPresent;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => Pull::Always,
        Some(_) => Pull::IfNotPresent,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Env {
    Value(String, String),
    ConfigMap {
        name: String,
        object: String,
        key: String,
    },
    Secret {
        name: String,
        object: String,
        key: String,
    },
    AllOfConfigMap(String),
    AllOfSecret(String),
    /// The downward API: a field of the pod (env.rs).
    Field {
        name: String,
        path: String,
    },
    /// The downward API: a container's request or limit (`container` "" = this one).
    Resource {
        name: String,
        container: String,
        resource: String,
        divisor: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub working_dir: String,
    pub env: Vec<Env>,
    /// (volume name, path in the container, read-only)
    pub mounts: Vec<(String, String, bool)>,
    /// subPath of each mount ("" = the whole volume), same order.
    pub sub_paths: Vec<String>,
    /// startup, liveness, readiness (Kind::ALL's order).
    pub probes: [Option<Probe>; 3],
    pub resources: Resources,
    pub pull: Pull,
    /// lifecycle.postStart and lifecycle.preStop (hooks.rs).
    pub post_start: Option<Action>,
    pub pre_stop: Option<Action>,
    /// What it runs as (security.rs).
    pub security: Security,
    pub hash: String,
}

/// A ConfigMap or Secret as files: which object, which keys as which
/// paths (`items`; none = every key by its name), file mode, optional.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    pub object: String,
    pub items: Vec<(String, String, Option<u32>)>,
    pub mode: u32,
    pub optional: bool,
}

/// A relative path inside a volume: no `..`, not absolute, not empty.
fn inside(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && p.split('/').all(|c| !c.is_empty() && c != ".." && c != ".")
}

/// A file mode (0 to 0777) at `at`, if set.
fn mode(v: Option<&Value>, at: &str) -> Result<Option<u32>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(m) => match m.as_u64() {
            Some(n) if n <= 0o777 => Ok(Some(n as u32)),
            _ => Err(format!("{at}: {m} is not a file mode (0 to 511, i.e. 0777)")),
        },
    }
}

fn projection(vol: &Value, field: &str, name_field: &str, at: &str) -> Result<Projection, String> {
    let p = &vol[field];
    let mut list = Vec::new();
    for (i, it) in items(p, "/items").enumerate() {
        let (key, path) = (s(it, "/key"), s(it, "/path"));
        if key.is_empty() || !inside(&path) {
            return Err(format!("{at}.{field}.items[{i}]: a key and a relative path without `..` are required"));
        }
        list.push((key, path, mode(it.get("mode"), &format!("{at}.{field}.items[{i}].mode"))?));
    }
    Ok(Projection {
        object: s(p, &format!("/{name_field}")),
        items: list,
        mode: mode(p.get("defaultMode"), &format!("{at}.{field}.defaultMode"))?.unwrap_or(0o644),
        optional: p["optional"].as_bool().unwrap_or(false),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Volume {
    ConfigMap(Projection),
    Secret(Projection),
    HostPath(String),
    EmptyDir,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub host_network: bool,
    /// CRI namespace modes for pid and ipc: hostPID / shareProcessNamespace, hostIPC.
    pub pid_mode: i32,
    pub ipc_mode: i32,
    pub restart: Restart,
    pub grace_s: i64,
    pub containers: Vec<Container>,
    /// Run in order, each to completion, before `containers` start.
    pub init_containers: Vec<Container>,
    /// What the downward API can name of the pod (env.rs), by field path.
    pub fields: BTreeMap<String, String>,
    /// Names of the Secrets with registry credentials (`imagePullSecrets`).
    pub pull_secrets: Vec<String>,
    pub volumes: Vec<(String, Volume)>,
}

impl Pod {
    /// The first privileged container, as `spec.containers[i]` / `spec.initContainers[i]`.
    pub fn privileged(&self) -> Option<String> {
        let at = |list: &[Container], field: &str| list.iter().position(|c| c.security.privileged).map(|i| format!("spec.{field}[{i}]"));
        at(&self.init_containers, "initContainers").or_else(|| at(&self.containers, "containers"))
    }
}

/// FNV-1a, 64 bits, as hex: stable across builds and architectures.
pub fn hash(bytes: &[u8]) -> String {
    format!("{:016x}", crate::kube::fnv64([bytes]))
}

fn s(v: &Value, p: &str) -> String {
    v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string()
}

fn strings(v: &Value, p: &str) -> Vec<String> {
    items(v, p).filter_map(Value::as_str).map(str::to_string).collect()
}

/// Names that become file names on the edge (uid, container and volume
/// names): letters, digits, `-`, `_`, `.`, at most 253, never `.`/`..`.
fn file_safe(what: &str, n: &str) -> Result<(), String> {
    let ok = !n.is_empty() && n.len() <= 253 && n != "." && n != ".." && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("{what} `{n}`: only letters, digits, '-', '_' and '.' are allowed"))
    }
}

/// One entry of `containers` or `initContainers`; `at` names it
/// (`spec.containers[0]`).
fn container(pod: &Value, c: &Value, at: &str) -> Result<Container, String> {
    let cname = s(c, "/name");
    let image = s(c, "/image");
    if cname.is_empty() || image.is_empty() {
        return Err(format!("{at}: name and image are required"));
    }
    file_safe(&format!("{at}.name"), &cname)?;
    let mut env = Vec::new();
    // envFrom first: `env` entries override what it brings (kubelet).
    for e in items(c, "/envFrom") {
        if let Some(n) = e.pointer("/configMapRef/name").and_then(Value::as_str) {
            env.push(Env::AllOfConfigMap(n.to_string()));
        }
        if let Some(n) = e.pointer("/secretRef/name").and_then(Value::as_str) {
            env.push(Env::AllOfSecret(n.to_string()));
        }
    }
    for (i, e) in items(c, "/env").enumerate() {
        let n = s(e, "/name");
        if let Some(r) = e.pointer("/valueFrom/fieldRef") {
            let path = s(r, "/fieldPath");
            super::env::check_field(&path, &format!("{at}.env[{i}].valueFrom.fieldRef"))?;
            env.push(Env::Field { name: n, path });
        } else if let Some(r) = e.pointer("/valueFrom/resourceFieldRef") {
            let resource = s(r, "/resource");
            super::env::check_resource(&resource, &format!("{at}.env[{i}].valueFrom.resourceFieldRef"))?;
            let divisor = match r.get("divisor") {
                Some(Value::String(d)) => d.clone(),
                Some(Value::Number(d)) => d.to_string(),
                _ => String::new(),
            };
            env.push(Env::Resource { name: n, container: s(r, "/containerName"), resource, divisor });
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            env.push(Env::ConfigMap { name: n, object: s(r, "/name"), key: s(r, "/key") });
        } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
            env.push(Env::Secret { name: n, object: s(r, "/name"), key: s(r, "/key") });
        } else {
            env.push(Env::Value(n, s(e, "/value")));
        }
    }
    let mounts = items(c, "/volumeMounts").map(|m| (s(m, "/name"), s(m, "/mountPath"), m["readOnly"].as_bool().unwrap_or(false))).collect();
    let mut sub_paths = Vec::new();
    for (i, m) in items(c, "/volumeMounts").enumerate() {
        let sub = s(m, "/subPath");
        if !sub.is_empty() && !inside(&sub) {
            return Err(format!("{at}.volumeMounts[{i}].subPath: `{sub}` must be a relative path without `..`"));
        }
        if m.get("subPathExpr").is_some_and(|x| !x.is_null()) {
            return Err(format!("{at}.volumeMounts[{i}].subPathExpr: not supported by this edge; use subPath"));
        }
        sub_paths.push(sub);
    }
    let ports: Vec<(String, u16)> =
        items(c, "/ports").filter_map(|p| Some((p.get("name")?.as_str()?.to_string(), u16::try_from(p.get("containerPort")?.as_u64()?).ok()?))).collect();
    let mut probes = [None, None, None];
    for (slot, kind) in probes.iter_mut().zip(Kind::ALL) {
        *slot = probe::parse(c, kind, at, &ports)?;
    }
    let pull = match c.get("imagePullPolicy").and_then(Value::as_str) {
        None | Some("") => default_pull(&image),
        Some("Always") => Pull::Always,
        Some("IfNotPresent") => Pull::IfNotPresent,
        Some("Never") => Pull::Never,
        Some(other) => return Err(format!("{at}.imagePullPolicy: `{other}` is not Always, IfNotPresent or Never")),
    };
    let mut hooks = [None, None];
    for (slot, name) in hooks.iter_mut().zip(["postStart", "preStop"]) {
        if let Some(h) = c.pointer(&format!("/lifecycle/{name}")).filter(|h| !h.is_null()) {
            *slot = Some(probe::handler(h, &format!("{at}.lifecycle.{name}"), &ports, &["exec", "httpGet", "sleep"])?);
        }
    }
    let [post_start, pre_stop] = hooks;
    Ok(Container {
        security: security::parse(pod, c, at)?,
        post_start,
        pre_stop,
        probes,
        resources: resources::parse(c, at)?,
        pull,
        name: cname,
        image,
        command: strings(c, "/command"),
        args: strings(c, "/args"),
        working_dir: s(c, "/workingDir"),
        env,
        mounts,
        sub_paths,
        hash: hash(serde_json::to_string(c).unwrap_or_default().as_bytes()),
    })
}

/// The pod, or why it cannot be run.
pub fn parse(v: &Value) -> Result<Pod, String> {
    let name = s(v, "/metadata/name");
    let namespace = match s(v, "/metadata/namespace") {
        n if n.is_empty() => "default".to_string(),
        n => n,
    };
    let uid = match s(v, "/metadata/uid") {
        u if u.is_empty() => format!("{namespace}-{name}"),
        u => u,
    };
    file_safe("metadata.uid", &uid)?;
    file_safe("metadata.namespace", &namespace)?;
    file_safe("metadata.name", &name)?;
    let restart = match v.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("Always") {
        "Always" => Restart::Always,
        "OnFailure" => Restart::OnFailure,
        "Never" => Restart::Never,
        other => return Err(format!("spec.restartPolicy: `{other}` is not Always, OnFailure or Never")),
    };
    let mut containers = Vec::new();
    for (i, c) in items(v, "/spec/containers").enumerate() {
        containers.push(container(v, c, &format!("spec.containers[{i}]"))?);
    }
    let mut init_containers = Vec::new();
    for (i, c) in items(v, "/spec/initContainers").enumerate() {
        let at = format!("spec.initContainers[{i}]");
        if c.get("restartPolicy").is_some_and(|r| !r.is_null()) {
            return Err(format!("{at}.restartPolicy: sidecar (restartable) init containers are not supported by this edge"));
        }
        let ic = container(v, c, &at)?;
        if let Some(kind) = Kind::ALL.into_iter().zip(&ic.probes).find_map(|(k, p)| p.as_ref().map(|_| k)) {
            return Err(format!("{at}.{}: must not be set for init containers", kind.field()));
        }
        if c.get("lifecycle").is_some_and(|l| !l.is_null()) {
            return Err(format!("{at}.lifecycle: must not be set for init containers"));
        }
        init_containers.push(ic);
    }
    let names: Vec<&str> = init_containers.iter().chain(&containers).map(|c| c.name.as_str()).collect();
    if let Some(dup) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(format!("spec: container name `{dup}` is used twice (containers and initContainers share one namespace)"));
    }
    if containers.is_empty() {
        return Err("spec.containers: a pod needs at least one container".into());
    }
    let mut volumes = Vec::new();
    for (i, vol) in items(v, "/spec/volumes").enumerate() {
        let vname = s(vol, "/name");
        file_safe("spec.volumes[].name", &vname)?;
        let at = format!("spec.volumes[{i}]");
        let kind = if vol.pointer("/configMap/name").and_then(Value::as_str).is_some() {
            Volume::ConfigMap(projection(vol, "configMap", "name", &at)?)
        } else if vol.pointer("/secret/secretName").and_then(Value::as_str).is_some() {
            Volume::Secret(projection(vol, "secret", "secretName", &at)?)
        } else if let Some(p) = vol.pointer("/hostPath/path").and_then(Value::as_str) {
            Volume::HostPath(p.to_string())
        } else if vol.get("emptyDir").is_some() {
            Volume::EmptyDir
        } else {
            return Err(format!("spec.volumes `{vname}`: only configMap, secret, hostPath and emptyDir are supported"));
        };
        volumes.push((vname, kind));
    }
    for c in init_containers.iter().chain(&containers) {
        if let Some((m, _, _)) = c.mounts.iter().find(|(m, _, _)| !volumes.iter().any(|(n, _)| n == m)) {
            return Err(format!("container {}: volumeMount `{m}` names no volume of the pod", c.name));
        }
    }
    // A resourceFieldRef names a container of this pod.
    for c in init_containers.iter().chain(&containers) {
        for e in &c.env {
            if let Env::Resource { container, .. } = e {
                if !container.is_empty() && !names.contains(&container.as_str()) {
                    return Err(format!("container {}: resourceFieldRef names container `{container}`, not in the pod", c.name));
                }
            }
        }
    }
    let mut fields = BTreeMap::from([
        ("metadata.name".to_string(), name.clone()),
        ("metadata.namespace".to_string(), namespace.clone()),
        ("metadata.uid".to_string(), uid.clone()),
        ("spec.nodeName".to_string(), s(v, "/spec/nodeName")),
        ("spec.serviceAccountName".to_string(), Some(s(v, "/spec/serviceAccountName")).filter(|a| !a.is_empty()).unwrap_or_else(|| "default".into())),
    ]);
    for (what, map) in [("labels", "/metadata/labels"), ("annotations", "/metadata/annotations")] {
        for (k, val) in v.pointer(map).and_then(Value::as_object).into_iter().flatten() {
            fields.insert(format!("metadata.{what}['{k}']"), val.as_str().unwrap_or("").to_string());
        }
    }
    let flag = |p: &str| v.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    Ok(Pod {
        fields,
        uid,
        namespace,
        name,
        host_network: v.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false),
        pid_mode: match (flag("/spec/hostPID"), flag("/spec/shareProcessNamespace")) {
            (true, _) => NAMESPACE_NODE,
            (false, true) => NAMESPACE_POD,
            (false, false) => NAMESPACE_CONTAINER,
        },
        ipc_mode: if flag("/spec/hostIPC") { NAMESPACE_NODE } else { NAMESPACE_POD },
        restart,
        grace_s: v.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30).clamp(0, 3600),
        containers,
        init_containers,
        pull_secrets: items(v, "/spec/imagePullSecrets").filter_map(|r| r.get("name")?.as_str()).filter(|n| !n.is_empty()).map(str::to_string).collect(),
        volumes,
    })
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
