//! Opening a role's sled database: one per role under its data dir, with a
//! small cache. Each module opens only its own trees from it.
//!
//! Owns: the sled configuration and the errors of opening it. Must not know
//! any tree's contents.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Copies of a corrupt database kept for inspection (the newest ones): one
/// of a cache the cloud can resend; more of an outbox, which may hold the
/// only record of reports never delivered.
pub fn corrupt_copies_kept(name: &str) -> usize {
    if name == "outbox" {
        5
    } else {
        1
    }
}

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

/// Files a role creates from now on are private to its user (0600 files,
/// 0700 directories): objects, secrets and keys at rest are nobody else's.
/// Files meant for others (a pod's volume files) set their mode explicitly.
pub fn private_files() {
    // SAFETY: umask only sets the process's file creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Make `path` (a file or a whole tree) private: directories 0700, files 0600.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() {
        if meta.permissions().mode() & 0o777 != 0o700 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        }
        for e in std::fs::read_dir(path)? {
            make_private(&e?.path())?;
        }
    } else if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Open (creating) the database at `<data_dir>/db` with `cache_bytes` of cache.
/// The data dir is made 0700 and the database's files 0600 (also when an
/// older hive created them readable by others).
pub fn open(data_dir: &Path, cache_bytes: u64) -> Result<sled::Db, DbError> {
    open_named(data_dir, "db", cache_bytes)
}

/// As `open`, for the database `<data_dir>/<name>`.
pub fn open_named(data_dir: &Path, name: &str, cache_bytes: u64) -> Result<sled::Db, DbError> {
    let path = data_dir.join(name);
    std::fs::create_dir_all(data_dir).map_err(|e| DbError::Open { path: path.clone(), reason: format!("cannot create {}: {e}", data_dir.display()) })?;
    // Tightened where this user may; a directory it does not own is warned about, not refused.
    if let Err(e) = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)) {
        log::warn!(target: "store", "cannot make {} private (0700): {e}; other users may read what it holds", data_dir.display());
    }
    if path.exists() {
        if let Err(e) = make_private(&path) {
            log::warn!(target: "store", "cannot make the files of {} private (0600): {e}", path.display());
        }
    }
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
pub fn open_or_rebuild(data_dir: &Path, name: &str, cache_bytes: u64, verify: impl Fn(&sled::Db) -> Result<(), DbError>) -> Result<sled::Db, DbError> {
    prune_corrupt_copies(data_dir, name, corrupt_copies_kept(name));
    let why = match open_named(data_dir, name, cache_bytes) {
        Ok(db) => match verify(&db) {
            Ok(()) => return Ok(db),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let path = data_dir.join(name);
    let aside = data_dir.join(format!("{name}.corrupt-{}", crate::core::message::now_ms()));
    std::fs::rename(&path, &aside)
        .map_err(|e| DbError::Open { path: path.clone(), reason: format!("{why}; and it cannot be moved aside to {}: {e}", aside.display()) })?;
    log::error!(target: "store", "{why}: moved it aside to {} and starting with an empty one", aside.display());
    // Whatever sealed the old database says nothing about the new one.
    let _ = std::fs::remove_file(data_dir.join(format!("{name}.seal")));
    prune_corrupt_copies(data_dir, name, corrupt_copies_kept(name));
    open_named(data_dir, name, cache_bytes)
}

/// Keep only the newest `keep` `<name>.corrupt-<ms>` copies in `data_dir`
/// (each private); older ones are deleted, each deletion logged.
pub fn prune_corrupt_copies(data_dir: &Path, name: &str, keep: usize) {
    let prefix = format!("{name}.corrupt-");
    let Ok(dir) = std::fs::read_dir(data_dir) else { return };
    let mut copies: Vec<(u64, PathBuf)> = dir
        .filter_map(|e| {
            let p = e.ok()?.path();
            let ms = p.file_name()?.to_str()?.strip_prefix(&prefix)?.parse().ok()?;
            Some((ms, p))
        })
        .collect();
    copies.sort();
    let old = copies.len().saturating_sub(keep);
    for (_, p) in copies.drain(..old) {
        let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        match removed {
            Ok(()) => log::info!(target: "store", "removed the old corrupt copy {}", p.display()),
            Err(e) => log::warn!(target: "store", "cannot remove the old corrupt copy {}: {e}", p.display()),
        }
    }
    for (_, p) in copies {
        if let Err(e) = make_private(&p) {
            log::warn!(target: "store", "cannot make {} private: {e}", p.display());
        }
    }
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
