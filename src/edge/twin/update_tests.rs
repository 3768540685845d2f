use super::*;
use serde_json::json;

fn dev() -> Device {
    Device { id: "default/thermo".into(), name: "thermo".into(), ..Default::default() }
}

fn twin(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn a_new_key_is_added_whole_and_a_later_write_shows_only_what_it_wrote() {
    let mut d = dev();
    let o = edge_update(&mut d, &twin(json!({"temperature": {"actual": {"value": "23.5"}, "metadata": {"type": "float"}}})), 100).unwrap();
    assert_eq!(o.result["temperature"], json!({"actual": {"value": "23.5", "metadata": {"timestamp": 100}}, "optional": true, "metadata": {"type": "float"}}));
    assert_eq!(o.document["temperature"]["last"], Value::Null);
    let o = edge_update(&mut d, &twin(json!({"temperature": {"expected": {"value": "25"}}})), 200).unwrap();
    assert_eq!(o.result["temperature"], json!({"expected": {"value": "25", "metadata": {"timestamp": 200}}, "optional": true, "metadata": {"type": "float"}}));
    assert_eq!(o.document["temperature"]["last"]["actual"]["value"], "23.5");
    assert_eq!(o.document["temperature"]["current"]["expected"]["value"], "25");
    let (tw, delta) = d.delta().unwrap();
    assert_eq!(Value::Object(delta), json!({"temperature": "25"}));
    assert_eq!(tw["temperature"]["actual"]["value"], "23.5");
    assert_eq!(d.twins["temperature"].expected_version, Some(Version { cloud: 0, edge: 1 }));
    assert_eq!(d.twins["temperature"].actual_version, Some(Version { cloud: 0, edge: 1 }));
    // The same value again is still a write.
    let o = edge_update(&mut d, &twin(json!({"temperature": {"actual": {"value": "23.5"}}})), 300).unwrap();
    assert_eq!(o.changed, vec!["temperature"]);
    assert_eq!(d.twins["temperature"].actual_version, Some(Version { cloud: 0, edge: 2 }));
    // Nothing provided: no change.
    assert!(edge_update(&mut d, &twin(json!({"temperature": {}})), 400).unwrap().changed.is_empty());
}

#[test]
fn a_bad_key_value_or_type_rejects_the_whole_request() {
    let mut d = dev();
    edge_update(&mut d, &twin(json!({"t": {"actual": {"value": "1"}, "metadata": {"type": "int"}}})), 1).unwrap();
    let before = d.clone();
    let cases = [
        (json!({"ok": {"actual": {"value": "1"}}, "t": {"actual": {"value": "hot"}}}), 400, "the value is not int or integer"),
        (json!({"a b": {"actual": {"value": "1"}}}), 400, KEY_REASON),
        (json!({"t": {"actual": {"value": "23.5 C"}}}), 400, VALUE_REASON),
        (json!({"t": {"actual": {"value": 5}}}), 400, UNMARSHAL),
        (json!({"t": {"optional": "yes"}}), 400, UNMARSHAL),
        (json!({"t": 7}), 400, UNMARSHAL),
        (json!({"n": {"actual": {"value": "1"}, "metadata": {"type": "double"}}}), 400, "the value type is not allowed"),
    ];
    for (req, code, reason) in cases {
        assert_eq!(edge_update(&mut d, &twin(req.clone()), 2).unwrap_err(), (code, reason.to_string()), "{req}");
        assert_eq!(d, before, "nothing applied for {req}");
    }
}

#[test]
fn deletes_tombstone_optional_twins_only_and_an_update_revives() {
    let mut d = dev();
    edge_update(&mut d, &twin(json!({"a": {"actual": {"value": "1"}}, "b": {"actual": {"value": "2"}, "optional": false}})), 1).unwrap();
    let o = edge_update(&mut d, &twin(json!({"a": null, "b": null, "nope": null})), 2).unwrap();
    assert_eq!(Value::Object(o.result), json!({"a": null}));
    assert_eq!(o.document["a"]["current"], Value::Null);
    assert!(d.twins["a"].deleted && !d.twins["b"].deleted);
    assert!(!d.twins_json().contains_key("a"));
    let o = edge_update(&mut d, &twin(json!({"a": {"actual": {"value": "3"}}})), 3).unwrap();
    assert_eq!(o.document["a"]["last"], Value::Null);
    assert_eq!(d.twins["a"].ty, "string");
    // optional only goes true -> false
    edge_update(&mut d, &twin(json!({"b": {"optional": true}})), 4).unwrap();
    assert!(!d.twins["b"].optional);
}

#[test]
fn cloud_desired_sets_expected_once_per_version_and_sync_refuses_stale_versions() {
    let mut d = dev();
    let props = vec![
        Desired { name: "temp".into(), value: Some("25".into()), ty: "int".into() },
        Desired { name: "mode".into(), value: Some("x y".into()), ty: "string".into() },
    ];
    let (o, skipped) = cloud_desired(&mut d, 7, &props, 10);
    assert_eq!((o.changed, skipped), (vec!["temp".to_string()], vec!["mode".to_string()]));
    assert_eq!(d.twins["temp"].expected_version, Some(Version { cloud: 7, edge: 0 }));
    assert!(cloud_desired(&mut d, 7, &props, 11).0.changed.is_empty(), "same version: nothing");
    assert_eq!(d.delta().unwrap().1["temp"], "25");
    edge_update(&mut d, &twin(json!({"temp": {"actual": {"value": "25"}}})), 12).unwrap();
    assert!(d.delta().is_none());

    let stale = json!({"temp": {"expected": {"value": "30"}, "expected_version": {"cloud": 6, "edge": 0}}});
    let before = d.clone();
    assert_eq!(cloud_sync(&mut d, &twin(stale), 13).unwrap_err().0, 409);
    assert_eq!(d, before);
    assert_eq!(cloud_sync(&mut d, &twin(json!({"temp": {"expected": {"value": "30"}}})), 13).unwrap_err().0, 400);
    let fresh = json!({"temp": {"expected": {"value": "30"}, "expected_version": {"cloud": 8, "edge": 0}}});
    cloud_sync(&mut d, &twin(fresh), 14).unwrap();
    assert_eq!(d.twins["temp"].expected_value(), "30");
}

#[test]
fn twin_field_reasons() {
    assert_eq!(twin_field(&json!({})).unwrap_err().1, "Update twin error, key:twin does not exist");
    assert_eq!(twin_field(&json!({"twin": null})).unwrap_err().1, "Update twin error, key:twin does not exist");
    assert!(twin_field(&json!({"twin": 1})).is_err());
    assert!(state_ok("ONLINE") && state_ok("unhealthy") && !state_ok("disconnected"));
}
