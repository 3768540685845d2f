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
    std::fs::create_dir_all(data_dir).map_err(|e| DbError::Open { path: path.clone(), reason: format!("cannot create {}: {e}", data_dir.display()) })?;
    let cfg = sled::Config::new().path(&path).cache_capacity(cache_bytes).flush_every_ms(Some(1000)).mode(sled::Mode::LowSpace);
    // A database just closed in this process may still be locked for a moment
    // by sled's flusher thread: retry briefly rather than fail.
    let mut tries = 0;
    loop {
        match cfg.open() {
            Ok(db) => return Ok(db),
            Err(e) if tries < 50 && e.to_string().contains("lock") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(DbError::Open { path, reason: e.to_string() }),
        }
    }
}

/// Open the database like `open`, then `verify` it. A database that cannot
/// be opened or does not verify is moved aside to `db.corrupt-<ms>` (kept
/// for inspection, logged) and a fresh one is opened: for a cache the cloud
/// can rebuild, never a crash loop.
pub fn open_or_rebuild(data_dir: &Path, cache_bytes: u64, verify: impl Fn(&sled::Db) -> Result<(), DbError>) -> Result<sled::Db, DbError> {
    let why = match open(data_dir, cache_bytes) {
        Ok(db) => match verify(&db) {
            Ok(()) => return Ok(db),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let path = data_dir.join("db");
    let aside = data_dir.join(format!("db.corrupt-{}", crate::core::message::now_ms()));
    std::fs::rename(&path, &aside)
        .map_err(|e| DbError::Open { path: path.clone(), reason: format!("{why}; and it cannot be moved aside to {}: {e}", aside.display()) })?;
    log::error!(target: "store", "{why}: moved it aside to {} and starting with an empty cache; the cloud will resend what this node should hold", aside.display());
    open(data_dir, cache_bytes)
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
    bincode::decode_from_slice(b, bincode::config::standard()).map(|(v, _)| v).map_err(|e| DbError::Io(format!("undecodable value: {e}")))
}
