//! Command line: argh definitions, argv[0] role dispatch and the argument
//! clean-ups argh lacks (`--key=value`, counted `-v`/`-q`).
//!
//! Owns: parsing only. Must not load config or start anything.

use std::path::PathBuf;

use argh::FromArgs;

/// The names this binary answers to as argv[0].
pub const PROGRAM_NAMES: &[&str] = &["hive", "cloud", "edge", "hive-cloud", "hive-edge"];

#[derive(FromArgs, Debug)]
/// hive: KubeEdge's cloud and edge in one small binary. Global flags: -v/-vv
/// for more log output, -q/-qq for less (RUST_LOG, when set, wins).
pub struct Top {
    #[argh(subcommand)]
    pub cmd: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Cloud(CloudCmd),
    Edge(EdgeCmd),
    Version(VersionCmd),
    Config(ConfigCmd),
    InstallLinks(InstallLinksCmd),
    Cert(CertCmd),
    Token(TokenCmd),
    Bench(BenchCmd),
}

/// Options shared by both roles.
#[derive(Debug, Default, Clone)]
pub struct RoleArgs {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// `hive edge join …`: join first.
    pub join: Option<EdgeJoinCmd>,
}

#[derive(FromArgs, Debug)]
/// Run the cloud role (CloudHub, API server, controllers).
#[argh(subcommand, name = "cloud")]
pub struct CloudCmd {
    /// config file (TOML); default: the built-in cloud profile
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// built-in profile to run instead of a file (see `hive config --list`)
    #[argh(option)]
    pub profile: Option<String>,
    /// data directory, overriding the config's data_dir
    #[argh(option)]
    pub data_dir: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// Run the edge role (EdgeHub, MetaManager, Edged, EventBus, DeviceTwin, ServiceBus).
#[argh(subcommand, name = "edge")]
pub struct EdgeCmd {
    #[argh(subcommand)]
    pub join: Option<EdgeJoinCmd>,
    /// config file (TOML); default: the built-in edge profile
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// built-in profile to run instead of a file (see `hive config --list`)
    #[argh(option)]
    pub profile: Option<String>,
    /// data directory, overriding the config's data_dir
    #[argh(option)]
    pub data_dir: Option<PathBuf>,
}

#[derive(FromArgs, Debug, Default, Clone)]
/// Join a cloud with a bootstrap token (a key and a request made here; the
/// key never leaves this machine), then run as an edge. Flags of `hive edge`
/// (--config, --profile, --data-dir) go before `join`.
#[argh(subcommand, name = "join")]
pub struct EdgeJoinCmd {
    /// the cloud's join endpoint, HOST:PORT (CloudHub's join_listen, port 10002 by default)
    #[argh(option)]
    pub server: String,
    /// the bootstrap token (`hive token create` prints it)
    #[argh(option)]
    pub token: String,
    /// sha256:<hex> of the cloud CA's public key (`hive token create --print-join-command` prints it)
    #[argh(option)]
    pub ca_cert_hash: String,
    /// this node's name (default: the config's node_name, else the hostname)
    #[argh(option)]
    pub node_name: Option<String>,
}

impl From<&CloudCmd> for RoleArgs {
    fn from(c: &CloudCmd) -> Self {
        RoleArgs { config: c.config.clone(), profile: c.profile.clone(), data_dir: c.data_dir.clone(), join: None }
    }
}

impl From<&EdgeCmd> for RoleArgs {
    fn from(c: &EdgeCmd) -> Self {
        RoleArgs { config: c.config.clone(), profile: c.profile.clone(), data_dir: c.data_dir.clone(), join: c.join.clone() }
    }
}

#[derive(FromArgs, Debug)]
/// Print version, git commit, target triple and enabled features.
#[argh(subcommand, name = "version")]
pub struct VersionCmd {}

#[derive(FromArgs, Debug)]
/// Print the effective config of a role or profile, or check a file.
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    /// role whose effective config to print: cloud or edge
    #[argh(option)]
    pub role: Option<String>,
    /// built-in profile to print
    #[argh(option)]
    pub profile: Option<String>,
    /// config file to print as it takes effect (defaults filled in)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// check FILE and exit: 0 if usable, 2 with the error otherwise
    #[argh(option)]
    pub check: Option<PathBuf>,
    /// list the built-in profiles
    #[argh(switch)]
    pub list: bool,
}

#[derive(FromArgs, Debug)]
/// Create `cloud` and `edge` links to this binary in DIR (for firmware images).
#[argh(subcommand, name = "install-links")]
pub struct InstallLinksCmd {
    /// directory to put the links in
    #[argh(positional)]
    pub dir: PathBuf,
    /// make hard links instead of symbolic links
    #[argh(switch)]
    pub hard: bool,
    /// replace existing files of those names
    #[argh(switch)]
    pub force: bool,
}

#[derive(FromArgs, Debug)]
/// Certificates for the cloud ⇄ edge tunnel.
#[argh(subcommand, name = "cert")]
pub struct CertCmd {
    #[argh(subcommand)]
    pub what: CertWhat,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum CertWhat {
    Node(CertNodeCmd),
    Revoke(CertRevokeCmd),
}

#[derive(FromArgs, Debug)]
/// Revoke every certificate of a node through the cloud's API: its session
/// closes and its handshakes are refused; its objects stay (to remove them
/// too: kubectl delete node NAME). A new `hive edge join` brings it back.
#[argh(subcommand, name = "revoke")]
pub struct CertRevokeCmd {
    /// node name
    #[argh(positional)]
    pub name: String,
    /// kubeconfig of the cloud's API (default $KUBECONFIG, else ./hive-data/cloud/kubeconfig)
    #[argh(option)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// Bootstrap tokens for `hive edge join` (Secrets of type
/// bootstrap.kubernetes.io/token in kube-system, as kubeadm keeps them).
#[argh(subcommand, name = "token")]
pub struct TokenCmd {
    #[argh(subcommand)]
    pub what: TokenWhat,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum TokenWhat {
    Create(TokenCreateCmd),
    List(TokenListCmd),
    Delete(TokenDeleteCmd),
}

#[derive(FromArgs, Debug)]
/// Create a token and print it.
#[argh(subcommand, name = "create")]
pub struct TokenCreateCmd {
    /// lifetime, e.g. 24h, 30m, 1h30m, 90s; 0 = never expires (default 24h)
    #[argh(option, default = "String::from(\"24h\")")]
    pub ttl: String,
    /// free text shown by `hive token list`
    #[argh(option, default = "String::new()")]
    pub description: String,
    /// joins the token may be used for (default: no limit)
    #[argh(option)]
    pub max_uses: Option<u64>,
    /// print the whole `hive edge join …` command, CA pin included
    #[argh(switch)]
    pub print_join_command: bool,
    /// join endpoint to put in that command (default: the API's host, port 10002)
    #[argh(option)]
    pub server: Option<String>,
    /// kubeconfig of the cloud's API (default $KUBECONFIG, else ./hive-data/cloud/kubeconfig)
    #[argh(option)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// List the tokens.
#[argh(subcommand, name = "list")]
pub struct TokenListCmd {
    /// kubeconfig of the cloud's API (default $KUBECONFIG, else ./hive-data/cloud/kubeconfig)
    #[argh(option)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// Delete a token (its id, or the whole token).
#[argh(subcommand, name = "delete")]
pub struct TokenDeleteCmd {
    /// token id (6 characters) or the token
    #[argh(positional)]
    pub id: String,
    /// kubeconfig of the cloud's API (default $KUBECONFIG, else ./hive-data/cloud/kubeconfig)
    #[argh(option)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// Sign a node certificate with the cloud's CA; writes node.pem, node.key, ca.pem.
#[argh(subcommand, name = "node")]
pub struct CertNodeCmd {
    /// node name (lowercase letters, digits, '-', '.')
    #[argh(positional)]
    pub name: String,
    /// directory holding the cloud's ca.pem and ca.key (default ./hive-data/cloud)
    #[argh(option, default = "PathBuf::from(\"./hive-data/cloud\")")]
    pub ca_dir: PathBuf,
    /// directory to write node.pem, node.key and ca.pem to (default ./hive-data/edge)
    #[argh(option, default = "PathBuf::from(\"./hive-data/edge\")")]
    pub out: PathBuf,
    /// validity in days (default 365)
    #[argh(option, default = "365")]
    pub days: i64,
}

#[derive(FromArgs, Debug)]
/// Benchmarks that write a report (text + JSON): `tunnel`, `meta`, `api`, `mqtt`, `edged`, `streams`, `footprint`, `workloads`.
#[argh(subcommand, name = "bench")]
pub struct BenchCmd {
    /// what to measure: tunnel, meta, api, mqtt, edged, streams, footprint, workloads or nodesets (sim-edges is the tunnel bench's helper)
    #[argh(positional)]
    pub what: String,
    /// numbers of simulated edges, comma-separated (tunnel; workloads: simulated nodes; default 100,1000)
    #[argh(option, default = "String::from(\"100,1000\")")]
    pub edges: String,
    /// durable upstream messages per edge (tunnel; default 100)
    #[argh(option, default = "100")]
    pub ups: u64,
    /// downstream rounds, one object per edge each (tunnel); writes seen by every watcher (api) (default 5)
    #[argh(option, default = "5")]
    pub rounds: u64,
    /// report directory (default ./bench-report)
    #[argh(option)]
    pub out: Option<PathBuf>,
    /// sim-edges: the cloud's CA directory
    #[argh(option)]
    pub ca_dir: Option<PathBuf>,
    /// sim-edges: the cloud's hub port on 127.0.0.1
    #[argh(option, default = "0")]
    pub port: u16,
    /// tunnel: websocket, quic or both (default websocket)
    #[argh(option, default = "String::from(\"websocket\")")]
    pub transport: String,
    /// sim-edges: the cloud's QUIC port on 127.0.0.1 (default 0: websocket)
    #[argh(option, default = "0")]
    pub quic_port: u16,
    /// edged, streams, footprint: the containerd CRI socket (default /run/containerd/containerd.sock)
    #[argh(option)]
    pub runtime_socket: Option<PathBuf>,
    /// footprint: run the edge from this binary (e.g. the static edge-only image; default this one)
    #[argh(option)]
    pub edge_bin: Option<PathBuf>,
    /// footprint: running pods to measure when a container runtime is there (default 50)
    #[argh(option, default = "50")]
    pub pods: usize,
    /// mqtt: messages per broker run (default 20000)
    #[argh(option, default = "20000")]
    pub messages: usize,
    /// api: concurrent watchers (default 1000)
    #[argh(option, default = "1000")]
    pub watchers: usize,
    /// meta: cached objects (default 10000); api: stored objects (default
    /// 100000); mqtt, footprint: devices (default 1000); edged: pods (default 50);
    /// streams: exec round trips (default 50);
    /// workloads: pods scheduled and Deployment replicas (default 1000);
    /// sim-edges: how many edges
    #[argh(option, default = "0")]
    pub count: usize,
}

/// What argv[0] asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `hive …`: subcommands.
    Hive,
    /// `cloud …` / `edge …`: that role directly.
    Role(&'static str),
}

/// Decide by the file name of argv[0].
pub fn invocation(argv0: &str) -> Result<Invocation, String> {
    let base = std::path::Path::new(argv0).file_name().and_then(|s| s.to_str()).unwrap_or(argv0);
    match base {
        "hive" => Ok(Invocation::Hive),
        "cloud" | "hive-cloud" => Ok(Invocation::Role("cloud")),
        "edge" | "hive-edge" => Ok(Invocation::Role("edge")),
        other => Err(format!("hive: unknown program name `{other}`; run this binary as one of: {}", PROGRAM_NAMES.join(", "))),
    }
}

/// Global verbosity taken out of the arguments: -v/-vv/--verbose, -q/-qq/--quiet.
/// Returns the remaining arguments and the net level (+ louder, - quieter).
pub fn take_verbosity(args: Vec<String>) -> (Vec<String>, i32) {
    let mut level = 0;
    let mut rest = Vec::with_capacity(args.len());
    let mut after_dashdash = false;
    for a in args {
        if after_dashdash {
            rest.push(a);
            continue;
        }
        match a.as_str() {
            "--" => {
                after_dashdash = true;
                rest.push(a);
            }
            "--verbose" => level += 1,
            "--quiet" => level -= 1,
            s if s.len() > 1 && s.starts_with('-') && !s.starts_with("--") && s[1..].chars().all(|c| c == 'v') => level += (s.len() - 1) as i32,
            s if s.len() > 1 && s.starts_with('-') && !s.starts_with("--") && s[1..].chars().all(|c| c == 'q') => level -= (s.len() - 1) as i32,
            _ => rest.push(a),
        }
    }
    (rest, level)
}

/// Split `--key=value` into `--key value` (argh only takes the latter).
pub fn split_equals(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut after_dashdash = false;
    for a in args {
        if !after_dashdash && a.starts_with("--") && a.len() > 2 {
            if let Some((k, v)) = a.split_once('=') {
                out.push(k.to_string());
                out.push(v.to_string());
                continue;
            }
        }
        if a == "--" {
            after_dashdash = true;
        }
        out.push(a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn argv0_names() {
        assert_eq!(invocation("/usr/bin/hive"), Ok(Invocation::Hive));
        assert_eq!(invocation("./edge"), Ok(Invocation::Role("edge")));
        assert_eq!(invocation("/sbin/hive-cloud"), Ok(Invocation::Role("cloud")));
        let e = invocation("/bin/fog").unwrap_err();
        assert!(e.contains("`fog`") && e.contains("hive, cloud, edge"), "{e}");
    }

    #[test]
    fn equals_is_split_but_not_after_dashdash() {
        assert_eq!(split_equals(v(&["edge", "--config=a=b.toml", "--", "--x=1"])), v(&["edge", "--config", "a=b.toml", "--", "--x=1"]));
        assert_eq!(split_equals(v(&["-x=1", "--=z"])), v(&["-x=1", "--", "z"]));
    }

    #[test]
    fn verbosity_is_counted_and_removed() {
        assert_eq!(take_verbosity(v(&["-vv", "edge", "-q", "--config", "f"])), (v(&["edge", "--config", "f"]), 1));
        assert_eq!(take_verbosity(v(&["--quiet", "cloud", "-qq"])), (v(&["cloud"]), -3));
        assert_eq!(take_verbosity(v(&["-vx", "--", "-v"])), (v(&["-vx", "--", "-v"]), 0));
    }

    #[test]
    fn argh_parses_roles_and_config() {
        let t = Top::from_args(&["hive"], &["edge", "--config", "e.toml", "--data-dir", "/d"]).unwrap();
        match t.cmd {
            Command::Edge(e) => {
                assert_eq!(e.config, Some(PathBuf::from("e.toml")));
                assert_eq!(e.data_dir, Some(PathBuf::from("/d")));
            }
            other => panic!("{other:?}"),
        }
        assert!(Top::from_args(&["hive"], &["warp"]).is_err());
    }
}
