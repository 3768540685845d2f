//! Getting a container's image as kubelet does: `imagePullPolicy` (Always,
//! IfNotPresent, Never) decides whether to pull; offline, Always with a
//! copy at hand runs that copy. Registry credentials, kubelet's keyring in
//! small: the
//! pod's `imagePullSecrets` (Secrets of type `kubernetes.io/dockerconfigjson`
//! or the older `kubernetes.io/dockercfg`, read from MetaManager's cache so
//! pulls work offline too) give, for the registry an image lives on, the
//! credentials CRI `PullImage` is handed — each matching one in turn, as
//! kubelet tries them. A secret that is missing or malformed is logged and
//! skipped (kubelet pulls without it too); no match means an anonymous pull.
//!
//! Owns: the pull decision, reading those secrets and matching registries.
//! Must not create or start containers.

use base64::Engine as _;
use serde_json::Value;

use super::cri::api::{AuthConfig, Image};
use super::cri::{Cri, CriError};
use super::spec::{Container, Pod, Pull};
use crate::core::Context;

/// (registry host, repository path) of an image reference, as docker
/// normalizes it: the host is the first path element when it looks like
/// one (a '.' or ':' in it, or `localhost`), else Docker Hub;
/// `busybox:1` → (`docker.io`, `library/busybox`).
fn split_image(image: &str) -> (String, String) {
    let (host, rest) = match image.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first.to_ascii_lowercase(), rest),
        _ => ("docker.io".to_string(), image),
    };
    let host = if is_hub(&host) { "docker.io".to_string() } else { host };
    // Without the digest or tag (a ':' after the last '/').
    let repo = rest.split('@').next().unwrap_or(rest);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    let repo = if host == "docker.io" && !repo.contains('/') { format!("library/{repo}") } else { repo.to_string() };
    (host, repo)
}

fn is_hub(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com")
}

/// (host, path) a docker config key names: `https://r.io/team/` →
/// (`r.io`, `team`); Docker Hub's keys (`https://index.docker.io/v1/`) are
/// the whole of `docker.io`.
fn key_parts(key: &str) -> (String, String) {
    let k = key.trim();
    let k = k.strip_prefix("https://").or_else(|| k.strip_prefix("http://")).unwrap_or(k);
    let (host, path) = k.split_once('/').unwrap_or((k, ""));
    let host = host.to_ascii_lowercase();
    if is_hub(&host) {
        return ("docker.io".into(), String::new());
    }
    // A registry API version is no repository path (kubelet drops it).
    let path = path.trim_matches('/');
    let path = ["v1", "v2"].iter().find_map(|v| if path == *v { Some("") } else { path.strip_prefix(&format!("{v}/")) }).unwrap_or(path);
    (host, path.to_string())
}

fn key_host(key: &str) -> String {
    key_parts(key).0
}

/// Whether config key `key` is for `registry` and repository `repo`
/// (`*.example.com` matches one label; a key's path must be a leading
/// part of the repository's, as kubelet matches).
fn matches(key: &str, registry: &str, repo: &str) -> bool {
    let (host, path) = key_parts(key);
    let host_ok = match host.strip_prefix("*.") {
        Some(suffix) => registry.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => host == registry,
    };
    host_ok && (path.is_empty() || repo == path || repo.starts_with(&format!("{path}/")))
}

/// The credentials in a docker config (`{"auths": {…}}` or the older bare
/// map) for `image`, most specific key first.
pub fn credentials(config: &Value, image: &str) -> Vec<AuthConfig> {
    let (registry, repo) = split_image(image);
    let auths = config.get("auths").unwrap_or(config);
    let mut found: Vec<((usize, usize), AuthConfig)> = Vec::new();
    for (key, entry) in auths.as_object().into_iter().flatten() {
        if !matches(key, &registry, &repo) {
            continue;
        }
        let field = |n: &str| entry.get(n).and_then(Value::as_str).unwrap_or("").to_string();
        let (mut username, mut password) = (field("username"), field("password"));
        // `auth` is base64 of `user:password`; it fills in what is missing.
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(field("auth").trim()) {
            if let Some((u, p)) = String::from_utf8_lossy(&raw).split_once(':') {
                if username.is_empty() {
                    (username, password) = (u.to_string(), p.to_string());
                }
            }
        }
        // No server_address: the match is made here (containerd would
        // parse a bare `host:port` key as a URL and drop the credentials).
        let auth = AuthConfig { username, password, identity_token: field("identitytoken"), ..Default::default() };
        // Exact hosts before wildcards, longer paths first.
        found.push(((usize::from(key_host(key).starts_with("*.")), usize::MAX - key_parts(key).1.len()), auth));
    }
    found.sort_by_key(|(rank, _)| *rank);
    found.into_iter().map(|(_, a)| a).collect()
}

/// Every credential the pod's pull secrets hold for `image`'s registry.
pub async fn auths(ctx: &Context, pod: &Pod, image: &str) -> Vec<AuthConfig> {
    let mut out = Vec::new();
    for name in &pod.pull_secrets {
        let entries = match super::volumes::entries(ctx, &pod.namespace, "secret", name).await {
            Ok(e) => e,
            Err(e) => {
                log::warn!(target: super::NAME, "pod {}/{}: imagePullSecret {name}: {e}; pulling without it", pod.namespace, pod.name);
                continue;
            }
        };
        let Some((_, raw)) = entries.into_iter().find(|(k, _)| k == ".dockerconfigjson" || k == ".dockercfg") else {
            log::warn!(target: super::NAME, "pod {}/{}: imagePullSecret {name} has no .dockerconfigjson key; pulling without it", pod.namespace, pod.name);
            continue;
        };
        match serde_json::from_slice::<Value>(&raw) {
            Ok(config) => out.extend(credentials(&config, image)),
            Err(e) => {
                log::warn!(target: super::NAME, "pod {}/{}: imagePullSecret {name}: not a docker config ({e}); pulling without it", pod.namespace, pod.name)
            }
        }
    }
    out
}

/// The container's image, present or pulled as its policy says: Ok(the
/// image as the runtime describes it, if it can), or the waiting reason and
/// message the status shows (ErrImageNeverPull, ErrImagePull).
pub async fn ensure(ctx: &Context, cri: &Cri, pod: &Pod, spec: &Container) -> Result<Result<Option<Image>, (String, String)>, CriError> {
    let image = cri.image_status(&spec.image).await?;
    let present = image.is_some();
    let pull = match spec.pull {
        Pull::Never if !present => {
            let msg = format!("Container image \"{}\" is not present with pull policy of Never", spec.image);
            return Ok(Err(("ErrImageNeverPull".into(), msg)));
        }
        Pull::Never => false,
        Pull::IfNotPresent => !present,
        Pull::Always => true,
    };
    if !pull {
        return Ok(Ok(image));
    }
    log::info!(target: super::NAME, "pod {}/{}: pulling image {}", pod.namespace, pod.name, spec.image);
    // Each matching pull secret's credentials in turn (the last error
    // stands), anonymously when none match (kubelet).
    let auths = auths(ctx, pod, &spec.image).await;
    let mut result = Err(CriError::Transport("PullImage".into(), "not tried".into()));
    let tries: Vec<_> = if auths.is_empty() { vec![None] } else { auths.into_iter().take(8).map(Some).collect() };
    for auth in tries {
        result = cri.pull_image(&spec.image, auth).await;
        if result.is_ok() {
            break;
        }
    }
    match result {
        Ok(_) => Ok(Ok(cri.image_status(&spec.image).await.ok().flatten())),
        // Offline is normal at the edge: Always with a copy at hand runs that copy.
        Err(e) if present => {
            log::warn!(target: super::NAME, "pod {}/{}: pulling {} failed ({e}); running the image already here", pod.namespace, pod.name, spec.image);
            Ok(Ok(image))
        }
        Err(e) => Ok(Err(("ErrImagePull".into(), e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_name_their_registry_as_docker_does() {
        for (image, want) in [
            ("busybox", "docker.io"),
            ("library/busybox:1", "docker.io"),
            ("user/app", "docker.io"),
            ("localhost/app:1", "localhost"),
            ("localhost:5000/app", "localhost:5000"),
            ("Registry.Example.com/team/app@sha256:ab", "registry.example.com"),
            ("index.docker.io/me/app", "docker.io"),
        ] {
            assert_eq!(split_image(image).0, want, "{image}");
        }
    }

    #[test]
    fn credentials_match_by_host_with_auth_decoded_and_wildcards_last() {
        let cfg = json!({"auths": {
            "https://index.docker.io/v1/": {"auth": base64::engine::general_purpose::STANDARD.encode("hub:secret")},
            "*.example.com": {"username": "wild", "password": "w"},
            "r.example.com": {"username": "exact", "password": "e"},
            "127.0.0.1:5000": {"username": "local", "password": "l"}
        }});
        let hub = credentials(&cfg, "busybox:1");
        assert_eq!((hub.len(), hub[0].username.as_str(), hub[0].password.as_str()), (1, "hub", "secret"));
        assert_eq!(credentials(&cfg, "index.docker.io/me/app")[0].username, "hub", "Docker Hub by any of its names");
        let r: Vec<String> = credentials(&cfg, "r.example.com/app").into_iter().map(|a| a.username).collect();
        assert_eq!(r, ["exact", "wild"]);
        assert!(credentials(&cfg, "a.b.example.com/app").is_empty(), "a wildcard matches one label");
        assert_eq!(credentials(&cfg, "127.0.0.1:5000/app:2")[0].username, "local");
        assert!(credentials(&cfg, "quay.io/app").is_empty());
        // The older .dockercfg is the bare map.
        assert_eq!(credentials(&json!({"quay.io": {"username": "q", "password": "p"}}), "quay.io/x")[0].username, "q");
        // A key with a path serves that path only, the longest first.
        let teams = json!({"auths": {"reg.io/team-a": {"username": "a", "password": "1"}, "reg.io": {"username": "any", "password": "2"},
            "reg.io/team-a/deep": {"username": "deep", "password": "3"}}});
        let names = |image: &str| credentials(&teams, image).into_iter().map(|a| a.username).collect::<Vec<_>>();
        assert_eq!(names("reg.io/team-a/deep/app:1"), ["deep", "a", "any"]);
        assert_eq!(names("reg.io/team-b/app"), ["any"]);
        assert_eq!(names("reg.io/team-ab/app"), ["any"], "a path matches whole segments");
        let versioned = json!({"auths": {"https://reg.io/v2/": {"username": "v", "password": "1"}}});
        assert_eq!(credentials(&versioned, "reg.io/team/app")[0].username, "v", "an API version is not a path");
    }
}
