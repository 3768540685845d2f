//! Paths of the cloud API: discovery documents and what a resource path
//! names (resource, namespace, name, `/status`), with Kubernetes' name rules.
//!
//! Owns: path parsing. Must not read bodies or touch the store.

use serde_json::{json, Value};

use super::error::ApiError;
use super::resources::{self, Resource};

/// What a path names.
pub struct Target {
    pub res: &'static Resource,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub status: bool,
    /// `/scale`: the object's replicas as an autoscaling/v1 Scale.
    pub scale: bool,
    /// `pods/<name>/binding`: placing the pod on a node.
    pub binding: bool,
}

pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Discovery documents, or None if the path is not one.
pub fn discovery(path: &str) -> Option<Value> {
    match path.trim_end_matches('/') {
        // Every field of version.Info (typed clients require them all).
        "/version" => Some(json!({"major": "1", "minor": "20", "gitVersion": format!("v1.20.0-hive.{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "rustc",
            "platform": format!("linux/{}", crate::kube::goarch(std::env::consts::ARCH))})),
        "/api" => Some(resources::api_versions()),
        "/apis" => Some(resources::api_groups()),
        "/api/v1" => resources::resource_list("", "v1"),
        p => {
            let rest = p.strip_prefix("/apis/")?;
            let (g, v) = rest.split_once('/')?;
            if v.contains('/') {
                return None;
            }
            resources::resource_list(g, v)
        }
    }
}

pub fn route(path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Err(ApiError::not_found(format!("no such path: {path}"))),
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        _ => (None, rest),
    };
    let (plural, name, status, scale, binding) = match rest {
        [p] => (*p, None, false, false, false),
        [p, n] => (*p, Some(*n), false, false, false),
        [p, n, "status"] => (*p, Some(*n), true, false, false),
        [p, n, "scale"] => (*p, Some(*n), false, true, false),
        ["pods", n, "binding"] => ("pods", Some(*n), false, false, true),
        _ => return Err(ApiError::not_found(format!("no such path: {path}"))),
    };
    let res = Resource::find(group, version, plural).ok_or_else(|| {
        ApiError::not_found(format!(
            "the server does not serve {plural} in {}",
            if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
        ))
    })?;
    if scale && !res.scalable() {
        return Err(ApiError::not_found(format!("{plural} have no scale subresource: {path}")));
    }
    if !res.namespaced && ns.is_some() {
        return Err(ApiError::not_found(format!("{plural} are not namespaced: {path}")));
    }
    if res.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::not_found(format!("{plural} are namespaced: {path}")));
    }
    for (what, v) in [("namespace", ns), ("name", name)] {
        if let Some(v) = v {
            if !valid_name(v) {
                return Err(ApiError::bad(format!("invalid {what} `{v}` in {path}: use lowercase letters, digits, '-' and '.'")));
            }
        }
    }
    Ok(Target { res, ns: ns.map(str::to_string), name: name.map(str::to_string), status, scale, binding })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn routes() {
        let t = route("/api/v1/namespaces/default/pods/web/status").ok().unwrap();
        assert_eq!((t.res.plural, t.ns.as_deref(), t.name.as_deref(), t.status), ("pods", Some("default"), Some("web"), true));
        let t = route("/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices").ok().unwrap();
        assert_eq!(t.res.key(t.ns.as_deref(), "x"), "devices.kubeedge.io/devices/default/x");
        assert_eq!(route("/api/v1/nodes/edge-1").ok().unwrap().res.key(None, "edge-1"), "nodes/edge-1");
        assert!(route("/api/v1/namespaces/default/widgets").is_err());
        assert!(route("/api/v1/namespaces/x/nodes").is_err());
        assert_eq!(route("/api/v1/namespaces/Bad/pods").err().map(|e| e.0), Some(StatusCode::BAD_REQUEST));
    }
}
