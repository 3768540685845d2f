//! What a container runs as, from the pod's and the container's
//! `securityContext` as kubelet combines them (the container's value wins):
//! runAsUser, runAsGroup, runAsNonRoot (checked against the image's user),
//! supplementalGroups and fsGroup (as extra groups; volume ownership is
//! not changed), readOnlyRootFilesystem, privileged (only where the edge's
//! `edged.allow_privileged` says so), capabilities add/drop,
//! allowPrivilegeEscalation (false = no_new_privs).
//!
//! Owns: reading those fields and their CRI form. Must not do I/O.

use serde_json::Value;

use super::cri::api::{Capability, Image, Int64Value, LinuxContainerSecurityContext};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    pub groups: Vec<i64>,
    pub read_only_root: bool,
    pub privileged: bool,
    pub no_new_privs: bool,
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

/// A user or group id at `at` (0 to 2^31-1, as Kubernetes validates).
fn id(v: Option<&Value>, at: &str) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n)),
            _ => Err(format!("{at}: {v} must be between 0 and 2147483647")),
        },
    }
}

fn flag(v: Option<&Value>, at: &str) -> Result<Option<bool>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(format!("{at}: {v} must be true or false")),
    }
}

fn capabilities(v: Option<&Value>, at: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for c in v.and_then(Value::as_array).into_iter().flatten() {
        let name = c.as_str().unwrap_or("");
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("{at}: `{c}` is not a capability name (e.g. NET_ADMIN)"));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

/// The security of container `c` (at `at`, e.g. `spec.containers[0]`) of `pod`.
pub fn parse(pod: &Value, c: &Value, at: &str) -> Result<Security, String> {
    let psc = pod.pointer("/spec/securityContext").unwrap_or(&Value::Null);
    let csc = c.get("securityContext").unwrap_or(&Value::Null);
    for (v, where_) in [(psc, "spec.securityContext".to_string()), (csc, format!("{at}.securityContext"))] {
        if !v.is_null() && !v.is_object() {
            return Err(format!("{where_}: must be an object"));
        }
    }
    let (pat, cat) = ("spec.securityContext", format!("{at}.securityContext"));
    // The container's value, else the pod's.
    let both_id = |f: &str| -> Result<Option<i64>, String> { Ok(id(csc.get(f), &format!("{cat}.{f}"))?.or(id(psc.get(f), &format!("{pat}.{f}"))?)) };
    let mut groups = Vec::new();
    for g in psc.get("supplementalGroups").and_then(Value::as_array).into_iter().flatten() {
        groups.extend(id(Some(g), &format!("{pat}.supplementalGroups"))?);
    }
    groups.extend(id(psc.get("fsGroup"), &format!("{pat}.fsGroup"))?);
    let run_as_non_root = flag(csc.get("runAsNonRoot"), &format!("{cat}.runAsNonRoot"))?.or(flag(psc.get("runAsNonRoot"), &format!("{pat}.runAsNonRoot"))?);
    let privileged = flag(csc.get("privileged"), &format!("{cat}.privileged"))?.unwrap_or(false);
    let escalation = flag(csc.get("allowPrivilegeEscalation"), &format!("{cat}.allowPrivilegeEscalation"))?;
    if privileged && escalation == Some(false) {
        return Err(format!("{cat}: cannot set allowPrivilegeEscalation to false and privileged to true"));
    }
    Ok(Security {
        run_as_user: both_id("runAsUser")?,
        run_as_group: both_id("runAsGroup")?,
        run_as_non_root: run_as_non_root.unwrap_or(false),
        groups,
        read_only_root: flag(csc.get("readOnlyRootFilesystem"), &format!("{cat}.readOnlyRootFilesystem"))?.unwrap_or(false),
        privileged,
        no_new_privs: escalation == Some(false),
        add: capabilities(csc.pointer("/capabilities/add"), &format!("{cat}.capabilities.add"))?,
        drop: capabilities(csc.pointer("/capabilities/drop"), &format!("{cat}.capabilities.drop"))?,
    })
}

/// kubelet's runAsNonRoot check: the user it will run as must not be root,
/// by number; a user named in the image is accepted only if it is not root.
pub fn check_non_root(s: &Security, image: Option<&Image>) -> Result<(), String> {
    if !s.run_as_non_root {
        return Ok(());
    }
    let uid = s.run_as_user.or(image.and_then(|i| i.uid.as_ref()).map(|u| u.value));
    match uid {
        Some(0) => Err("container's runAsUser breaks non-root policy".into()),
        Some(_) => Ok(()),
        None => match image.map(|i| i.username.as_str()).unwrap_or("") {
            "" | "root" => Err("container has runAsNonRoot and image will run as root".into()),
            // A name may be uid 0 in the image's passwd: kubelet cannot tell, and refuses.
            name => Err(format!("container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root")),
        },
    }
}

/// The CRI form (namespaces are the caller's); `image` is the image's own
/// user, which a group without a user applies to (CRI wants both).
pub fn linux(s: &Security, image: Option<&Image>) -> LinuxContainerSecurityContext {
    let mut user = s.run_as_user;
    let mut username = String::new();
    if s.run_as_group.is_some() && user.is_none() {
        match image {
            Some(i) if i.uid.is_some() => user = i.uid.as_ref().map(|u| u.value),
            Some(i) if !i.username.is_empty() => username = i.username.clone(),
            // The image runs as root.
            Some(_) => user = Some(0),
            // Unknown: never guess root; the runtime refuses a group alone, saying so.
            None => {}
        }
    }
    let caps = (!s.add.is_empty() || !s.drop.is_empty()).then(|| Capability { add_capabilities: s.add.clone(), drop_capabilities: s.drop.clone() });
    LinuxContainerSecurityContext {
        capabilities: caps,
        privileged: s.privileged,
        namespace_options: None,
        run_as_user: user.map(|value| Int64Value { value }),
        run_as_username: username,
        run_as_group: s.run_as_group.map(|value| Int64Value { value }),
        readonly_rootfs: s.read_only_root,
        supplemental_groups: s.groups.clone(),
        no_new_privs: s.no_new_privs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_wins_over_the_pod_and_becomes_cri_fields() {
        let pod = json!({"spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000]}}});
        let c = json!({"securityContext": {"runAsUser": 1001, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}});
        let s = parse(&pod, &c, "spec.containers[0]").unwrap();
        assert_eq!((s.run_as_user, s.run_as_group, s.groups.clone()), (Some(1001), Some(3000), vec![4000, 2000]));
        let l = linux(&s, None);
        assert_eq!((l.run_as_user.unwrap().value, l.run_as_group.unwrap().value, l.readonly_rootfs, l.no_new_privs), (1001, 3000, true, true));
        assert_eq!(l.capabilities.unwrap().drop_capabilities, ["ALL"]);
        assert_eq!(linux(&parse(&json!({}), &json!({}), "c").unwrap(), None), LinuxContainerSecurityContext::default(), "nothing set: runtime defaults");
        // A group alone runs as the image's user, by number or by name.
        let g = parse(&json!({}), &json!({"securityContext": {"runAsGroup": 5}}), "c").unwrap();
        let by_uid = Image { uid: Some(Int64Value { value: 7 }), ..Default::default() };
        assert_eq!(linux(&g, Some(&by_uid)).run_as_user, Some(Int64Value { value: 7 }));
        let by_name = Image { username: "app".into(), ..Default::default() };
        assert_eq!((linux(&g, Some(&by_name)).run_as_username.as_str(), linux(&g, Some(&by_name)).run_as_group), ("app", Some(Int64Value { value: 5 })));
    }

    #[test]
    fn bad_values_are_refused_and_run_as_non_root_is_checked() {
        for (pod, c, want) in [
            (json!({}), json!({"securityContext": {"runAsUser": -1}}), "spec.containers[0].securityContext.runAsUser"),
            (json!({"spec": {"securityContext": {"runAsGroup": "x"}}}), json!({}), "spec.securityContext.runAsGroup"),
            (json!({}), json!({"securityContext": {"capabilities": {"add": ["NET ADMIN"]}}}), "capabilities.add"),
            (json!({}), json!({"securityContext": {"privileged": true, "allowPrivilegeEscalation": false}}), "cannot set allowPrivilegeEscalation"),
            (json!({}), json!({"securityContext": "root"}), "must be an object"),
        ] {
            let e = parse(&pod, &c, "spec.containers[0]").unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        let nr = |user: Option<i64>| Security { run_as_non_root: true, run_as_user: user, ..Default::default() };
        let root_image = Image { uid: Some(Int64Value { value: 0 }), ..Default::default() };
        let named = Image { username: "app".into(), ..Default::default() };
        assert!(check_non_root(&nr(None), Some(&root_image)).is_err());
        assert!(check_non_root(&nr(Some(0)), None).unwrap_err().contains("breaks non-root policy"));
        assert!(check_non_root(&nr(Some(1000)), Some(&root_image)).is_ok(), "runAsUser wins over the image");
        assert!(check_non_root(&nr(None), Some(&named)).unwrap_err().contains("non-numeric user (app)"));
        assert!(check_non_root(&nr(None), Some(&Image::default())).unwrap_err().contains("image will run as root"));
        assert!(check_non_root(&Security::default(), Some(&root_image)).is_ok());
    }
}
