//! Paged lists: `limit` and `continue`, as Kubernetes clients use them
//! (kubectl asks for 500 at a time). A continue token carries the revision
//! of the first page and the store key the next page starts at, in base64
//! JSON like Kubernetes' own; a token this server did not issue for this
//! list is a 400, never a wrong page.
//!
//! Unlike Kubernetes, later pages show the objects as they are now (the
//! store keeps no snapshot of a past revision to list from).
//!
//! Owns: the token and the page bounds. Must not touch the store.

use base64::Engine as _;
use serde_json::{json, Value};

use super::error::ApiError;
use super::select::{percent_decode, query_param};

/// Where a page starts and how long it is.
pub struct Page {
    pub limit: Option<usize>,
    /// Store key the page starts at (inclusive).
    pub start: Option<String>,
}

impl Page {
    pub fn of(query: &str, prefix: &str) -> Result<Page, ApiError> {
        let limit = match query_param(query, "limit") {
            None | Some("") | Some("0") => None,
            Some(s) => match s.parse::<usize>() {
                Ok(n) => Some(n),
                Err(_) => return Err(ApiError::bad(format!("limit `{s}`: must be a whole number, 1 or more (0 or none for everything)"))),
            },
        };
        let start = match query_param(query, "continue") {
            None | Some("") => None,
            Some(t) => Some(decode(&percent_decode(t), prefix)?),
        };
        Ok(Page { limit, start })
    }
}

/// The token for a next page starting at `key`, of a list first served at `rev`.
pub fn token(rev: u64, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"v": "meta.k8s.io/v1", "rv": rev, "start": key}).to_string())
}

fn decode(t: &str, prefix: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad("continue: the token is not one this server issued for this list; start the list again without it");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    match (v["v"].as_str(), v["rv"].as_u64(), v["start"].as_str()) {
        (Some("meta.k8s.io/v1"), Some(_), Some(start)) if start.starts_with(prefix) => Ok(start.to_string()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_tampering_is_refused() {
        let t = token(42, "configmaps/default/c7");
        let p = Page::of(&format!("limit=2&continue={t}"), "configmaps/default/").ok().unwrap();
        assert_eq!((p.limit, p.start.as_deref()), (Some(2), Some("configmaps/default/c7")));
        assert!(Page::of(&format!("continue={t}"), "secrets/default/").is_err(), "a token of another list");
        let mut tampered = t.clone().into_bytes();
        tampered[3] ^= 1;
        assert!(Page::of(&format!("continue={}", String::from_utf8(tampered).unwrap()), "configmaps/default/").is_err());
        assert!(Page::of("continue=bm90IGpzb24", "configmaps/default/").is_err(), "base64 of `not json`");
        for bad in ["limit=-1", "limit=ten", "limit=1.5"] {
            assert!(Page::of(bad, "x/").is_err(), "{bad}");
        }
        assert_eq!(Page::of("limit=0", "x/").ok().unwrap().limit, None);
    }
}
