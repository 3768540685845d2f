//! Small one-shot subcommands: `version`, `config`, `install-links`.
//! Owns their output and exit codes; must not start a role.

use std::path::Path;

use crate::cli::{BenchCmd, CertCmd, ConfigCmd, InstallLinksCmd};
use crate::config::{self, Role, Source, PROFILES};
use crate::EXIT_USAGE;

pub fn version() -> i32 {
    println!("hive {} (commit {}, target {}, features: {})", env!("CARGO_PKG_VERSION"), env!("HIVE_GIT_COMMIT"), env!("HIVE_TARGET"), env!("HIVE_FEATURES"));
    0
}

pub fn config(c: &ConfigCmd) -> i32 {
    if c.list {
        for (name, text) in PROFILES {
            let first = text.lines().next().unwrap_or("").trim_start_matches('#').trim();
            println!("{name:<24} {first}");
        }
        return 0;
    }
    let role = match c.role.as_deref() {
        None => None,
        Some("cloud") => Some(Role::Cloud),
        Some("edge") => Some(Role::Edge),
        Some(other) => {
            eprintln!("hive config: --role must be cloud or edge, not `{other}`");
            return EXIT_USAGE;
        }
    };
    if let Some(path) = &c.check {
        return match config::load(role, Source::File(path)) {
            Ok(cfg) => {
                println!("{}: ok ({} role)", path.display(), cfg.role());
                0
            }
            Err(e) => {
                eprintln!("hive config: {e}");
                EXIT_USAGE
            }
        };
    }
    let source = match Source::from_flags(c.config.as_deref(), c.profile.as_deref()) {
        None => {
            eprintln!("hive config: use either --config or --profile, not both");
            return EXIT_USAGE;
        }
        Some(Source::Default) if role.is_none() => {
            eprintln!("hive config: say what to print: --role cloud|edge, --profile NAME, --config FILE, or --check FILE");
            return EXIT_USAGE;
        }
        Some(s) => s,
    };
    match config::load(role, source) {
        Ok(mut cfg) => {
            // A join token is a secret: never in a printed config.
            if let config::RoleConfig::Edge(e) = &mut cfg {
                if let Some((id, _)) = e.join.token.split_once('.') {
                    e.join.token = format!("{id}.<hidden>");
                }
            }
            print!("{}", cfg.to_toml());
            0
        }
        Err(e) => {
            eprintln!("hive config: {e}");
            EXIT_USAGE
        }
    }
}

pub fn install_links(c: &InstallLinksCmd) -> i32 {
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hive install-links: cannot find this binary's path: {e}");
            return 1;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&c.dir) {
        eprintln!("hive install-links: cannot create {}: {e}", c.dir.display());
        return 1;
    }
    for name in ["cloud", "edge"] {
        let link = c.dir.join(name);
        match link_one(&exe, &link, c.hard, c.force) {
            Ok(true) => println!("{} -> {}", link.display(), exe.display()),
            Ok(false) => println!("{} already links to {}", link.display(), exe.display()),
            Err(e) => {
                eprintln!("hive install-links: {}: {e}", link.display());
                return 1;
            }
        }
    }
    0
}

/// Ok(false) if the link is already what we want.
fn link_one(exe: &Path, link: &Path, hard: bool, force: bool) -> Result<bool, String> {
    if let Ok(meta) = std::fs::symlink_metadata(link) {
        let same = if hard { same_file(exe, link) } else { meta.file_type().is_symlink() && std::fs::read_link(link).map(|t| t == exe).unwrap_or(false) };
        if same {
            return Ok(false);
        }
        if !force {
            return Err("exists and is not a link to this binary (pass --force to replace it)".into());
        }
        std::fs::remove_file(link).map_err(|e| format!("cannot remove: {e}"))?;
    }
    let r = if hard { std::fs::hard_link(exe, link) } else { std::os::unix::fs::symlink(exe, link) };
    r.map_err(|e| format!("cannot create link: {e}"))?;
    Ok(true)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(not(feature = "cloud"))]
pub fn cert(_: &CertCmd) -> i32 {
    // Certificates are signed by the cloud's CA, which lives in the cloud role.
    eprintln!("hive cert: {}", crate::features::missing("`hive cert`", "cloud"));
    EXIT_USAGE
}

#[cfg(not(feature = "cloud"))]
pub fn token(_: &crate::cli::TokenCmd) -> i32 {
    eprintln!("hive token: {}", crate::features::missing("`hive token`", "cloud"));
    EXIT_USAGE
}

#[cfg(feature = "cloud")]
pub fn token(c: &crate::cli::TokenCmd) -> i32 {
    match crate::cloud::bootstrap::cli::token(c) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("hive token: {e}");
            1
        }
    }
}

#[cfg(feature = "cloud")]
pub fn cert(c: &CertCmd) -> i32 {
    let n = match &c.what {
        crate::cli::CertWhat::Node(n) => n,
        crate::cli::CertWhat::Revoke(r) => {
            return match crate::cloud::bootstrap::cli::revoke(r) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("hive cert revoke: {e}");
                    1
                }
            }
        }
    };
    if let Err(e) = crate::tls::check_node_name(&n.name) {
        eprintln!("hive cert node: {e}");
        return EXIT_USAGE;
    }
    if n.days < 1 {
        eprintln!("hive cert node: --days must be at least 1");
        return EXIT_USAGE;
    }
    let ca_file = crate::tls::CertAuthority::cert_path(&n.ca_dir);
    if !ca_file.exists() {
        eprintln!("hive cert node: no CA at {}: start `hive cloud` once (it creates the CA in its data dir) or pass --ca-dir", ca_file.display());
        return 1;
    }
    let result = crate::tls::CertAuthority::load(&n.ca_dir).and_then(|ca| {
        let (cert, key) = ca.issue_node(&n.name, n.days)?;
        crate::tls::write_file(&n.out.join("node.key"), &key, true)?;
        crate::tls::write_file(&n.out.join("node.pem"), &cert, false)?;
        crate::tls::write_file(&n.out.join("ca.pem"), &ca.cert_pem, false)
    });
    match result {
        Ok(()) => {
            println!("node {}: wrote {}/node.pem, node.key, ca.pem (valid {} days)", n.name, n.out.display(), n.days);
            0
        }
        Err(e) => {
            eprintln!("hive cert node: {e}");
            1
        }
    }
}

pub fn bench(b: &BenchCmd) -> i32 {
    #[cfg(feature = "bench")]
    let r = crate::bench::dispatch(b);
    #[cfg(not(feature = "bench"))]
    let r: Result<(), String> = Err(crate::features::missing(&format!("`hive bench {}`", b.what), "bench"));
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("hive bench: {e}");
            1
        }
    }
}
