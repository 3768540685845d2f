//! The embedded `Store`: sled trees `store.objects` (key → rev + value),
//! `store.history` (rev → event, bounded) and `store.meta` (the revision).
//!
//! Owns: those trees. Writes are serialised by one lock and committed in a
//! sled transaction (object, history, revision together). Must not be
//! opened by any module but through `Store`.

use std::sync::{Arc, Mutex};

use sled::Transactional;
use smol::channel::{self, Sender};

use super::{Event, EventKind, Store, StoreError, Stored, Watch};
use crate::store::{from_bytes, to_bytes};

const REV_KEY: &[u8] = b"rev";
/// Events a slow watcher may lag behind before it is cut off (it relists).
pub(crate) const WATCH_BUFFER: usize = 4096;

struct Watcher {
    prefix: String,
    tx: Sender<Event>,
}

pub struct SledStore {
    objects: sled::Tree,
    history: sled::Tree,
    meta: sled::Tree,
    history_max: u64,
    db: sled::Db,
    write: Mutex<()>,
    watchers: Arc<Mutex<Vec<Watcher>>>,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Queue `ev` for a watcher unless it already lags WATCH_BUFFER events
/// (then close it: it must relist). Whether it was queued.
fn send_bounded(tx: &Sender<Event>, ev: Event) -> bool {
    if tx.len() >= WATCH_BUFFER {
        tx.close();
        return false;
    }
    tx.try_send(ev).is_ok()
}

fn decode_obj(key: &[u8], v: &[u8]) -> Result<Stored, StoreError> {
    let (rev, value): (u64, Vec<u8>) = from_bytes(v).map_err(io)?;
    Ok(Stored { key: String::from_utf8_lossy(key).into_owned(), rev, value })
}

impl SledStore {
    /// Open on `db`, keeping the last `history_max` events for watch resume.
    pub fn open(db: &sled::Db, history_max: u64) -> Result<SledStore, StoreError> {
        Ok(SledStore {
            objects: db.open_tree("store.objects")?,
            history: db.open_tree("store.history")?,
            meta: db.open_tree("store.meta")?,
            history_max: history_max.max(1),
            db: db.clone(),
            write: Mutex::new(()),
            watchers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn oldest_kept(&self) -> Result<u64, StoreError> {
        Ok(match self.history.first()? {
            Some((k, _)) => u64::from_be_bytes(k.as_ref().try_into().map_err(io)?),
            None => self.revision()? + 1,
        })
    }

    /// Commit one change: the object (or its removal), the event, the revision.
    fn commit(&self, kind: EventKind, key: &str, value: &[u8]) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        let rev = self.revision()? + 1;
        let ev = Event { rev, kind, key: key.to_string(), value: value.to_vec() };
        (&self.objects, &self.history, &self.meta)
            .transaction(|(o, h, m)| {
                match kind {
                    EventKind::Deleted => {
                        o.remove(key.as_bytes())?;
                    }
                    _ => {
                        o.insert(key.as_bytes(), to_bytes(&(rev, value.to_vec())))?;
                    }
                }
                h.insert(&rev.to_be_bytes(), to_bytes(&ev))?;
                m.insert(REV_KEY, &rev.to_be_bytes())?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| io(format!("{e:?}")))?;
        // Trim history beyond the bound (revisions are contiguous, so the
        // oldest kept is rev - history_max + 1; `Tree::len` would scan).
        let floor = rev.saturating_sub(self.history_max);
        while let Some((k, _)) = self.history.first()? {
            let r = u64::from_be_bytes(k.as_ref().try_into().map_err(io)?);
            if r > floor {
                break;
            }
            self.history.remove(k)?;
        }
        self.notify(&ev);
        crate::cloud::metrics::STORE_WRITES.since(&["commit"], started);
        Ok(rev)
    }

    fn notify(&self, ev: &Event) {
        let mut ws = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        ws.retain(|w| {
            if !ev.key.starts_with(&w.prefix) {
                return !w.tx.is_closed();
            }
            // A full buffer means the watcher fell behind: close it, it relists.
            send_bounded(&w.tx, ev.clone())
        });
    }

    fn current(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        match self.objects.get(key.as_bytes())? {
            Some(v) => Ok(Some(decode_obj(key.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for SledStore {
    fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        self.current(key)
    }

    fn list(&self, prefix: &str) -> Result<(Vec<Stored>, u64), StoreError> {
        let _w = self.lock();
        let mut out = Vec::new();
        for item in self.objects.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            out.push(decode_obj(&k, &v)?);
        }
        Ok((out, self.revision()?))
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<u64, StoreError> {
        let _w = self.lock();
        if self.current(key)?.is_some() {
            return Err(StoreError::AlreadyExists(key.to_string()));
        }
        self.commit(EventKind::Added, key, value)
    }

    fn update(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<u64, StoreError> {
        let _w = self.lock();
        let cur = self.current(key)?.ok_or_else(|| StoreError::NotFound(key.to_string()))?;
        if let Some(e) = expected {
            if e != cur.rev {
                return Err(StoreError::Conflict { key: key.to_string(), expected: e, current: cur.rev });
            }
        }
        self.commit(EventKind::Modified, key, value)
    }

    fn delete(&self, key: &str, expected: Option<u64>) -> Result<Stored, StoreError> {
        let _w = self.lock();
        let cur = self.current(key)?.ok_or_else(|| StoreError::NotFound(key.to_string()))?;
        if let Some(e) = expected {
            if e != cur.rev {
                return Err(StoreError::Conflict { key: key.to_string(), expected: e, current: cur.rev });
            }
        }
        let rev = self.commit(EventKind::Deleted, key, &cur.value)?;
        Ok(Stored { rev, ..cur })
    }

    fn watch(&self, prefix: &str, from: u64) -> Result<Watch, StoreError> {
        let _w = self.lock();
        // Unbounded with a length check rather than `bounded`, which would
        // allocate all WATCH_BUFFER slots (~300 KB) up front for every watch.
        let (tx, rx) = channel::unbounded();
        let now = self.revision()?;
        if from > 0 && from < now {
            let oldest = self.oldest_kept()?;
            if from + 1 < oldest {
                return Err(StoreError::TooOld { asked: from, oldest });
            }
            for item in self.history.range((from + 1).to_be_bytes()..) {
                let (_, v) = item?;
                let ev: Event = from_bytes(&v).map_err(io)?;
                if ev.key.starts_with(prefix) && !send_bounded(&tx, ev) {
                    return Err(StoreError::TooOld { asked: from, oldest });
                }
            }
        }
        self.watchers.lock().unwrap_or_else(|p| p.into_inner()).push(Watcher { prefix: prefix.to_string(), tx });
        Ok(Watch { events: rx })
    }

    fn revision(&self) -> Result<u64, StoreError> {
        Ok(match self.meta.get(REV_KEY)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(io)?),
            None => 0,
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Flushing any tree flushes the whole database (one log).
        let started = std::time::Instant::now();
        self.objects.flush()?;
        crate::cloud::metrics::STORE_WRITES.since(&["sync"], started);
        Ok(())
    }

    fn size_bytes(&self) -> Option<u64> {
        self.db.size_on_disk().ok()
    }

    fn watches(&self) -> usize {
        let mut ws = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        ws.retain(|w| !w.tx.is_closed());
        ws.len()
    }
}

#[cfg(test)]
#[path = "sled_store_tests.rs"]
mod tests;
