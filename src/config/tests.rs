//! Config loading as a spec: defaults equal the shipped profiles, and every
//! kind of bad input names the file, the line and the key.

use super::*;
use std::path::PathBuf;

fn err(role: Option<Role>, text: &str) -> (usize, String) {
    match parse(role, "t.toml", text) {
        Err(e @ ConfigError::Invalid { line, .. }) => (line, e.to_string()),
        Err(e) => (0, e.to_string()),
        Ok(c) => panic!("accepted: {c:?}"),
    }
}

#[test]
fn shipped_profiles_equal_the_defaults() {
    let cloud = load(Some(Role::Cloud), Source::Default).unwrap();
    assert_eq!(cloud, RoleConfig::Cloud(CloudConfig::default()));
    let edge = load(Some(Role::Edge), Source::Default).unwrap();
    assert_eq!(edge, RoleConfig::Edge(EdgeConfig::default()));
    for (name, _) in PROFILES {
        load(None, Source::Profile(name)).unwrap_or_else(|e| panic!("profile {name}: {e}"));
    }
}

#[test]
fn embedded_defaults_are_the_documented_ones() {
    let RoleConfig::Cloud(c) = load(Some(Role::Cloud), Source::Default).unwrap() else { panic!() };
    assert_eq!(c.cloudhub.listen.to_string(), "0.0.0.0:10000");
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:10350");
    assert_eq!(c.data_dir, PathBuf::from("./hive-data/cloud"));
    let RoleConfig::Edge(e) = load(Some(Role::Edge), Source::Default).unwrap() else { panic!() };
    assert_eq!(e.edgehub.server.to_string(), "127.0.0.1:10000");
    assert_eq!(e.metaserver.listen.to_string(), "127.0.0.1:10550");
    assert_eq!(e.eventbus.listen.to_string(), "127.0.0.1:1883");
    assert_eq!(e.data_dir, PathBuf::from("./hive-data/edge"));
}

#[test]
fn a_partial_file_keeps_defaults_for_the_rest() {
    let c = parse(Some(Role::Edge), "t.toml", "[edgehub]\nserver = \"cloud.example:443\"\n").unwrap();
    let RoleConfig::Edge(e) = c else { panic!() };
    assert_eq!(e.edgehub.server, HostPort { host: "cloud.example".into(), port: 443 });
    assert_eq!(e.runtime, RuntimeConfig::default());
}

#[test]
fn unknown_key_names_line_and_key() {
    let (line, msg) = err(Some(Role::Cloud), "role = \"cloud\"\n\n[cloudhub]\nlisten = \"0.0.0.0:1\"\nlistne = 3\n");
    assert_eq!(line, 5, "{msg}");
    assert!(msg.starts_with("t.toml:5:"), "{msg}");
    assert!(msg.contains("listne"), "{msg}");
}

#[test]
fn unknown_top_level_key_and_edge_key_in_cloud_file() {
    let (line, msg) = err(Some(Role::Cloud), "role = \"cloud\"\n[edgehub]\nserver = \"a:1\"\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("edgehub"), "{msg}");
}

#[test]
fn wrong_type_names_the_key_path() {
    let (line, msg) = err(Some(Role::Edge), "[runtime]\nchannel_capacity = \"big\"\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("runtime.channel_capacity"), "{msg}");
}

#[test]
fn a_bad_value_in_an_array_over_lines_names_the_array() {
    let (line, msg) = err(Some(Role::Edge), "# modules\n\nmodules = [\n  \"edgehub\",\n  \"warp\",\n]\n[dmi]\nsocket = \"d.sock\"\n");
    assert_eq!(line, 5, "{msg}");
    assert!(msg.contains("modules: unknown variant `warp`"), "{msg}");
    let (line, msg) = err(Some(Role::Edge), "[dmi] # mappers\nsocket = \"d.sock\"\n\n[edged]  # pods\nmax_pods = \"many\"\n");
    assert_eq!(line, 5, "{msg}");
    assert!(msg.contains("edged.max_pods: invalid type"), "{msg}");
    let (line, msg) = err(Some(Role::Edge), "modules = [\"edgehub\",\n  \"a=b\",\n]\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("modules: unknown variant `a=b`"), "{msg}");
}

#[test]
fn bad_socket_address_names_the_key() {
    let (line, msg) = err(Some(Role::Cloud), "# c\n[api]\nlisten = \"localhost\"\n");
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("api.listen"), "{msg}");
}

#[test]
fn bad_host_port_names_the_key() {
    for bad in ["\"cloud\"", "\"cloud:0\"", "\":80\"", "\"a b:1\"", "\"h:99999\""] {
        let (line, msg) = err(Some(Role::Edge), &format!("\n[edgehub]\nserver = {bad}\n"));
        assert_eq!(line, 3, "{bad}: {msg}");
        assert!(msg.contains("edgehub.server") && msg.contains("host:port"), "{bad}: {msg}");
    }
}

#[test]
fn unknown_module_lists_the_known_ones() {
    let (line, msg) = err(Some(Role::Edge), "modules = [\"edgehub\", \"warpdrive\"]\n");
    assert_eq!(line, 1, "{msg}");
    assert!(msg.contains("warpdrive") && msg.contains("metamanager"), "{msg}");
}

#[test]
fn duplicate_module_is_refused() {
    let (line, msg) = err(Some(Role::Edge), "\nmodules = [\"edgehub\", \"edgehub\"]\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("modules") && msg.contains("twice"), "{msg}");
}

#[test]
fn zero_values_are_refused_with_their_key() {
    let (line, msg) = err(Some(Role::Cloud), "[runtime]\nrequest_timeout_ms = 5\nshutdown_timeout_ms = 0\n");
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("runtime.shutdown_timeout_ms"), "{msg}");
    let (_, msg) = err(Some(Role::Cloud), "runtime.channel_capacity = 0\n");
    assert!(msg.contains("runtime.channel_capacity"), "{msg}");
}

#[test]
fn role_mismatch_and_missing_role() {
    let (line, msg) = err(Some(Role::Cloud), "\nrole = \"edge\"\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("edge role") && msg.contains("hive cloud"), "{msg}");
    let (_, msg) = err(None, "data_dir = \"/x\"\n");
    assert!(msg.contains("role"), "{msg}");
    let (_, msg) = err(None, "role = \"fog\"\n");
    assert!(msg.contains("role") && msg.contains("fog"), "{msg}");
}

#[test]
fn syntax_error_names_the_line() {
    let (line, msg) = err(Some(Role::Edge), "[edgehub]\nserver = \"a:1\n");
    assert_eq!(line, 2, "{msg}");
}

#[test]
fn unreadable_file_and_unknown_profile() {
    let e = load(Some(Role::Edge), Source::File(Path::new("/nonexistent/hive.toml"))).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/hive.toml"), "{e}");
    let e = load(None, Source::Profile("nope")).unwrap_err();
    assert!(e.to_string().contains("nope") && e.to_string().contains("cloud"), "{e}");
}

#[test]
fn effective_config_round_trips() {
    let c = load(Some(Role::Edge), Source::Default).unwrap();
    let again = parse(None, "printed", &c.to_toml()).unwrap();
    assert_eq!(c, again);
}

#[test]
fn duplicate_key_names_the_key() {
    let (line, msg) = err(Some(Role::Edge), "[edgehub]\nping_interval_s = 1\nping_interval_s = 2\n");
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("ping_interval_s") && msg.contains("duplicate"), "{msg}");
}
