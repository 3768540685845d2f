//! Unit tests of spec.rs: what Edged reads of a pod, and what it refuses
//! naming the field.

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
    assert_eq!(c.env[0], Env::AllOfSecret("s".into()), "envFrom first: env overrides it");
    assert_eq!(c.env[2], Env::ConfigMap { name: "B".into(), object: "cm".into(), key: "k".into() });
    assert_eq!(c.mounts, vec![("conf".into(), "/etc/conf".into(), true)]);
    assert_eq!(p.volumes[1], ("scratch".into(), Volume::EmptyDir));
    assert_eq!(c.hash.len(), 16);
    assert_eq!(c.pull, Pull::Always, "busybox has no tag: Always");
    let p = parse(&json!({"metadata": {"name": "a"}, "spec": {"imagePullSecrets": [{"name": "regcred"}, {}],
        "initContainers": [{"name": "setup", "image": "i:1", "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}],
        "containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "scratch", "emptyDir": {}}]}}))
    .unwrap();
    assert_eq!((p.init_containers[0].name.as_str(), p.pull_secrets.clone()), ("setup", vec!["regcred".to_string()]));
    let p = parse(&json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i",
        "lifecycle": {"postStart": {"exec": {"command": ["touch", "/ok"]}}, "preStop": {"sleep": {"seconds": 2}}}}]}}))
    .unwrap();
    assert_eq!(p.containers[0].post_start, Some(Action::Exec(vec!["touch".into(), "/ok".into()])));
    assert_eq!(p.containers[0].pre_stop, Some(Action::Sleep(std::time::Duration::from_secs(2))));
}

#[test]
fn volume_items_modes_and_sub_paths_are_read_and_checked() {
    let p = parse(&json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i",
        "volumeMounts": [{"name": "s", "mountPath": "/k", "subPath": "tls/key"}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "tls", "defaultMode": 256, "optional": true, "items": [{"key": "k", "path": "tls/key", "mode": 384}]}}]}}))
    .unwrap();
    let Volume::Secret(proj) = &p.volumes[0].1 else { panic!("{:?}", p.volumes) };
    assert_eq!((proj.object.as_str(), proj.mode, proj.optional), ("tls", 0o400, true));
    assert_eq!(proj.items, vec![("k".to_string(), "tls/key".to_string(), Some(0o600))]);
    assert_eq!(p.containers[0].sub_paths, vec!["tls/key".to_string()]);
    let pod = |vol: serde_json::Value, mount: serde_json::Value| json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [mount]}], "volumes": [vol]}});
    for (bad, want) in [
        (
            pod(json!({"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}}), json!({"name": "v", "mountPath": "/v"})),
            "spec.volumes[0].configMap.items[0]",
        ),
        (
            pod(json!({"name": "v", "configMap": {"name": "c", "defaultMode": 4096}}), json!({"name": "v", "mountPath": "/v"})),
            "spec.volumes[0].configMap.defaultMode",
        ),
        (pod(json!({"name": "v", "emptyDir": {}}), json!({"name": "v", "mountPath": "/v", "subPath": "/etc"})), "spec.containers[0].volumeMounts[0].subPath"),
        (pod(json!({"name": "v", "emptyDir": {}}), json!({"name": "v", "mountPath": "/v", "subPathExpr": "$(POD)"})), "subPathExpr: not supported"),
    ] {
        let e = parse(&bad).unwrap_err();
        assert!(e.contains(want), "{e} (wanted {want})");
    }
}

#[test]
fn the_pull_policy_defaults_by_tag() {
    for (image, want) in [
        ("busybox", Pull::Always),
        ("busybox:latest", Pull::Always),
        ("localhost:5000/app", Pull::Always),
        ("localhost:5000/app:1.2", Pull::IfNotPresent),
        ("app@sha256:abc", Pull::IfNotPresent),
    ] {
        assert_eq!(default_pull(image), want, "{image}");
    }
    let p = parse(&json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "Never"}]}})).unwrap();
    assert_eq!(p.containers[0].pull, Pull::Never);
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
        (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "n", "nfs": {}}]}}), "only configMap"),
        (json!({"metadata": {"name": "a", "uid": "../../etc"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}), "metadata.uid"),
        (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "../x", "image": "i"}]}}), "spec.containers[0].name"),
        (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Sometimes"}]}}), "imagePullPolicy"),
        (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "livenessProbe": {}}]}}), "livenessProbe"),
        (json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "x"}}}]}}), "limits.cpu"),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "..", "emptyDir": {}}]}}),
            "spec.volumes",
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"initContainers": [{"name": "c", "image": "i"}], "containers": [{"name": "c", "image": "i"}]}}),
            "container name `c` is used twice",
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"initContainers": [{"name": "i", "image": "i", "readinessProbe": {"exec": {"command": ["true"]}}}], "containers": [{"name": "c", "image": "i"}]}}),
            "spec.initContainers[0].readinessProbe: must not be set",
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"initContainers": [{"name": "i", "image": "i", "restartPolicy": "Always"}], "containers": [{"name": "c", "image": "i"}]}}),
            "spec.initContainers[0].restartPolicy",
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c", "image": "i"}]}}),
            "spec.initContainers[0]: name and image",
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "lifecycle": {"preStop": {"tcpSocket": {"port": 1}}}}]}}),
            "spec.containers[0].lifecycle.preStop.tcpSocket: not supported here",
        ),
        (
            json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "lifecycle": {"postStart": {"exec": {"command": []}}}}]}}),
            "spec.containers[0].lifecycle.postStart.exec.command",
        ),
    ] {
        let e = parse(&pod).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}
