//! A container's environment and mounts, made real: values from the
//! ConfigMaps and Secrets in MetaManager's cache (so it works offline),
//! ConfigMap/Secret volumes written as files under
//! `<data_dir>/pods/<uid>/volumes/<volume>/`, emptyDir as a directory
//! there, hostPath passed through. A missing object or key is an error
//! naming it (the pod shows CreateContainerConfigError), never a crash.
//!
//! ConfigMap and Secret volumes are mounted read-only and their files are
//! renamed into place; a subPath must resolve inside its volume (checked
//! before and after it is made; a container racing a rename between the
//! check and the mount is not ruled out, as kubelet's fd-based mounts would).
//!
//! Owns: the files under the pod's volume directory. Must not talk to the
//! runtime.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use super::cri::api::{KeyValue, Mount};
use super::spec::{Container, Env, Pod, Projection, Volume};
use crate::core::Context;
use crate::core::Reply;
use crate::edge::names;
use std::os::unix::fs::PermissionsExt as _;

/// An object from MetaManager by cache key.
async fn get(ctx: &Context, key: &str) -> Result<Value, String> {
    let q = ctx.message(names::GROUP_META, key, "get", Vec::new());
    let r = ctx.request(crate::edge::names::METAMANAGER, q).await.map_err(|e| format!("{key}: {e}"))?;
    if let Some(why) = Reply::error_of(&r.content) {
        return Err(why);
    }
    serde_json::from_slice(&r.content).map_err(|e| format!("{key}: not JSON: {e}"))
}

/// key → value of a ConfigMap (`data`, `binaryData`) or a Secret (`data` base64, `stringData`).
pub(super) async fn entries(ctx: &Context, ns: &str, kind: &str, name: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let v = get(ctx, &format!("{ns}/{kind}/{name}")).await.map_err(|e| format!("{kind} {ns}/{name} is not available: {e}"))?;
    let mut out = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = if kind == "secret" { "stringData" } else { "data" };
    let coded = if kind == "secret" { "data" } else { "binaryData" };
    for (k, val) in v.get(plain).and_then(Value::as_object).into_iter().flatten() {
        out.push((k.clone(), val.as_str().unwrap_or("").as_bytes().to_vec()));
    }
    for (k, val) in v.get(coded).and_then(Value::as_object).into_iter().flatten() {
        let bytes = b64.decode(val.as_str().unwrap_or("")).map_err(|e| format!("{kind} {ns}/{name}: key {k} is not base64: {e}"))?;
        out.push((k.clone(), bytes));
    }
    Ok(out)
}

pub fn pod_dir(root: &Path, pod: &Pod) -> PathBuf {
    root.join(&pod.uid)
}

/// With `mode` (Kubernetes' defaultMode is 0644, so a container running as
/// any user reads it); on the host the pod's directory (0700) keeps other
/// users out. Written under a temporary name and renamed into place, so a
/// symlink at `path` is replaced, never followed.
fn write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    // No key can be named so (Kubernetes refuses keys starting with `..`).
    let tmp = path.with_file_name("..hive-tmp");
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Make directory `dir` (and its parents) with `mode` on each one made.
fn make_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while std::fs::symlink_metadata(d).is_err() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    std::fs::create_dir_all(dir)?;
    for m in missing {
        std::fs::set_permissions(&m, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// `sub` inside volume directory `root`, made (with `mode`) if it is
/// missing and `make`; Err if it resolves outside `root` (a symlink a
/// container planted must not mount the host's files).
fn sub_path(root: &Path, sub: &str, make: Option<u32>) -> Result<PathBuf, String> {
    let root_real = root.canonicalize().map_err(|e| format!("volume {}: {e}", root.display()))?;
    let target = root.join(sub);
    let escapes = |p: &Path| -> Result<bool, String> { Ok(!p.canonicalize().map_err(|e| format!("subPath {sub}: {e}"))?.starts_with(&root_real)) };
    // The deepest part that exists must already be inside.
    let mut existing = target.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        existing = existing.parent().unwrap_or(root);
    }
    if escapes(existing)? {
        return Err(format!("subPath `{sub}` resolves outside its volume"));
    }
    if let (Some(mode), Err(_)) = (make, std::fs::symlink_metadata(&target)) {
        make_dirs(&target, mode).map_err(|e| format!("subPath {}: {e}", target.display()))?;
    }
    if escapes(&target)? {
        return Err(format!("subPath `{sub}` resolves outside its volume"));
    }
    target.canonicalize().map_err(|e| format!("subPath {sub}: {e}"))
}

/// A key that can be a file name (Kubernetes refuses keys starting with `..`).
fn key_ok(k: &str) -> bool {
    !k.is_empty() && k != "." && !k.starts_with("..") && !k.contains('/')
}

/// Write a ConfigMap's or Secret's keys as files under `dir`: every key by
/// its name, or the `items` (key → path, nested directories made), each
/// with its mode. A missing object is an error unless `optional`.
async fn project(ctx: &Context, ns: &str, kind: &str, p: &Projection, dir: &Path) -> Result<(), String> {
    let all = match entries(ctx, ns, kind, &p.object).await {
        Ok(all) => all,
        Err(_) if p.optional => return Ok(()),
        Err(e) => return Err(e),
    };
    let files: Vec<(String, &Vec<u8>, u32)> = if p.items.is_empty() {
        all.iter().map(|(k, v)| (k.clone(), v, p.mode)).collect()
    } else {
        let mut out = Vec::new();
        for (key, path, mode) in &p.items {
            match all.iter().find(|(k, _)| k == key) {
                Some((_, v)) => out.push((path.clone(), v, mode.unwrap_or(p.mode))),
                None if p.optional => {}
                None => return Err(format!("{kind} {ns}/{}: no key `{key}` (volume items)", p.object)),
            }
        }
        out
    };
    for (path, bytes, mode) in files {
        if !key_ok(&path) && p.items.is_empty() {
            return Err(format!("{kind} {ns}/{}: key `{path}` cannot be a file name", p.object));
        }
        let f = dir.join(&path);
        if let Some(parent) = f.parent() {
            make_dirs(parent, 0o755).map_err(|e| format!("volume {}: {e}", parent.display()))?;
        }
        write(&f, bytes, mode).map_err(|e| format!("volume file {}: {e}", f.display()))?;
    }
    Ok(())
}

/// The env and mounts of `c`, with volume files written; `ips` = (the
/// pod's, the node's) for the downward API.
pub async fn prepare(ctx: &Context, root: &Path, pod: &Pod, c: &Container, ips: (&str, &str)) -> Result<(Vec<KeyValue>, Vec<Mount>), String> {
    let ns = &pod.namespace;
    let mut envs = Vec::new();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    for e in &c.env {
        match e {
            Env::Value(k, v) => {
                // $(VAR) of what is defined so far (kubelet).
                let vars = envs.iter().map(|kv: &KeyValue| (kv.key.clone(), kv.value.clone())).collect();
                envs.push(KeyValue { key: k.clone(), value: super::env::expand(v, &vars) })
            }
            Env::Field { name, path } => envs.push(KeyValue { key: name.clone(), value: super::env::field(&pod.fields, path, ips.0, ips.1) }),
            Env::Resource { name, container, resource, divisor } => {
                let of = if container.is_empty() { Some(c) } else { pod.containers.iter().chain(&pod.init_containers).find(|x| &x.name == container) };
                let of = of.ok_or_else(|| format!("env {name}: no container `{container}`"))?;
                let node = (super::node::cpus() as u64, super::node::mem_kib() * 1024);
                let value = super::env::resource(of, resource, divisor, node).map_err(|e| format!("env {name}: {e}"))?;
                envs.push(KeyValue { key: name.clone(), value });
            }
            Env::ConfigMap { name, object, key } | Env::Secret { name, object, key } => {
                let kind = if matches!(e, Env::ConfigMap { .. }) { "configmap" } else { "secret" };
                let all = entries(ctx, ns, kind, object).await?;
                let v = all.into_iter().find(|(k, _)| k == key).ok_or_else(|| format!("env {name}: key `{key}` is not in {kind} {ns}/{object}"))?;
                envs.push(KeyValue { key: name.clone(), value: text(v.1) });
            }
            Env::AllOfConfigMap(object) | Env::AllOfSecret(object) => {
                let kind = if matches!(e, Env::AllOfConfigMap(_)) { "configmap" } else { "secret" };
                for (k, v) in entries(ctx, ns, kind, object).await? {
                    envs.push(KeyValue { key: k, value: text(v) });
                }
            }
        }
    }
    let vol_root = pod_dir(root, pod).join("volumes");
    let mut mounts = Vec::new();
    for ((vname, path, ro), sub) in c.mounts.iter().zip(&c.sub_paths) {
        let Some((_, vol)) = pod.volumes.iter().find(|(n, _)| n == vname) else { continue };
        let mut host = match vol {
            Volume::HostPath(p) => PathBuf::from(p),
            Volume::EmptyDir => {
                let d = vol_root.join(vname);
                std::fs::create_dir_all(&d).map_err(|e| format!("emptyDir {}: {e}", d.display()))?;
                // As Kubernetes makes it: any user of the pod may write there.
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).map_err(|e| format!("emptyDir {}: {e}", d.display()))?;
                d
            }
            Volume::ConfigMap(p) | Volume::Secret(p) => {
                let kind = if matches!(vol, Volume::ConfigMap(_)) { "configmap" } else { "secret" };
                let d = vol_root.join(vname);
                std::fs::create_dir_all(&d).map_err(|e| format!("volume {}: {e}", d.display()))?;
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).map_err(|e| format!("volume {}: {e}", d.display()))?;
                project(ctx, ns, kind, p, &d).await?;
                d
            }
        };
        if !sub.is_empty() {
            // The hostPath itself comes from the pod's spec: made if missing (DirectoryOrCreate).
            if matches!(vol, Volume::HostPath(_)) && std::fs::symlink_metadata(&host).is_err() {
                make_dirs(&host, 0o755).map_err(|e| format!("hostPath {}: {e}", host.display()))?;
            }
            // As kubelet: a missing subPath of a directory volume is made.
            let make = match vol {
                Volume::EmptyDir => Some(0o777),
                Volume::HostPath(_) => Some(0o755),
                _ => None,
            };
            host = sub_path(&host, sub, make)?;
        }
        // ConfigMap and Secret volumes are always read-only (as kubelet since
        // CVE-2017-1002102): Edged rewrites their files.
        let readonly = *ro || matches!(vol, Volume::ConfigMap(_) | Volume::Secret(_));
        mounts.push(Mount { container_path: path.clone(), host_path: host.display().to_string(), readonly });
    }
    Ok((envs, mounts))
}
