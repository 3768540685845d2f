//! What this binary was built with: the cargo features that choose roles
//! and heavy modules (Cargo.toml's `[features]`), and the error for a role,
//! module or command that was left out. A board's firmware image is built
//! with only what it runs; asking it for something else is refused with
//! the feature's name, never skipped silently.
//!
//! Owns: those names and messages. Must not start anything.

use crate::config::{EdgeModule, Role};

/// The features compiled in, as `hive version` prints them.
pub const BUILT: &str = env!("HIVE_FEATURES");

/// The cargo feature a role needs.
pub fn of_role(role: Role) -> &'static str {
    match role {
        Role::Cloud => "cloud",
        Role::Edge => "edge",
    }
}

/// The cargo feature an edge module needs beyond `edge`, if any.
pub fn of_edge_module(m: EdgeModule) -> Option<&'static str> {
    match m {
        EdgeModule::Edged => Some("edged"),
        EdgeModule::EventBus => Some("eventbus"),
        EdgeModule::Dmi => Some("dmi"),
        EdgeModule::EdgeHub | EdgeModule::MetaManager | EdgeModule::DeviceTwin | EdgeModule::ServiceBus => None,
    }
}

/// Every feature that chooses what is compiled in, and whether it was.
const COMPILED: [(&str, bool); 7] = [
    ("cloud", cfg!(feature = "cloud")),
    ("edge", cfg!(feature = "edge")),
    ("edged", cfg!(feature = "edged")),
    ("eventbus", cfg!(feature = "eventbus")),
    ("dmi", cfg!(feature = "dmi")),
    ("quic", cfg!(feature = "quic")),
    ("bench", cfg!(feature = "bench")),
];

/// Whether `feature` was compiled in.
pub fn has(feature: &str) -> bool {
    COMPILED.iter().any(|(f, on)| *f == feature && *on)
}

/// The message for something that needs `feature`, which this build lacks.
pub fn missing(what: &str, feature: &str) -> String {
    format!(
        "{what} is not in this build of hive (built with features: {BUILT}); it needs the cargo feature `{feature}`: \
         cargo build --release --features {feature}, or a full image"
    )
}

/// None if the role is built in, else the error naming its feature.
pub fn missing_role(role: Role) -> Option<String> {
    let f = of_role(role);
    (!has(f)).then(|| missing(&format!("the {role} role"), f))
}

/// None if the edge module is built in, else the error naming its feature.
pub fn missing_edge_module(m: EdgeModule) -> Option<String> {
    let f = of_edge_module(m).unwrap_or("edge");
    (!has(f)).then(|| missing(&format!("edge module `{}`", m.name()), f))
}

#[cfg(all(test, feature = "cloud", feature = "edged", feature = "eventbus", feature = "dmi", feature = "bench"))]
mod tests {
    use super::*;

    #[test]
    fn every_edge_module_is_built_in_a_default_build_and_messages_name_the_feature() {
        for m in EdgeModule::ALL {
            assert_eq!(missing_edge_module(m), None, "{m:?}");
        }
        assert!(has("cloud") && has("edge") && has("edged") && has("eventbus") && has("dmi") && has("bench"));
        assert!(!has("nonsense"));
        let e = missing("edge module `edged`", "edged");
        assert!(e.contains("`edged`") && e.contains("--features edged"), "{e}");
    }
}
