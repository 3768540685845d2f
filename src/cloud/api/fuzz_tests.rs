//! Fuzzing what an API client sends: paths, selectors and JSON bodies.
//! Never a panic; an object `prepare` accepts carries the endpoint's kind,
//! apiVersion and a valid name, whatever the body said.

use serde_json::Value;

use super::object::prepare;
use super::route::{route, valid_name};
use super::select::parse_selector;
use crate::fuzz::Fuzzer;

fn seeds() -> Vec<Vec<u8>> {
    [
        "/api/v1/namespaces/default/pods\nlabelSelector=app%3Dweb,tier!=db\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"nodeName\":\"edge-1\"}}",
        "/api/v1/namespaces/default/configmaps/cfg\nfieldSelector=metadata.name==cfg\n{\"metadata\":{\"name\":\"cfg\"},\"data\":{\"k\":\"v\"}}",
        "/api/v1/namespaces/default/secrets\n\n{\"metadata\":{\"generateName\":\"s-\"},\"data\":{\"p\":\"aHVudGVyMg==\"}}",
        "/api/v1/nodes/edge-1/status\n\n{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
        "/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/thermo\na=b\n{\"apiVersion\":\"devices.kubeedge.io/v1beta1\",\"kind\":\"Device\",\"metadata\":{\"name\":\"thermo\",\"namespace\":\"default\"}}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn api_paths_selectors_and_bodies_never_panic_and_accepted_objects_are_well_formed() {
    let mut f = Fuzzer::new("api", seeds());
    f.run(|bytes| {
        let text = String::from_utf8_lossy(bytes);
        let mut parts = text.splitn(3, '\n');
        let (path, query, body) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let sel = match parse_selector(query) {
            Ok(s) => format!("sel {}", s.len().min(3)),
            Err(_) => "sel err".into(),
        };
        let t = match route(path) {
            Ok(t) => t,
            Err(e) => return format!("{sel} route {}", e.0.as_u16()),
        };
        let Ok(v) = serde_json::from_str::<Value>(body) else { return format!("{sel} {} bad json", t.res.plural) };
        match prepare(&t, v, t.name.is_none()) {
            Ok((name, obj)) => {
                assert!(valid_name(&name), "accepted name `{name}`");
                assert_eq!(obj["kind"], t.res.kind);
                assert_eq!(obj["apiVersion"], t.res.api_version());
                assert_eq!(obj["metadata"]["name"], name.as_str());
                format!("{sel} {} ok", t.res.plural)
            }
            Err(e) => format!("{sel} {} {}", t.res.plural, e.0.as_u16()),
        }
    });
    assert!(f.outcomes.len() >= 10, "the fuzzer reached only {:?}", f.outcomes);
}
