//! hive's thin CRI client against a real containerd + runc (started by the
//! test, images built locally): version and status, images present or
//! not, a failed pull, a host-network sandbox with a container that runs,
//! one that exits 1, stop/remove, listing by label, and the errors a user
//! sees when the socket is missing or an id is unknown.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::containerd::{Containerd, APP};
use hive::edge::edged::cri::api::{self, ContainerConfig, ContainerMetadata, ImageSpec, PodSandboxConfig, PodSandboxMetadata};
use hive::edge::edged::cri::{Cri, CriError};

fn sandbox_config(dir: &std::path::Path) -> PodSandboxConfig {
    let logs = dir.join("pod-logs");
    std::fs::create_dir_all(&logs).unwrap();
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata { name: "web".into(), uid: "uid-1".into(), namespace: "default".into(), attempt: 0 }),
        hostname: String::new(),
        log_directory: logs.display().to_string(),
        labels: HashMap::from([("hive.test/pod".to_string(), "web".to_string())]),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: String::new(),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(api::NamespaceOption { network: api::NAMESPACE_NODE, pid: api::NAMESPACE_CONTAINER, ipc: 0 }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn container(name: &str, cmd: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(ImageSpec { image: APP.into() }),
        command: cmd.iter().map(|s| s.to_string()).collect(),
        labels: HashMap::from([("hive.test/container".to_string(), name.to_string())]),
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

#[test]
fn the_cri_client_drives_a_real_containerd() {
    let dir = tempfile::tempdir().unwrap();
    let ctrd = Containerd::start(dir.path());
    let cri = Cri::new(&ctrd.socket, Duration::from_secs(30));
    smol::block_on(async {
        let v = cri.version().await.unwrap();
        assert_eq!(v.runtime_name, "containerd");
        let st = cri.status().await.unwrap();
        let ready = st.status.unwrap().conditions.iter().any(|c| c.r#type == "RuntimeReady" && c.status);
        assert!(ready, "runtime ready");

        assert!(cri.image_status(APP).await.unwrap().is_some(), "imported image is present");
        assert!(cri.image_status("localhost/absent:1").await.unwrap().is_none());
        let e = cri.pull_image("localhost/absent:1", None).await.unwrap_err();
        assert!(matches!(e, CriError::Grpc { .. }), "{e}");
        assert!(e.to_string().contains("PullImage") && e.to_string().contains("localhost/absent:1"), "{e}");

        let sb_cfg = sandbox_config(dir.path());
        let sb = cri.run_pod_sandbox(sb_cfg.clone()).await.unwrap();
        assert_eq!(cri.pod_sandbox_status(&sb).await.unwrap().state, api::SANDBOX_READY);
        let listed = cri.list_pod_sandbox(HashMap::from([("hive.test/pod".to_string(), "web".to_string())])).await.unwrap();
        assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![sb.as_str()]);

        let runs = cri.create_container(&sb, container("runs", &["sh", "-c", "echo hi; exec sleep 1000"]), sb_cfg.clone()).await.unwrap();
        cri.start_container(&runs).await.unwrap();
        assert_eq!(cri.container_status(&runs).await.unwrap().state, api::CONTAINER_RUNNING);
        let fails = cri.create_container(&sb, container("fails", &["sh", "-c", "exit 1"]), sb_cfg.clone()).await.unwrap();
        cri.start_container(&fails).await.unwrap();
        let t0 = Instant::now();
        let st = loop {
            let st = cri.container_status(&fails).await.unwrap();
            if st.state == api::CONTAINER_EXITED {
                break st;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "never exited");
            smol::Timer::after(Duration::from_millis(50)).await;
        };
        assert_eq!(st.exit_code, 1);
        let mine = cri.list_containers(HashMap::from([("hive.test/container".to_string(), "runs".to_string())])).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].id, runs);
        let log = std::fs::read_to_string(dir.path().join("pod-logs/runs/0.log")).unwrap();
        assert!(log.contains("stdout F hi"), "{log}");

        cri.stop_container(&runs, 2).await.unwrap();
        assert_eq!(cri.container_status(&runs).await.unwrap().state, api::CONTAINER_EXITED);
        for id in [&runs, &fails] {
            cri.remove_container(id).await.unwrap();
        }
        let e = cri.container_status(&runs).await.unwrap_err();
        assert!(e.is_not_found(), "{e}");
        cri.stop_pod_sandbox(&sb).await.unwrap();
        cri.remove_pod_sandbox(&sb).await.unwrap();
        assert!(cri.list_pod_sandbox(HashMap::new()).await.unwrap().is_empty());
    });
    drop(ctrd);

    // No runtime: a clear error naming the socket.
    let missing = dir.path().join("gone.sock");
    let e = smol::block_on(Cri::new(&missing, Duration::from_secs(5)).version()).unwrap_err();
    assert!(matches!(e, CriError::SocketMissing(_)) && e.to_string().contains("gone.sock"), "{e}");
}
