//! The router (KubeEdge's beehive context): named module inboxes, groups,
//! send / send-to-group / request-with-timeout / respond.
//!
//! Owns: the registry of inboxes and the table of requests waiting for a
//! reply. Must not look inside message contents or know any module's
//! protocol. Inboxes are bounded: a full inbox is an error the sender sees,
//! never a silent drop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use smol::channel::{self, Receiver, Sender, TrySendError};
use smol::future::FutureExt as _;

use super::message::{Message, MessageId};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouterError {
    #[error("no module named `{0}` is running")]
    UnknownModule(String),
    #[error("no module in group `{0}` is running")]
    EmptyGroup(String),
    #[error("inbox of module `{0}` is full (capacity {1}); message {2} not delivered")]
    Full(String, usize, MessageId),
    #[error("module `{0}` has stopped; message {1} not delivered")]
    Closed(String, MessageId),
    #[error("no reply from `{module}` to request {id} ({resource}) within {timeout_ms} ms")]
    Timeout { module: String, id: MessageId, resource: String, timeout_ms: u64 },
    #[error("reply {0} answers nothing that is waiting and names no running module as its destination")]
    Unclaimed(MessageId),
    #[error("a module named `{0}` is registered already")]
    Duplicate(String),
}

struct Inbox {
    tx: Sender<Message>,
    /// Set once the module said it serves (`Context::ready`).
    ready: bool,
    /// Its own group first, then groups it joined.
    groups: Vec<String>,
}

#[derive(Default)]
struct Table {
    inboxes: HashMap<String, Inbox>,
    /// Group name -> member module names, in registration order.
    groups: HashMap<String, Vec<String>>,
    /// Request id -> the channel its waiter listens on.
    waiting: HashMap<MessageId, Sender<Message>>,
}

/// Cheap to clone; every clone is the same router.
#[derive(Clone, Default)]
pub struct Router {
    table: Arc<Mutex<Table>>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain maps; the maps are still consistent enough to route.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a module's inbox; returns the receiving end.
    pub fn register(&self, name: &str, group: &str, capacity: usize) -> Result<Receiver<Message>, RouterError> {
        let mut t = self.lock();
        if t.inboxes.contains_key(name) {
            return Err(RouterError::Duplicate(name.to_string()));
        }
        let (tx, rx) = channel::bounded(capacity.max(1));
        t.inboxes.insert(name.to_string(), Inbox { tx, ready: false, groups: vec![group.to_string()] });
        t.groups.entry(group.to_string()).or_default().push(name.to_string());
        Ok(rx)
    }

    /// Remove a module's inbox (its receiver then sees the channel close).
    pub fn unregister(&self, name: &str) {
        let mut t = self.lock();
        if let Some(inbox) = t.inboxes.remove(name) {
            inbox.tx.close();
            for g in &inbox.groups {
                if let Some(members) = t.groups.get_mut(g) {
                    members.retain(|m| m != name);
                }
            }
        }
    }

    /// Also deliver messages sent to `group` to the registered module `name`
    /// (e.g. EdgeController listens to `nodestatus` besides its own group).
    pub fn join(&self, name: &str, group: &str) -> Result<(), RouterError> {
        let mut t = self.lock();
        let inbox = t.inboxes.get_mut(name).ok_or_else(|| RouterError::UnknownModule(name.to_string()))?;
        if inbox.groups.iter().any(|g| g == group) {
            return Ok(());
        }
        inbox.groups.push(group.to_string());
        t.groups.entry(group.to_string()).or_default().push(name.to_string());
        Ok(())
    }

    /// Close every inbox: receivers drain what is queued, then see the end.
    pub fn close_all(&self) {
        let t = self.lock();
        for inbox in t.inboxes.values() {
            inbox.tx.close();
        }
    }

    /// Members of `group`, in registration order.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.lock().groups.get(group).cloned().unwrap_or_default()
    }

    /// Messages waiting in each module's inbox, by module name.
    pub fn queue_depths(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self.lock().inboxes.iter().map(|(n, i)| (n.clone(), i.tx.len())).collect();
        v.sort();
        v
    }

    /// Record that module `name` serves.
    pub fn mark_ready(&self, name: &str) {
        if let Some(i) = self.lock().inboxes.get_mut(name) {
            i.ready = true;
        }
    }

    /// Every registered module and whether it serves, by name.
    pub fn readiness(&self) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = self.lock().inboxes.iter().map(|(n, i)| (n.clone(), i.ready)).collect();
        v.sort();
        v
    }

    /// Whether a module of that name is registered.
    pub fn has_module(&self, name: &str) -> bool {
        self.lock().inboxes.contains_key(name)
    }

    fn inbox(&self, module: &str) -> Result<Sender<Message>, RouterError> {
        let t = self.lock();
        t.inboxes.get(module).map(|i| i.tx.clone()).ok_or_else(|| RouterError::UnknownModule(module.to_string()))
    }

    /// Deliver `msg` to module `module` without waiting. Messages from one
    /// sender to one module arrive in the order sent.
    pub fn send(&self, module: &str, msg: Message) -> Result<(), RouterError> {
        let tx = self.inbox(module)?;
        let id = msg.id;
        tx.try_send(msg).map_err(|e| match e {
            TrySendError::Full(_) => RouterError::Full(module.to_string(), tx.capacity().unwrap_or(0), id),
            TrySendError::Closed(_) => RouterError::Closed(module.to_string(), id),
        })
    }

    /// Deliver `msg`, waiting for room in the inbox (back-pressure instead of
    /// an error). For producers that may block, such as the tunnel reader.
    pub async fn send_wait(&self, module: &str, msg: Message) -> Result<(), RouterError> {
        let tx = self.inbox(module)?;
        let id = msg.id;
        tx.send(msg).await.map_err(|_| RouterError::Closed(module.to_string(), id))
    }

    /// Deliver a copy of `msg` to every module of `group`. Returns how many
    /// received it; the first failure is returned after trying all members.
    pub fn send_to_group(&self, group: &str, msg: Message) -> Result<usize, RouterError> {
        let members: Vec<String> = self.lock().groups.get(group).cloned().unwrap_or_default();
        if members.is_empty() {
            return Err(RouterError::EmptyGroup(group.to_string()));
        }
        let mut delivered = 0;
        let mut first_err = None;
        for m in &members {
            match self.send(m, msg.clone()) {
                Ok(()) => delivered += 1,
                Err(e) => {
                    log::warn!(target: "router", "group `{group}`: {e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(delivered),
        }
    }

    /// Send `msg` to `module` and wait up to `timeout` for the reply whose
    /// `parent_id` is `msg.id`.
    pub async fn request(&self, module: &str, msg: Message, timeout: Duration) -> Result<Message, RouterError> {
        let id = msg.id;
        let resource = msg.resource.clone();
        let (tx, rx) = channel::bounded(1);
        self.lock().waiting.insert(id, tx);
        if let Err(e) = self.send(module, msg) {
            self.lock().waiting.remove(&id);
            return Err(e);
        }
        let reply = async { rx.recv().await.ok() };
        let expire = async {
            smol::Timer::after(timeout).await;
            None
        };
        let got = reply.or(expire).await;
        self.lock().waiting.remove(&id);
        got.ok_or_else(|| RouterError::Timeout { module: module.to_string(), id, resource, timeout_ms: timeout.as_millis() as u64 })
    }

    /// Answer `request` from module `me` with `content`.
    pub fn respond(&self, me: &str, request: &Message, content: impl Into<Vec<u8>>) -> Result<(), RouterError> {
        self.deliver_reply(request.reply(me, content), &request.source)
    }

    /// Hand a reply to whoever waits for it: the local `request` call if one
    /// is waiting, otherwise the module `fallback` (e.g. a hub that carries it
    /// back across the tunnel).
    pub fn deliver_reply(&self, reply: Message, fallback: &str) -> Result<(), RouterError> {
        let waiter = reply.parent_id.and_then(|p| self.lock().waiting.remove(&p));
        if let Some(tx) = waiter {
            // The waiter may have timed out just now; that is not an error of the responder.
            let _ = tx.try_send(reply);
            return Ok(());
        }
        if self.has_module(fallback) {
            return self.send(fallback, reply);
        }
        Err(RouterError::Unclaimed(reply.id))
    }

    /// Deliver a message that arrived over the tunnel: a reply to its waiter
    /// (an error if nobody waits any more), anything else to its group.
    pub fn route_remote(&self, msg: Message) -> Result<(), RouterError> {
        if msg.parent_id.is_some() {
            self.deliver_reply(msg, "")
        } else {
            let group = msg.group.clone();
            self.send_to_group(&group, msg).map(|_| ())
        }
    }

    /// Whether a local `request` waits for a reply to `id`.
    pub fn is_waiting(&self, id: MessageId) -> bool {
        self.lock().waiting.contains_key(&id)
    }
}
