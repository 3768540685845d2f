//! Status writes by controllers: read an object, let a closure change its
//! `.status` (and only that), write it back with compare-and-swap, retry
//! on a conflict with a concurrent writer. This is how edge reports and the
//! node lifecycle land in the store; a spec is never touched here.
//!
//! Owns: the read-modify-CAS loop. Must not decide what a status says.

use serde_json::Value;

use super::store::{Store, StoreError};

/// Attempts before a conflict is given up (each re-reads the object).
const ATTEMPTS: usize = 5;

/// What became of a status write.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Stored at this revision.
    At(u64),
    /// The closure changed nothing, so nothing was written.
    Unchanged,
}

/// Apply `change` to the `.status` of the object at `key`. `change` gets the
/// whole object (to check ownership, e.g. `spec.nodeName`) read-only and its
/// status to edit; it returns Err(reason) to refuse.
pub fn update_status<F>(store: &dyn Store, key: &str, mut change: F) -> Result<Written, StatusError>
where
    F: FnMut(&Value, &mut Value) -> Result<(), String>,
{
    for _ in 0..ATTEMPTS {
        let cur = store.get(key)?.ok_or_else(|| StatusError::NotFound(key.to_string()))?;
        let mut obj: Value = serde_json::from_slice(&cur.value).map_err(|e| StatusError::Corrupt(key.to_string(), e.to_string()))?;
        let before = obj.get("status").cloned().unwrap_or(Value::Null);
        let mut status = if before.is_object() { before.clone() } else { Value::Object(Default::default()) };
        change(&obj, &mut status).map_err(StatusError::Refused)?;
        if status == before {
            return Ok(Written::Unchanged);
        }
        let Some(o) = obj.as_object_mut() else {
            return Err(StatusError::Corrupt(key.to_string(), "not a JSON object".into()));
        };
        o.insert("status".into(), status);
        let bytes = serde_json::to_vec(&obj).map_err(|e| StatusError::Corrupt(key.to_string(), e.to_string()))?;
        match store.update(key, &bytes, Some(cur.rev)) {
            Ok(rev) => return Ok(Written::At(rev)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StatusError::Busy(key.to_string()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}: stored object is not valid JSON: {1}")]
    Corrupt(String, String),
    #[error("{0}: gave up after {ATTEMPTS} conflicting concurrent writes")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;
    use crate::kube::merge;
    use serde_json::json;

    fn store() -> SledStore {
        let db = sled::Config::new().temporary(true).open().unwrap();
        SledStore::open(&db, 100).unwrap()
    }

    #[test]
    fn only_status_changes_and_refusals_write_nothing() {
        let s = store();
        s.create("pods/default/web", br#"{"metadata":{"name":"web"},"spec":{"nodeName":"e1"}}"#).unwrap();
        let w = update_status(&s, "pods/default/web", |obj, st| {
            assert_eq!(obj.pointer("/spec/nodeName"), Some(&json!("e1")));
            merge(st, &json!({"phase": "Running"}));
            Ok(())
        })
        .unwrap();
        assert!(matches!(w, Written::At(_)));
        let v: Value = serde_json::from_slice(&s.get("pods/default/web").unwrap().unwrap().value).unwrap();
        assert_eq!(v, json!({"metadata":{"name":"web"},"spec":{"nodeName":"e1"},"status":{"phase":"Running"}}));
        let rev = s.revision().unwrap();
        assert_eq!(
            update_status(&s, "pods/default/web", |_, st| {
                merge(st, &json!({"phase": "Running"}));
                Ok(())
            })
            .unwrap(),
            Written::Unchanged
        );
        assert_eq!(update_status(&s, "pods/default/web", |_, _| Err("not yours".into())), Err(StatusError::Refused("not yours".into())));
        assert_eq!(update_status(&s, "pods/default/nope", |_, _| Ok(())), Err(StatusError::NotFound("pods/default/nope".into())));
        assert_eq!(s.revision().unwrap(), rev, "nothing written");
    }
}
