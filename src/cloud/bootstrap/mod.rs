//! Bootstrap tokens, as kubeadm keeps them: Secrets of type
//! `bootstrap.kubernetes.io/token` named `bootstrap-token-<id>` in
//! `kube-system`, the token being `<id>.<secret>` (6 and 16 characters of
//! `[a-z0-9]`), with `expiration` (RFC 3339) and `description`; hive adds
//! `max-uses` and the count `uses`. Visible and deletable with kubectl.
//! `hive token …` (cli.rs) writes them through the API; CloudHub's join
//! endpoint checks and spends them here.
//!
//! Owns: the token format and the rules (expired, used up, deleted, wrong
//! secret). Must not log a token's secret, issue certificates or serve HTTP.

pub mod cli;
pub mod client;

use base64::Engine as _;
use serde_json::{json, Value};

use super::store::{Store, StoreError};

pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const NAMESPACE: &str = "kube-system";

/// Store key of the Secret of token `id`.
pub fn key(id: &str) -> String {
    format!("secrets/{NAMESPACE}/bootstrap-token-{id}")
}

fn valid_part(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Split `<id>.<secret>`; the error never repeats the secret.
pub fn parse(token: &str) -> Result<(&str, &str), String> {
    match token.split_once('.') {
        Some((id, secret)) if valid_part(id, 6) && valid_part(secret, 16) => Ok((id, secret)),
        _ => Err("the token is not of the form <6 chars>.<16 chars> of [a-z0-9] (as `hive token create` prints it)".into()),
    }
}

/// A new random token (rejection sampling: every character equally likely).
pub fn generate() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let rng = ring::rand::SystemRandom::new();
    let mut s = String::with_capacity(22);
    while s.len() < 22 {
        let mut raw = [0u8; 32];
        ring::rand::SecureRandom::fill(&rng, &mut raw).map_err(|_| "no system randomness for a token".to_string())?;
        s.extend(raw.iter().filter(|b| usize::from(**b) < 252).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).take(22 - s.len()));
    }
    Ok(format!("{}.{}", &s[..6], &s[6..]))
}

/// The Secret for a new token.
pub fn secret(token: &str, expiration: Option<&str>, description: &str, max_uses: Option<u64>) -> Value {
    let (id, sec) = parse(token).unwrap_or(("", ""));
    let b = |s: &str| Value::String(base64::engine::general_purpose::STANDARD.encode(s));
    let mut data = serde_json::Map::new();
    data.insert("token-id".into(), b(id));
    data.insert("token-secret".into(), b(sec));
    data.insert("usage-bootstrap-authentication".into(), b("true"));
    data.insert("usage-bootstrap-signing".into(), b("true"));
    data.insert("auth-extra-groups".into(), b("system:bootstrappers:hive:default-node-token"));
    if let Some(e) = expiration {
        data.insert("expiration".into(), b(e));
    }
    if !description.is_empty() {
        data.insert("description".into(), b(description));
    }
    if let Some(m) = max_uses {
        data.insert("max-uses".into(), b(&m.to_string()));
        data.insert("uses".into(), b("0"));
    }
    json!({"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": NAMESPACE}, "data": data})
}

/// One field of a token Secret's `data`, decoded.
pub fn field(secret: &Value, name: &str) -> Option<String> {
    let b = secret["data"][name].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    String::from_utf8(raw).ok()
}

/// Why a token was refused (said to the edge and logged with the token id only).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed(String),
    Unknown(String),
    WrongSecret(String),
    Expired(String, String),
    UsedUp(String, u64),
    NotForAuthentication(String),
    Store(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Malformed(why) => f.write_str(why),
            Refused::Unknown(id) => write!(f, "token {id} is not known to the cloud (deleted, or never created: `hive token list`)"),
            Refused::WrongSecret(id) => write!(f, "token {id}: the secret part does not match"),
            Refused::Expired(id, at) => write!(f, "token {id} expired at {at}; create a new one with `hive token create`"),
            Refused::UsedUp(id, n) => write!(f, "token {id} has been used its {n} allowed times; create a new one with `hive token create`"),
            Refused::NotForAuthentication(id) => write!(f, "token {id} is not marked usage-bootstrap-authentication"),
            Refused::Store(e) => write!(f, "cloud store: {e}"),
        }
    }
}

/// A token that was accepted: its id and when its Secret was created.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    pub created: Option<i64>,
}

/// Check a presented token against the store, and if `spend`, count one
/// use (compare-and-swap, so two joins cannot both take the last use).
pub fn check(store: &dyn Store, token: &str, now_s: i64, spend: bool) -> Result<Accepted, Refused> {
    let (id, presented) = parse(token).map_err(Refused::Malformed)?;
    for _ in 0..8 {
        let stored = match store.get(&key(id)) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(Refused::Unknown(id.into())),
            Err(e) => return Err(Refused::Store(e.to_string())),
        };
        let mut v: Value = serde_json::from_slice(&stored.value).map_err(|e| Refused::Store(e.to_string()))?;
        if v["type"] != SECRET_TYPE {
            return Err(Refused::Unknown(id.into()));
        }
        let secret = field(&v, "token-secret").unwrap_or_default();
        let same = secret.len() == presented.len() && secret.bytes().zip(presented.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
        if !same {
            return Err(Refused::WrongSecret(id.into()));
        }
        if field(&v, "usage-bootstrap-authentication").as_deref() != Some("true") {
            return Err(Refused::NotForAuthentication(id.into()));
        }
        if let Some(exp) = field(&v, "expiration") {
            match crate::kube::parse_rfc3339(&exp) {
                Some(t) if t > now_s => {}
                _ => return Err(Refused::Expired(id.into(), exp)),
            }
        }
        let max = field(&v, "max-uses").and_then(|m| m.parse::<u64>().ok());
        let uses = field(&v, "uses").and_then(|m| m.parse::<u64>().ok()).unwrap_or(0);
        if let Some(max) = max {
            if uses >= max {
                return Err(Refused::UsedUp(id.into(), max));
            }
        }
        let accepted = Accepted { id: id.into(), created: v["metadata"]["creationTimestamp"].as_str().and_then(crate::kube::parse_rfc3339) };
        if !spend || max.is_none() {
            return Ok(accepted);
        }
        v["data"]["uses"] = Value::String(base64::engine::general_purpose::STANDARD.encode((uses + 1).to_string()));
        match store.update(&key(id), v.to_string().as_bytes(), Some(stored.rev)) {
            Ok(_) => return Ok(accepted),
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Err(Refused::Unknown(id.into())),
            Err(e) => return Err(Refused::Store(e.to_string())),
        }
    }
    Err(Refused::Store(format!("token {id} is being changed by others; try again")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::sled_store::SledStore;

    #[test]
    fn tokens_are_checked_spent_and_refused_for_each_reason() {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(d.path()).open().unwrap();
        let s = SledStore::open(&db, 100).unwrap();
        let t = generate().unwrap();
        assert!(parse(&t).is_ok(), "{t}");
        let (id, _) = parse(&t).unwrap();
        s.create(&key(id), secret(&t, Some("2100-01-01T00:00:00Z"), "d", Some(2)).to_string().as_bytes()).unwrap();
        let now = 1_900_000_000;
        assert_eq!(check(&s, &t, now, false).unwrap().id, id);
        check(&s, &t, now, true).unwrap();
        check(&s, &t, now, true).unwrap();
        assert_eq!(check(&s, &t, now, true), Err(Refused::UsedUp(id.into(), 2)));
        let wrong = format!("{id}.{}", "0".repeat(16));
        assert_eq!(check(&s, &wrong, now, false), Err(Refused::WrongSecret(id.into())));
        assert!(matches!(check(&s, "abc", now, false), Err(Refused::Malformed(_))));
        assert_eq!(check(&s, "zzzzzz.0123456789abcdef", now, false), Err(Refused::Unknown("zzzzzz".into())));
        let old = generate().unwrap();
        let (oid, _) = parse(&old).unwrap();
        s.create(&key(oid), secret(&old, Some("2020-01-01T00:00:00Z"), "", None).to_string().as_bytes()).unwrap();
        assert!(matches!(check(&s, &old, now, true), Err(Refused::Expired(..))));
        assert!(!Refused::WrongSecret(id.into()).to_string().contains(parse(&t).unwrap().1), "never the secret");
    }
}
