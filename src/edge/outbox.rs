//! The edge's durable outbox (sled trees `outbox`, `outbox.keys` and
//! `outbox.meta`, in a database of their own, `<data_dir>/outbox`): every
//! message for the cloud that must not be lost is written here with a
//! sequence number BEFORE it counts as sent. States are coalesced by key
//! (only the newest status of a thing is kept); events are appended and
//! bounded (the oldest go first, and the drops are counted).
//!
//! Owns: those trees. Must not do network I/O; EdgeHub reads from it and
//! trims it when the cloud acknowledges.

use crate::core::Message;
use crate::store::{from_bytes, to_bytes, DbError};

/// What kind of entry: a state replaces the older state of the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Kind {
    State,
    Event,
}

pub struct Outbox {
    db: sled::Db,
    entries: sled::Tree,
    keys: sled::Tree,
    /// `floor`: the highest sequence number the cloud ever acknowledged.
    meta: sled::Tree,
    max_events: usize,
    events: usize,
    /// States held (one per key) and the bytes of every entry, for metrics.
    states: usize,
    bytes: usize,
    dropped: u64,
    /// Next sequence number: above every entry and above the floor. (sled's
    /// generate_id is not used: after a crash it can hand out numbers the
    /// cloud has already applied, and the cloud would skip those entries.)
    next: u64,
    floor: u64,
}

const FLOOR: &[u8] = b"floor";
const EPOCH: &[u8] = b"epoch";
/// Set once a cloud's Welcome has told this outbox the cloud's mark: its
/// numbers are known to continue above what the cloud applied.
const ANCHORED: &[u8] = b"anchored";
const TREES: [&str; 3] = ["outbox", "outbox.keys", "outbox.meta"];

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

impl Outbox {
    pub fn open(db: &sled::Db, max_events: usize) -> Result<Outbox, DbError> {
        let entries = db.open_tree("outbox")?;
        let keys = db.open_tree("outbox.keys")?;
        let meta = db.open_tree("outbox.meta")?;
        let events = entries.len().saturating_sub(keys.len());
        // The highest sequence number, by a forward scan of at most
        // `max_events` keys: sled's reverse iteration (`last`, `next_back`)
        // links a 1 MiB constant "largest key" into the binary.
        let mut last = 0;
        let mut bytes = 0;
        for item in entries.iter() {
            let (k, v) = item?;
            bytes += v.len();
            last = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| DbError::Io(format!("outbox key {k:?} is not a sequence number")))?);
        }
        let floor = match meta.get(FLOOR)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| DbError::Io("outbox floor is not a number".into()))?),
            None => 0,
        };
        // Each opening starts a new epoch (the high 32 bits), written and
        // flushed before any number of it is handed out: numbers of this
        // life are above every number of an earlier one, crash or not.
        let epoch = match meta.get(EPOCH)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| DbError::Io("outbox epoch is not a number".into()))?),
            None => 0,
        } + 1;
        meta.insert(EPOCH, &epoch.to_be_bytes())?;
        db.flush()?;
        let next = (last.max(floor) + 1).max(epoch << 32);
        let states = keys.len();
        let o = Outbox { db: db.clone(), entries, keys, meta, max_events: max_events.max(1), events, states, bytes, dropped: 0, next, floor };
        o.publish();
        Ok(o)
    }

    /// Tell the metrics what the outbox holds.
    fn publish(&self) {
        use crate::edge::metrics::{OUTBOX, OUTBOX_BYTES};
        OUTBOX.set(&["state"], self.states as i64);
        OUTBOX.set(&["event"], self.events as i64);
        OUTBOX_BYTES.set(self.bytes as i64);
    }

    /// Move an outbox kept inside `cache` (by hive before the outbox had a
    /// file of its own) into `outbox`, unless `outbox` already has entries.
    /// Flushed before the old trees are dropped: a crash in between leaves
    /// a copy, never nothing.
    pub fn adopt_legacy(cache: &sled::Db, outbox: &sled::Db) -> Result<(), DbError> {
        let names = cache.tree_names();
        if !TREES.iter().any(|t| names.iter().any(|n| n.as_ref() == t.as_bytes())) {
            return Ok(());
        }
        if outbox.open_tree("outbox")?.is_empty() && outbox.open_tree("outbox.meta")?.is_empty() {
            let mut moved = 0;
            for t in TREES {
                let (from, to) = (cache.open_tree(t)?, outbox.open_tree(t)?);
                for item in from.iter() {
                    let (k, v) = item?;
                    to.insert(k, v)?;
                    moved += 1;
                }
            }
            outbox.flush()?;
            log::info!(target: "edgehub", "outbox moved into a database of its own ({moved} records)");
        }
        for t in TREES {
            cache.drop_tree(t)?;
        }
        cache.flush()?;
        Ok(())
    }

    /// The cloud's Welcome says it applied everything up to `applied` for
    /// this node. An outbox that has never heard the cloud's mark (a new
    /// one, or one rebuilt after corruption) may hold entries numbered at
    /// or below it that the cloud has never seen: those are renumbered
    /// above the mark, in order, before anything is sent. Returns how many
    /// were renumbered. Afterwards entries at or below the mark are the
    /// cloud's (applied, the ack lost) and `ack` trims them.
    /// The renumbering and the anchor mark are one sled transaction over
    /// the three trees, flushed before this returns: a crash leaves either
    /// the old numbers or the new ones, never a mix.
    pub async fn welcome(&mut self, applied: u64) -> Result<usize, DbError> {
        if self.meta.get(ANCHORED)?.is_some() || self.meta.get(FLOOR)?.is_some() {
            // (An outbox with a floor has heard the cloud before.)
            self.next = self.next.max(applied + 1);
            return Ok(0);
        }
        let stale = self.entries.range(..=seq_key(applied)).next().is_some();
        // (old key, new number, the state key it holds if it is a state)
        let mut moves: Vec<(sled::IVec, u64, sled::IVec, Option<Vec<u8>>)> = Vec::new();
        let mut next = self.next;
        if stale {
            next = applied.max(self.next - 1) + 1;
            for item in self.entries.iter() {
                let (old, v) = item?;
                let (kind, msg): (Kind, Message) = from_bytes(&v)?;
                let state_key =
                    (kind == Kind::State && self.keys.get(msg.resource.as_bytes())?.as_deref() == Some(&old[..])).then(|| msg.resource.into_bytes());
                moves.push((old, next, v, state_key));
                next += 1;
            }
        }
        use sled::Transactional as _;
        (&self.entries, &self.keys, &self.meta)
            .transaction(|(entries, keys, meta)| {
                for (old, seq, v, state_key) in &moves {
                    entries.remove(old)?;
                    entries.insert(&seq_key(*seq), v)?;
                    if let Some(k) = state_key {
                        keys.insert(k.as_slice(), &seq_key(*seq))?;
                    }
                }
                meta.insert(ANCHORED, &[1])?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| DbError::Io(format!("outbox renumbering: {e:?}")))?;
        crate::store::flush(&self.db).await?;
        self.next = next.max(applied + 1);
        if !moves.is_empty() {
            log::warn!(target: "edgehub", "outbox was new or rebuilt: {} entries renumbered above the cloud's mark {applied} so that none is taken as already applied", moves.len());
        }
        Ok(moves.len())
    }

    /// Store `msg`; returns its sequence number. Durable when this returns.
    pub async fn put(&mut self, kind: Kind, msg: &Message) -> Result<u64, DbError> {
        let seq = self.next;
        self.next += 1;
        match kind {
            Kind::State => match self.keys.insert(msg.resource.as_bytes(), &seq_key(seq))? {
                Some(old) => {
                    if let Some(v) = self.entries.remove(&old[..])? {
                        self.bytes = self.bytes.saturating_sub(v.len());
                    }
                }
                None => self.states += 1,
            },
            Kind::Event => {
                if self.events >= self.max_events {
                    self.drop_oldest_event()?;
                } else {
                    self.events += 1;
                }
            }
        }
        let entry = to_bytes(&(kind, msg.clone()));
        self.bytes += entry.len();
        self.entries.insert(seq_key(seq), entry)?;
        self.publish();
        crate::store::flush(&self.db).await?;
        Ok(seq)
    }

    fn drop_oldest_event(&mut self) -> Result<(), DbError> {
        for item in self.entries.iter() {
            let (k, v) = item?;
            let (kind, _): (Kind, Message) = from_bytes(&v)?;
            if kind == Kind::Event {
                self.entries.remove(k)?;
                self.bytes = self.bytes.saturating_sub(v.len());
                self.dropped += 1;
                crate::edge::metrics::OUTBOX_DROPPED.inc();
                if self.dropped == 1 || self.dropped % 1000 == 0 {
                    log::warn!(target: "edgehub", "outbox holds {} events, the most it keeps: {} oldest dropped so far", self.max_events, self.dropped);
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// Entries with sequence number above `after`, oldest first, at most `n`.
    pub fn after(&self, after: u64, n: usize) -> Result<Vec<(u64, Message)>, DbError> {
        let mut out = Vec::new();
        for item in self.entries.range(seq_key(after.saturating_add(1))..).take(n) {
            let (k, v) = item?;
            let b: [u8; 8] = k.as_ref().try_into().map_err(|_| DbError::Io(format!("outbox key {k:?} is not a sequence number")))?;
            let (_, msg): (Kind, Message) = from_bytes(&v)?;
            out.push((u64::from_be_bytes(b), msg));
        }
        Ok(out)
    }

    /// The cloud applied everything up to `seq`: forget it, and never hand
    /// out a number at or below it again.
    pub fn ack(&mut self, seq: u64) -> Result<(), DbError> {
        // The floor is written before the entries go, so a crash can't
        // keep their removal and lose it (sled recovers a prefix).
        if seq > self.floor {
            self.meta.insert(FLOOR, &seq.to_be_bytes())?;
            self.floor = seq;
        }
        self.next = self.next.max(seq + 1);
        let done: Vec<_> = self.entries.range(..=seq_key(seq)).collect::<Result<_, _>>()?;
        for (k, v) in done {
            let (kind, msg): (Kind, Message) = from_bytes(&v)?;
            match kind {
                Kind::State => {
                    // Only if the key still points at this entry (not a newer one).
                    if self.keys.get(msg.resource.as_bytes())?.as_deref() == Some(&k[..]) {
                        self.keys.remove(msg.resource.as_bytes())?;
                        self.states = self.states.saturating_sub(1);
                    }
                }
                Kind::Event => self.events = self.events.saturating_sub(1),
            }
            self.bytes = self.bytes.saturating_sub(v.len());
            self.entries.remove(k)?;
            crate::edge::metrics::UP_ACKED.inc();
        }
        self.publish();
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry decodes (run at start; a failure means a corrupt outbox).
    pub fn verify(db: &sled::Db) -> Result<(), DbError> {
        for item in db.open_tree("outbox")?.iter() {
            let (k, v) = item?;
            if k.len() != 8 {
                return Err(DbError::Io(format!("outbox key {k:?} is not a sequence number")));
            }
            from_bytes::<(Kind, Message)>(&v).map_err(|e| DbError::Io(format!("outbox entry {k:?}: {e}")))?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Events dropped because the outbox was full (since start).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(res: &str, body: &str) -> Message {
        Message::new("t", "g", res, "report", body.as_bytes().to_vec())
    }

    #[test]
    fn states_coalesce_events_append_and_acks_trim() {
        let d = tempfile::tempdir().unwrap();
        let db = crate::store::open(d.path(), 1 << 20).unwrap();
        let mut o = Outbox::open(&db, 3).unwrap();
        smol::block_on(async {
            let s1 = o.put(Kind::State, &m("ns/pod/a", "1")).await.unwrap();
            let e1 = o.put(Kind::Event, &m("ns/event/x", "e1")).await.unwrap();
            let s2 = o.put(Kind::State, &m("ns/pod/a", "2")).await.unwrap();
            assert!(s1 < e1 && e1 < s2);
            let all = o.after(0, 100).unwrap();
            assert_eq!(all.iter().map(|(_, m)| m.content_text().into_owned()).collect::<Vec<_>>(), vec!["e1", "2"]);
            // Bounded events: the oldest go and are counted.
            for i in 2..=5 {
                o.put(Kind::Event, &m("ns/event/x", &format!("e{i}"))).await.unwrap();
            }
            let bodies: Vec<String> = o.after(0, 100).unwrap().iter().map(|(_, m)| m.content_text().into_owned()).collect();
            assert_eq!(bodies, vec!["2", "e3", "e4", "e5"]);
            assert_eq!(o.dropped(), 2);
            // An ack of the old state must not forget the newer one.
            o.ack(s1).unwrap();
            assert_eq!(o.len(), 4);
            o.ack(s2).unwrap();
            let rest = o.after(0, 100).unwrap();
            assert_eq!(rest.len(), 3);
            assert!(rest.iter().all(|(s, _)| *s > s2));
        });
        drop(o);
        let o = Outbox::open(&db, 3).unwrap();
        assert_eq!(o.len(), 3, "survives reopen");
    }

    #[test]
    fn a_rebuilt_outbox_renumbers_above_the_clouds_mark_and_an_anchored_one_does_not() {
        let d = tempfile::tempdir().unwrap();
        let db = crate::store::open(d.path(), 1 << 20).unwrap();
        let mut o = Outbox::open(&db, 10).unwrap();
        smol::block_on(async {
            // Rebuilt while the cloud was away: numbers start low again.
            let a = o.put(Kind::Event, &m("ns/event/x", "upload")).await.unwrap();
            let b = o.put(Kind::State, &m("ns/pod/a", "Running")).await.unwrap();
            assert!(a < b && b < 50 << 32);
            // The cloud applied far more than that in this node's earlier life.
            assert_eq!(o.welcome(50 << 32).await.unwrap(), 2);
            o.ack(50 << 32).unwrap();
            let left = o.after(0, 10).unwrap();
            assert_eq!(left.iter().map(|(_, m)| m.content_text().into_owned()).collect::<Vec<_>>(), vec!["upload", "Running"]);
            assert!(left.iter().all(|(s, _)| *s > 50 << 32), "{left:?}");
            // The newer state still replaces the renumbered one.
            o.put(Kind::State, &m("ns/pod/a", "Failed")).await.unwrap();
            assert_eq!(o.after(0, 10).unwrap().iter().map(|(_, m)| m.content_text().into_owned()).collect::<Vec<_>>(), vec!["upload", "Failed"]);
            // Anchored now: entries at or below a later mark are the cloud's.
            let s = o.after(0, 10).unwrap()[1].0;
            assert_eq!(o.welcome(s).await.unwrap(), 0);
            o.ack(s).unwrap();
            assert!(o.is_empty());
        });
    }

    #[test]
    fn an_outbox_left_in_the_cache_moves_into_its_own_database() {
        let d = tempfile::tempdir().unwrap();
        let cache = crate::store::open(d.path(), 1 << 20).unwrap();
        let seq = {
            let mut o = Outbox::open(&cache, 10).unwrap();
            smol::block_on(o.put(Kind::Event, &m("ns/event/x", "old"))).unwrap()
        };
        let own = crate::store::open_named(d.path(), "outbox", 1 << 20).unwrap();
        Outbox::adopt_legacy(&cache, &own).unwrap();
        assert!(!cache.tree_names().iter().any(|n| n.as_ref() == b"outbox"));
        let o = Outbox::open(&own, 10).unwrap();
        assert_eq!(o.after(0, 10).unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![seq]);
    }

    #[test]
    fn numbers_stay_above_what_the_cloud_applied_across_reopens() {
        let d = tempfile::tempdir().unwrap();
        let db = crate::store::open(d.path(), 1 << 20).unwrap();
        let mut o = Outbox::open(&db, 10).unwrap();
        let first = smol::block_on(async {
            // The cloud says it applied up to 2,000,004 (e.g. from an earlier life of this edge).
            o.ack(2_000_004).unwrap();
            let s = o.put(Kind::State, &m("ns/pod/a", "1")).await.unwrap();
            assert!(s > 2_000_004, "{s}");
            o.ack(s).unwrap();
            s
        });
        drop(o);
        let mut o = Outbox::open(&db, 10).unwrap();
        let s = smol::block_on(o.put(Kind::State, &m("ns/pod/a", "2"))).unwrap();
        assert!(s > first, "after a reopen with an empty outbox: {s} <= {first}");
    }
}
