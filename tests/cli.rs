//! The hive binary as a user meets it: argv[0] dispatch through real links,
//! install-links, config checking, and orderly shutdown on signals.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{hive_bin, run, Proc, Site};

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn version_names_commit_target_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(&hive_bin(), &["version"], dir.path());
    assert_eq!(code, 0);
    assert!(out.starts_with("hive 0."), "{out}");
    assert!(out.contains("commit ") && out.contains("target ") && out.contains("features: "), "{out}");
}

#[test]
fn role_by_argv0_through_a_symlink_and_sigterm_is_orderly() {
    let site = Site::new();
    let bin = site.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let cloud_link = bin.join("cloud");
    std::os::unix::fs::symlink(hive_bin(), &cloud_link).unwrap();
    let cfg = site.cloud_config("");
    let mut cloud = Proc::start(&cloud_link, &["--config", cfg.to_str().unwrap()], site.path());
    let line = cloud.wait_for("listening on", Duration::from_secs(20));
    let port: u16 = line.rsplit(':').next().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    cloud.wait_for("hive cloud ready", Duration::from_secs(20));
    site.node_cert("edge-a");
    for role in ["edge", "hive-edge"] {
        let link = bin.join(role);
        std::os::unix::fs::symlink(hive_bin(), &link).unwrap();
        let ecfg = site.edge_config("edge-a", port, "");
        let mut p = Proc::start(&link, &["--config", ecfg.to_str().unwrap()], site.path());
        p.wait_for("hive edge ready", Duration::from_secs(20));
        p.wait_for("connected to cloud", Duration::from_secs(20));
        let t0 = Instant::now();
        p.signal("TERM");
        let st = p.wait_exit(Duration::from_secs(10));
        assert_eq!(st.code(), Some(0), "{role}: {:?}\n{}", st, p.seen.join("\n"));
        assert!(t0.elapsed() < Duration::from_secs(3), "{role}: shutdown took {:?}", t0.elapsed());
        let log = p.seen.join("\n");
        assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
        // The cloud saw an orderly close frame, not a dropped connection.
        cloud.wait_for("closed by peer: 1000 edge shutting down", Duration::from_secs(5));
    }
    let t0 = Instant::now();
    cloud.signal("TERM");
    assert_eq!(cloud.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn sigint_is_orderly_too() {
    let site = Site::new();
    let (mut p, _) = site.start_cloud("");
    p.signal("INT");
    assert_eq!(p.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn unknown_program_name_and_subcommand_exit_2_naming_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("fog");
    std::os::unix::fs::symlink(hive_bin(), &link).unwrap();
    let (code, _, err) = run(&link, &[], dir.path());
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("`fog`") && err.contains("cloud") && err.contains("edge"), "{err}");

    let (code, _, err) = run(&hive_bin(), &["warp"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("cloud, edge (edge join), version, config, install-links, cert, token, bench"), "{err}");
}

#[test]
fn install_links_makes_working_role_links() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let (code, out, err) = run(&hive_bin(), &["install-links", bin.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cloud") && out.contains("edge"), "{out}");
    for role in ["cloud", "edge"] {
        let target = std::fs::read_link(bin.join(role)).unwrap();
        assert_eq!(target, hive_bin().canonicalize().unwrap());
    }
    // Idempotent, and refuses to clobber a foreign file without --force.
    assert_eq!(run(&hive_bin(), &["install-links", bin.to_str().unwrap()], dir.path()).0, 0);
    std::fs::remove_file(bin.join("edge")).unwrap();
    std::fs::write(bin.join("edge"), "not hive").unwrap();
    let (code, _, err) = run(&hive_bin(), &["install-links", bin.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    let (code, _, _) = run(&hive_bin(), &["install-links", "--force", bin.to_str().unwrap()], dir.path());
    assert_eq!(code, 0);
    // The link runs the edge role: a config for the cloud is refused as such.
    std::fs::write(dir.path().join("c.toml"), "role = \"cloud\"\n").unwrap();
    let (code, _, err) = run(&bin.join("edge"), &["--config", "c.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("hive edge") && err.contains("cloud role"), "{err}");
    // Hard links work too.
    let hard = dir.path().join("hard");
    assert_eq!(run(&hive_bin(), &["install-links", "--hard", hard.to_str().unwrap()], dir.path()).0, 0);
    let (code, _, err) = run(&hard.join("cloud"), &["--config=c.toml", "--profile", "cloud"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("hive cloud") && err.contains("not both"), "{err}");
}

#[test]
fn bad_config_file_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "role = \"edge\"\ndata_dir = \"d\"\n\n[edgehub]\nserver = \"nowhere\"\n").unwrap();
    let (code, _, err) = run(&hive_bin(), &["edge", "--config", "bad.toml"], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml:5:") && err.contains("edgehub.server"), "{err}");
    assert!(!err.contains("starting"), "nothing may start: {err}");
    assert!(!dir.path().join("d").exists(), "no data dir may be created");

    let (code, _, err) = run(&hive_bin(), &["edge", "--config", "missing.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn config_check_accepts_every_shipped_profile_and_prints_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = repo_file("profiles");
    let mut n = 0;
    for entry in std::fs::read_dir(&profiles).unwrap() {
        let p = entry.unwrap().path();
        let (code, out, err) = run(&hive_bin(), &["config", "--check", p.to_str().unwrap()], dir.path());
        assert_eq!(code, 0, "{}: {err}", p.display());
        assert!(out.contains(": ok ("), "{out}");
        n += 1;
    }
    assert!(n >= 2);
    let (code, out, _) = run(&hive_bin(), &["config", "--role", "edge"], dir.path());
    assert_eq!(code, 0);
    assert!(out.contains("server = \"127.0.0.1:10000\""), "{out}");
    let (code, out, _) = run(&hive_bin(), &["config", "--list"], dir.path());
    assert_eq!(code, 0);
    assert!(out.contains("cloud") && out.contains("edge"), "{out}");
    let (code, _, err) = run(&hive_bin(), &["config", "--profile", "nope"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn verbosity_flags_change_logging_and_rust_log_wins() {
    let site = Site::new();
    let cfg = site.cloud_config("");
    let cfg = cfg.to_str().unwrap();
    let dir = site.path();
    let mut p = Proc::start(&hive_bin(), &["-v", "cloud", "--config", cfg], dir);
    p.wait_for("ready", Duration::from_secs(20));
    p.signal("TERM");
    p.wait_exit(Duration::from_secs(10));
    assert!(p.seen.iter().any(|l| l.contains("DEBUG")), "{}", p.seen.join("\n"));

    let mut p = Proc::start(&hive_bin(), &["-q", "cloud", "--config", cfg], dir);
    std::thread::sleep(Duration::from_millis(500));
    p.signal("TERM");
    p.wait_exit(Duration::from_secs(10));
    assert!(!p.seen.iter().any(|l| l.contains(" INFO ")), "{}", p.seen.join("\n"));

    let mut p = Proc::start_env(&hive_bin(), &["-vv", "cloud", "--config", cfg], dir, &[("RUST_LOG", "warn")]);
    std::thread::sleep(Duration::from_millis(500));
    p.signal("TERM");
    p.wait_exit(Duration::from_secs(10));
    assert!(!p.seen.iter().any(|l| l.contains(" INFO ") || l.contains("DEBUG")), "{}", p.seen.join("\n"));
}
