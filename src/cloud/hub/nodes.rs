//! The node table of CloudHub: which nodes are connected, their current
//! session, liveness (Ready / NotReady) and per-session downstream state.
//!
//! Owns: in-memory bookkeeping only. Must not do I/O; the session loop and
//! the hub act on what it says.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::channel::{self, Receiver, Sender};

use crate::proto::Frame;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeReady {
    Ready,
    NotReady,
}

/// What the cloud believes one connected edge holds, and what to send it.
#[derive(Default)]
pub struct Downstream {
    /// key -> version the edge holds (from its inventory, then from what we sent).
    pub edge_has: HashMap<String, u64>,
    dirty: VecDeque<String>,
    dirty_set: HashSet<String>,
    /// Object frames sent and not yet acknowledged.
    pub unacked: usize,
}

impl Downstream {
    pub fn mark(&mut self, key: &str) {
        if self.dirty_set.insert(key.to_string()) {
            self.dirty.push_back(key.to_string());
        }
    }

    /// Objects to send or sent and not acknowledged.
    pub fn backlog(&self) -> usize {
        self.dirty.len() + self.unacked
    }

    pub fn next_dirty(&mut self) -> Option<String> {
        let k = self.dirty.pop_front()?;
        self.dirty_set.remove(&k);
        Some(k)
    }
}

/// The handles of one live session.
pub struct Session {
    pub cap: usize,
    pub generation: u64,
    pub tx: Sender<Frame>,
    pub kick: Sender<String>,
    pub poke: Sender<()>,
    pub down: Rc<RefCell<Downstream>>,
}

/// What the session loop receives.
pub struct SessionEnds {
    pub generation: u64,
    pub rx: Receiver<Frame>,
    pub kick: Receiver<String>,
    pub poke: Receiver<()>,
    pub down: Rc<RefCell<Downstream>>,
}

impl Session {
    /// Queue a frame; false if the node already has `cap` frames waiting.
    pub fn try_send(&self, f: Frame) -> bool {
        self.tx.len() < self.cap && self.tx.try_send(f).is_ok()
    }
}

pub struct NodeState {
    pub ready: NodeReady,
    pub last_seen: Instant,
    pub version: String,
    pub arch: String,
    pub session: Option<Session>,
    /// When recent connections replaced a live session of this node.
    pub takeovers: std::collections::VecDeque<Instant>,
    /// The last time a refused twin connection was logged.
    pub twin_logged: Option<Instant>,
}

/// Takeovers of a live session within `TAKEOVER_WINDOW` beyond which a
/// second edge is taken to use the same certificate: new connections are
/// then refused while the current session is alive, instead of two edges
/// taking the session from each other for ever.
pub const MAX_TAKEOVERS: usize = 3;
pub const TAKEOVER_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// A session heard from within this is alive.
pub const ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
pub struct Nodes {
    pub by_name: HashMap<String, NodeState>,
    next_generation: u64,
}

impl Nodes {
    /// Should a new connection for `node` be refused because its live
    /// session keeps being taken over (two edges, one certificate)?
    /// `Some(true)` the first time in a while (log it), `Some(false)` after.
    pub fn refuse_twin(&mut self, node: &str) -> Option<bool> {
        let st = self.by_name.get_mut(node)?;
        st.session.as_ref()?;
        while st.takeovers.front().is_some_and(|t| t.elapsed() > TAKEOVER_WINDOW) {
            st.takeovers.pop_front();
        }
        if st.takeovers.len() < MAX_TAKEOVERS || st.last_seen.elapsed() > ALIVE {
            return None;
        }
        let log = st.twin_logged.is_none_or(|t| t.elapsed() > TAKEOVER_WINDOW * 10);
        if log {
            st.twin_logged = Some(Instant::now());
        }
        Some(log)
    }

    /// Start a session for `node`, replacing (and kicking) any older one.
    /// Returns the session's ends and whether the node was NotReady before.
    pub fn connect(&mut self, node: &str, version: &str, arch: &str, queue: usize) -> (SessionEnds, bool, bool) {
        // Unbounded underneath (a bounded channel preallocates every slot:
        // node_queue × frame size per idle node); the cap is enforced by
        // `Session::try_send`.
        let _ = queue;
        let (tx, rx) = channel::unbounded();
        let (kick_tx, kick_rx) = channel::bounded(1);
        let (poke_tx, poke_rx) = channel::bounded(1);
        let down = Rc::new(RefCell::new(Downstream::default()));
        self.next_generation += 1;
        let generation = self.next_generation;
        let st = self.by_name.entry(node.to_string()).or_insert_with(|| NodeState {
            ready: NodeReady::NotReady,
            last_seen: Instant::now(),
            version: String::new(),
            arch: String::new(),
            session: None,
            takeovers: Default::default(),
            twin_logged: None,
        });
        let replaced = match st.session.take() {
            Some(old) => {
                let _ = old.kick.try_send("replaced by a newer connection".into());
                if st.last_seen.elapsed() <= ALIVE {
                    st.takeovers.push_back(Instant::now());
                }
                true
            }
            None => false,
        };
        st.session = Some(Session { cap: queue, generation, tx, kick: kick_tx, poke: poke_tx, down: down.clone() });
        st.last_seen = Instant::now();
        st.version = version.to_string();
        st.arch = arch.to_string();
        let was_not_ready = st.ready != NodeReady::Ready;
        st.ready = NodeReady::Ready;
        (SessionEnds { generation, rx, kick: kick_rx, poke: poke_rx, down }, was_not_ready, replaced)
    }

    /// Forget the session if it is still the current one.
    pub fn disconnect(&mut self, node: &str, generation: u64) {
        if let Some(st) = self.by_name.get_mut(node) {
            if st.session.as_ref().map(|s| s.generation) == Some(generation) {
                st.session = None;
            }
        }
    }

    pub fn touch(&mut self, node: &str) {
        if let Some(st) = self.by_name.get_mut(node) {
            st.last_seen = Instant::now();
        }
    }

    /// Nodes silent for longer than `limit` become NotReady (their session is
    /// kicked). Returns (name, version, arch) of each.
    pub fn expire(&mut self, limit: Duration) -> Vec<(String, String, String)> {
        let mut gone = Vec::new();
        for (name, st) in self.by_name.iter_mut() {
            if st.ready == NodeReady::Ready && st.last_seen.elapsed() > limit {
                st.ready = NodeReady::NotReady;
                if let Some(s) = st.session.take() {
                    let _ = s.kick.try_send(format!("no traffic for {} s", limit.as_secs()));
                }
                gone.push((name.clone(), st.version.clone(), st.arch.clone()));
            }
        }
        gone
    }

    pub fn session(&self, node: &str) -> Option<&Session> {
        self.by_name.get(node).and_then(|s| s.session.as_ref())
    }

    /// Drop all that is known of `node` (its Node was deleted), kicking its
    /// session: its next connection is a first contact again.
    pub fn forget(&mut self, node: &str, why: &str) {
        if let Some(s) = self.by_name.remove(node).and_then(|st| st.session) {
            let _ = s.kick.try_send(why.to_string());
        }
    }

    /// Publish the node figures to the metrics (crate::cloud::metrics).
    pub fn publish_metrics(&self) {
        use crate::cloud::metrics as m;
        let (mut connected, mut ready) = (0, 0);
        let mut ranges = std::collections::BTreeMap::new();
        let mut backlogs: Vec<(&str, usize)> = Vec::new();
        let mut total = 0;
        for (name, st) in &self.by_name {
            if st.ready == NodeReady::Ready {
                ready += 1;
            }
            if let Some(s) = &st.session {
                connected += 1;
                let b = s.down.borrow().backlog();
                total += b;
                *ranges.entry(m::backlog_range(b)).or_insert(0) += 1;
                if b > 0 {
                    backlogs.push((name, b));
                }
            }
        }
        backlogs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        m::NODES_CONNECTED.set(connected);
        m::NODES_READY.set(ready);
        m::NODES_NOT_READY.set(self.by_name.len() as i64 - ready);
        m::BACKLOG_OBJECTS.set(total as i64);
        m::BACKLOG_NODES.replace(["0", "1-10", "11-100", "101-1000", ">1000"].map(|r| (vec![r.to_string()], ranges.get(r).copied().unwrap_or(0))));
        m::BACKLOG_TOP.replace(backlogs.into_iter().take(5).map(|(n, b)| (vec![n.to_string()], b as i64)));
    }

    pub fn kick_all(&mut self, why: &str) {
        for st in self.by_name.values_mut() {
            if let Some(s) = st.session.take() {
                let _ = s.kick.try_send(why.to_string());
            }
        }
    }
}
