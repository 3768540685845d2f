//! What Edged reads of a Pod (the subset hive runs): containers with image,
//! command, args, workingDir, env (values, configMapKeyRef, secretKeyRef),
//! envFrom, volumeMounts; volumes from ConfigMap, Secret, hostPath,
//! emptyDir; restartPolicy, hostNetwork, terminationGracePeriodSeconds —
//! plus a hash of each container's spec, kept in the runtime's labels so a
//! changed spec means a new container.
//!
//! Owns: parsing and hashing. Must not do I/O.

use serde_json::Value;

use crate::kube::items;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Env {
    Value(String, String),
    ConfigMap { name: String, object: String, key: String },
    Secret { name: String, object: String, key: String },
    AllOfConfigMap(String),
    AllOfSecret(String),
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
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Volume {
    ConfigMap(String),
    Secret(String),
    HostPath(String),
    EmptyDir,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub host_network: bool,
    pub restart: Restart,
    pub grace_s: i64,
    pub containers: Vec<Container>,
    pub volumes: Vec<(String, Volume)>,
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
        let cname = s(c, "/name");
        let image = s(c, "/image");
        if cname.is_empty() || image.is_empty() {
            return Err(format!("spec.containers[{i}]: name and image are required"));
        }
        file_safe(&format!("spec.containers[{i}].name"), &cname)?;
        let mut env = Vec::new();
        for e in items(c, "/env") {
            let n = s(e, "/name");
            if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
                env.push(Env::ConfigMap { name: n, object: s(r, "/name"), key: s(r, "/key") });
            } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                env.push(Env::Secret { name: n, object: s(r, "/name"), key: s(r, "/key") });
            } else {
                env.push(Env::Value(n, s(e, "/value")));
            }
        }
        for e in items(c, "/envFrom") {
            if let Some(n) = e.pointer("/configMapRef/name").and_then(Value::as_str) {
                env.push(Env::AllOfConfigMap(n.to_string()));
            }
            if let Some(n) = e.pointer("/secretRef/name").and_then(Value::as_str) {
                env.push(Env::AllOfSecret(n.to_string()));
            }
        }
        let mounts = items(c, "/volumeMounts").map(|m| (s(m, "/name"), s(m, "/mountPath"), m["readOnly"].as_bool().unwrap_or(false))).collect();
        containers.push(Container {
            name: cname,
            image,
            command: strings(c, "/command"),
            args: strings(c, "/args"),
            working_dir: s(c, "/workingDir"),
            env,
            mounts,
            hash: hash(serde_json::to_string(c).unwrap_or_default().as_bytes()),
        });
    }
    if containers.is_empty() {
        return Err("spec.containers: a pod needs at least one container".into());
    }
    let mut volumes = Vec::new();
    for vol in items(v, "/spec/volumes") {
        let vname = s(vol, "/name");
        file_safe("spec.volumes[].name", &vname)?;
        let kind = if let Some(n) = vol.pointer("/configMap/name").and_then(Value::as_str) {
            Volume::ConfigMap(n.to_string())
        } else if let Some(n) = vol.pointer("/secret/secretName").and_then(Value::as_str) {
            Volume::Secret(n.to_string())
        } else if let Some(p) = vol.pointer("/hostPath/path").and_then(Value::as_str) {
            Volume::HostPath(p.to_string())
        } else if vol.get("emptyDir").is_some() {
            Volume::EmptyDir
        } else {
            return Err(format!("spec.volumes `{vname}`: only configMap, secret, hostPath and emptyDir are supported"));
        };
        volumes.push((vname, kind));
    }
    for c in &containers {
        if let Some((m, _, _)) = c.mounts.iter().find(|(m, _, _)| !volumes.iter().any(|(n, _)| n == m)) {
            return Err(format!("container {}: volumeMount `{m}` names no volume of the pod", c.name));
        }
    }
    Ok(Pod {
        uid,
        namespace,
        name,
        host_network: v.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false),
        restart,
        grace_s: v.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30).clamp(0, 3600),
        containers,
        volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_is_read_with_its_env_mounts_and_volumes() {
        let p = parse(&json!({"metadata": {"name": "web", "namespace": "prod", "uid": "u1"}, "spec": {"hostNetwork": true, "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh"], "args": ["-c", "x"],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
                "envFrom": [{"secretRef": {"name": "s"}}], "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf", "readOnly": true}]}],
            "volumes": [{"name": "conf", "configMap": {"name": "cm"}}, {"name": "scratch", "emptyDir": {}}]}}))
        .unwrap();
        assert_eq!((p.uid.as_str(), p.namespace.as_str(), p.host_network, p.restart, p.grace_s), ("u1", "prod", true, Restart::OnFailure, 2));
        let c = &p.containers[0];
        assert_eq!(c.env[1], Env::ConfigMap { name: "B".into(), object: "cm".into(), key: "k".into() });
        assert_eq!(c.env[2], Env::AllOfSecret("s".into()));
        assert_eq!(c.mounts, vec![("conf".into(), "/etc/conf".into(), true)]);
        assert_eq!(p.volumes[1], ("scratch".into(), Volume::EmptyDir));
        assert_eq!(c.hash.len(), 16);
    }

    #[test]
    fn bad_pods_are_refused_with_the_field() {
        for (pod, want) in [
            (json!({"metadata": {"name": "a"}, "spec": {"containers": []}}), "at least one container"),
            (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]}}), "spec.containers[0]"),
            (json!({"metadata": {"name": "a"}, "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "i"}]}}), "restartPolicy"),
            (
                json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}]}}),
                "names no volume",
            ),
            (
                json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "n", "nfs": {}}]}}),
                "only configMap",
            ),
            (json!({"metadata": {"name": "a", "uid": "../../etc"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}), "metadata.uid"),
            (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "../x", "image": "i"}]}}), "spec.containers[0].name"),
            (
                json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "..", "emptyDir": {}}]}}),
                "spec.volumes",
            ),
        ] {
            let e = parse(&pod).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
