//! Query parameters and selectors of list and watch requests: label
//! selectors and field selectors (`a=b`, `a==b`, `a!=b`, comma-separated).
//!
//! Owns: parsing and matching them. Must not touch the store.

use serde_json::Value;

use super::error::ApiError;

/// Label selector terms, then field selector terms (the fields of `selectable_fields`).
pub struct Selectors {
    pub labels: Vec<(String, bool, String)>,
    pub fields: Vec<(String, bool, String)>,
}

/// The fields a field selector may name for `kind`, as Kubernetes allows them.
pub fn selectable_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Node" => &["metadata.name", "spec.unschedulable"],
        "Namespace" => &["metadata.name", "status.phase"],
        "Secret" => &["metadata.name", "metadata.namespace", "type"],
        "Event" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Device" => &["metadata.name", "metadata.namespace", "spec.nodeName"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// 400 naming the first field of `fields` that `kind` cannot be selected by.
pub fn check_fields(kind: &str, fields: &[(String, bool, String)]) -> Result<(), super::error::ApiError> {
    let ok = selectable_fields(kind);
    match fields.iter().find(|(k, _, _)| !ok.contains(&k.as_str())) {
        Some((k, _, _)) => Err(super::error::ApiError::bad(format!("fieldSelector `{k}`: {kind} objects can be selected by {} only", ok.join(", ")))),
        None => Ok(()),
    }
}

pub fn selected(v: &Value, sel: &Selectors) -> bool {
    labels_match(v, &sel.labels)
        && sel.fields.iter().all(|(k, eq, want)| {
            // An Event's `source` is its source component.
            let path = if k == "source" { "/source/component".to_string() } else { format!("/{}", k.replace('.', "/")) };
            let have = match v.pointer(&path) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                // An unset boolean is false, as Kubernetes compares it.
                _ if k == "spec.unschedulable" => "false".into(),
                _ => String::new(),
            };
            (have == *want) == *eq
        })
}

pub fn labels_match(v: &Value, selector: &[(String, bool, String)]) -> bool {
    let labels = v.pointer("/metadata/labels").and_then(Value::as_object);
    selector.iter().all(|(k, eq, want)| {
        let have = labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        if *eq {
            have == Some(want.as_str())
        } else {
            have != Some(want.as_str())
        }
    })
}

pub fn query_param<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&').find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(n) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=b,c!=d` (also `==`).
pub fn parse_selector(s: &str) -> Result<Vec<(String, bool, String)>, ApiError> {
    let s = percent_decode(s);
    s.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (k, eq, v) = if let Some((k, v)) = t.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = t.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = t.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad(format!("labelSelector `{t}`: only key=value, key==value and key!=value are supported")));
            };
            let k = k.trim();
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
                return Err(ApiError::bad(format!("selector `{t}`: `{k}` is not a valid key")));
            }
            Ok((k.to_string(), eq, v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors() {
        let v = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        assert!(labels_match(&v, &parse_selector("app%3Dweb,tier!=back").ok().unwrap()));
        assert!(!labels_match(&v, &parse_selector("app=db").ok().unwrap()));
        assert!(parse_selector("app in (a,b)").is_err());
        assert!(parse_selector("=").is_err(), "an empty key");
        assert!(parse_selector("a b=c").is_err());
    }
}
