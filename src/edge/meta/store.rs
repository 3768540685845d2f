//! MetaStore: MetaManager's sled tree `meta`. Keys are
//! `<namespace>/<kind>/<name>` (kind singular and lowercase: `pod`,
//! `configmap`, `secret`, `device`, …; cluster-scoped objects such as the
//! node have an empty namespace: `/node/<name>`); values are the version
//! and the object as the cloud sent it (JSON).
//!
//! A seal catches a cache that lost writes it had made durable (a file cut
//! short or overwritten: sled opens such a file and silently serves what is
//! left): every applied change bumps a counter in the tree `meta.applied`,
//! and `<data_dir>/db.seal` records the counter as of a moment it was
//! durable (at most a second behind, and at a clean stop). A cache whose
//! counter is below its seal is corrupt and is rebuilt from the cloud.
//!
//! Owns: those trees and the seal file. Must not do I/O beyond them.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::proto::ObjectChange;
use crate::store::{from_bytes, to_bytes, DbError};

const APPLIED: &[u8] = b"applied";
/// How far the seal may lag the cache.
const SEAL_EVERY: Duration = Duration::from_secs(1);

/// The seal file of the cache in `data_dir`.
pub fn seal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("db.seal")
}

struct Seal {
    path: PathBuf,
    /// The counter value last written to the seal, and when.
    sealed: Cell<u64>,
    at: Cell<Option<Instant>>,
}

/// What an applied change did, for watchers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added(String, Vec<u8>),
    Modified(String, Vec<u8>),
    /// The last content of the deleted object.
    Deleted(String, Vec<u8>),
}

pub struct MetaStore {
    db: sled::Db,
    tree: sled::Tree,
    applied: sled::Tree,
    seal: Option<Seal>,
}

impl MetaStore {
    /// The cache without a seal (tools and benches).
    pub fn open(db: &sled::Db) -> Result<MetaStore, DbError> {
        Ok(MetaStore { db: db.clone(), tree: db.open_tree("meta")?, applied: db.open_tree("meta.applied")?, seal: None })
    }

    /// The cache of the edge in `data_dir`, sealed as it changes.
    pub fn open_sealed(db: &sled::Db, data_dir: &Path) -> Result<MetaStore, DbError> {
        let mut s = MetaStore::open(db)?;
        s.seal = Some(Seal { path: seal_path(data_dir), sealed: Cell::new(read_seal(&seal_path(data_dir))), at: Cell::new(None) });
        Ok(s)
    }

    fn counter(&self) -> Result<u64, DbError> {
        Ok(match self.applied.get(APPLIED)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| DbError::Io("meta.applied is not a number".into()))?),
            None => 0,
        })
    }

    fn bump(&self) -> Result<(), DbError> {
        let n = self.counter()? + 1;
        self.applied.insert(APPLIED, &n.to_be_bytes())?;
        Ok(())
    }

    /// Flush, then seal exactly (a clean stop).
    pub async fn flush_and_reseal(&self) -> Result<(), DbError> {
        crate::store::flush(&self.db).await?;
        self.reseal(true)
    }

    /// Write the seal if it is older than SEAL_EVERY (or `now`): the
    /// counter as it is durable now.
    pub fn reseal(&self, now: bool) -> Result<(), DbError> {
        let Some(seal) = &self.seal else { return Ok(()) };
        if !now && seal.at.get().is_some_and(|t| t.elapsed() < SEAL_EVERY) {
            return Ok(());
        }
        let n = self.counter()?;
        if n != seal.sealed.get() {
            write_seal(&seal.path, n).map_err(|e| DbError::Io(format!("{}: {e}", seal.path.display())))?;
            seal.sealed.set(n);
        }
        seal.at.set(Some(Instant::now()));
        Ok(())
    }

    /// Apply a downstream change: an older version never overwrites a newer
    /// one. Returns what changed, if anything. Durable when it returns.
    pub async fn apply(&self, c: &ObjectChange) -> Result<Option<Change>, DbError> {
        let old = self.get(&c.key)?;
        let change = match (&c.content, old) {
            (Some(content), None) => Some(Change::Added(c.key.clone(), content.clone())),
            (Some(content), Some((v, _))) if v < c.version => Some(Change::Modified(c.key.clone(), content.clone())),
            (Some(_), Some(_)) => None,
            (None, Some((_, last))) => Some(Change::Deleted(c.key.clone(), last)),
            (None, None) => None,
        };
        match &change {
            Some(Change::Added(_, content)) | Some(Change::Modified(_, content)) => {
                self.tree.insert(c.key.as_bytes(), to_bytes(&(c.version, content.clone())))?;
            }
            Some(Change::Deleted(..)) => {
                self.tree.remove(c.key.as_bytes())?;
            }
            None => {}
        }
        if change.is_some() {
            self.bump()?;
            crate::store::flush(&self.db).await?;
            self.reseal(false)?;
        }
        Ok(change)
    }

    /// Store many objects at once with one flush (bulk loads; no version checks).
    pub async fn load(&self, changes: &[ObjectChange]) -> Result<(), DbError> {
        for c in changes {
            if let Some(content) = &c.content {
                self.tree.insert(c.key.as_bytes(), to_bytes(&(c.version, content.clone())))?;
            }
        }
        self.bump()?;
        crate::store::flush(&self.db).await?;
        self.reseal(false)
    }

    pub fn get(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>, DbError> {
        match self.tree.get(key.as_bytes())? {
            Some(v) => Ok(Some(from_bytes(&v)?)),
            None => Ok(None),
        }
    }

    /// Every (key, version, content) whose key starts with `prefix`.
    pub fn scan(&self, prefix: &str) -> Result<Vec<(String, u64, Vec<u8>)>, DbError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let (version, content): (u64, Vec<u8>) = from_bytes(&v)?;
            out.push((String::from_utf8_lossy(&k).into_owned(), version, content));
        }
        Ok(out)
    }

    pub fn inventory(&self) -> Result<Vec<(String, u64)>, DbError> {
        Ok(self.scan("")?.into_iter().map(|(k, v, _)| (k, v)).collect())
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Every entry decodes and nothing sealed is missing (run at start; a
    /// failure means a corrupt cache).
    pub fn verify(&self) -> Result<(), DbError> {
        for item in self.tree.iter() {
            let (k, v) = item?;
            from_bytes::<(u64, Vec<u8>)>(&v).map_err(|e| DbError::Io(format!("meta entry `{}`: {e}", String::from_utf8_lossy(&k))))?;
        }
        if let Some(seal) = &self.seal {
            let have = self.counter()?;
            if have < seal.sealed.get() {
                return Err(DbError::Io(format!(
                    "the cache holds {have} applied changes but {} were sealed in {}: it lost writes (cut short or overwritten)",
                    seal.sealed.get(),
                    seal.path.display()
                )));
            }
        }
        Ok(())
    }
}

fn read_seal(path: &Path) -> u64 {
    std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Write, fsync, rename: a seal is whole or absent, never half written.
fn write_seal(path: &Path, n: u64) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("seal.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{n}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
