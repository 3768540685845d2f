//! Opening a role's sled database: one per role under its data dir, with a
//! small cache. Each module opens only its own trees from it.
//!
//! Owns: the sled configuration and the errors of opening it. Must not know
//! any tree's contents.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sled database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("sled database: {0}")]
    Io(String),
}

impl From<sled::Error> for DbError {
    fn from(e: sled::Error) -> Self {
        DbError::Io(e.to_string())
    }
}

/// Open (creating) the database at `<data_dir>/db` with `cache_bytes` of cache.
pub fn open(data_dir: &Path, cache_bytes: u64) -> Result<sled::Db, DbError> {
    let path = data_dir.join("db");
    std::fs::create_dir_all(data_dir)
        .map_err(|e| DbError::Open { path: path.clone(), reason: format!("cannot create {}: {e}", data_dir.display()) })?;
    sled::Config::new()
        .path(&path)
        .cache_capacity(cache_bytes)
        .flush_every_ms(Some(1000))
        .mode(sled::Mode::LowSpace)
        .open()
        .map_err(|e| DbError::Open { path, reason: e.to_string() })
}

/// Make everything written so far durable, on smol's blocking pool (sled's
/// own `flush_async` can stall when many databases share its thread pool).
pub async fn flush(db: &sled::Db) -> Result<(), DbError> {
    let db = db.clone();
    smol::unblock(move || db.flush()).await.map(|_| ()).map_err(DbError::from)
}

/// bincode with hive's settings, for values kept in sled.
pub fn to_bytes<T: bincode::Encode>(v: &T) -> Vec<u8> {
    bincode::encode_to_vec(v, bincode::config::standard()).unwrap_or_default()
}

/// Decode a value kept in sled; a corrupt value is an error, never a panic.
pub fn from_bytes<T: bincode::Decode<()>>(b: &[u8]) -> Result<T, DbError> {
    bincode::decode_from_slice(b, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| DbError::Io(format!("undecodable value: {e}")))
}
