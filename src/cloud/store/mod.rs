//! The cloud's resource store: the `Store` trait every controller and the
//! API server use, so a distributed store (etcd) can replace the embedded
//! one without touching them. Keys are `<group>/<kind>/<namespace>/<name>`
//! style strings chosen by the API layer; values are opaque bytes (JSON).
//!
//! Owns: the contract (one global revision, compare-and-swap on the
//! revision, watch from a revision with a bounded history and "too old").
//! Must not know resource types or HTTP.

pub mod sled_store;

use smol::channel::Receiver;

/// One stored object and the revision of its last change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub rev: u64,
    pub value: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// A change, as a watch delivers it. For `Deleted`, `value` is the last value.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Event {
    pub rev: u64,
    pub kind: EventKind,
    pub key: String,
    pub value: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{key}: revision {expected} is stale (current {current})")]
    Conflict { key: String, expected: u64, current: u64 },
    #[error("revision {asked} is too old (oldest kept {oldest}); list again")]
    TooOld { asked: u64, oldest: u64 },
    #[error("store: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// A live watch: events after the revision asked for, in order. The
/// channel closes if the watcher falls too far behind (it must relist).
pub struct Watch {
    pub events: Receiver<Event>,
}

pub trait Store {
    fn get(&self, key: &str) -> Result<Option<Stored>, StoreError>;
    /// Objects under `prefix`, and the store's revision at that moment.
    fn list(&self, prefix: &str) -> Result<(Vec<Stored>, u64), StoreError>;
    fn create(&self, key: &str, value: &[u8]) -> Result<u64, StoreError>;
    /// Replace; with `expected` set, only if the object is at that revision.
    fn update(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<u64, StoreError>;
    /// Remove; with `expected` set, only if the object is at that revision.
    fn delete(&self, key: &str, expected: Option<u64>) -> Result<Stored, StoreError>;
    /// Changes under `prefix` after revision `from` (0: from now).
    fn watch(&self, prefix: &str, from: u64) -> Result<Watch, StoreError>;
    /// The current global revision.
    fn revision(&self) -> Result<u64, StoreError>;
    /// Make every change so far durable (blocking; call it off the
    /// executor). The API answers a write only after this.
    fn sync(&self) -> Result<(), StoreError>;
    /// Bytes the store takes on disk, where it knows.
    fn size_bytes(&self) -> Option<u64> {
        None
    }
    /// Watches open (API clients' and controllers').
    fn watches(&self) -> usize {
        0
    }
}
