//! What a module is (KubeEdge's beehive `Module`) and what it is handed to run.
//!
//! Owns: the `Module` trait, the per-module `Context` (inbox, router handle,
//! shutdown signal, readiness) and the `Shutdown` token. Must not start or
//! supervise modules; that is runtime.rs.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use smol::channel::{Receiver, Sender};

use super::message::Message;
use super::router::Router;

/// A module's run future: single-threaded, may hold `Rc`s.
pub type ModuleFuture = Pin<Box<dyn Future<Output = Result<(), ModuleError>>>>;

/// Why a module stopped or could not start. Each module maps its own errors
/// into this with a message that names the file, peer or key involved.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ModuleError(pub String);

impl ModuleError {
    pub fn new(msg: impl std::fmt::Display) -> ModuleError {
        ModuleError(msg.to_string())
    }
}

impl From<super::router::RouterError> for ModuleError {
    fn from(e: super::router::RouterError) -> Self {
        ModuleError(e.to_string())
    }
}

/// A named unit of work inside a role (CloudHub, EdgeHub, MetaManager, ...).
pub trait Module {
    /// Unique name; the router delivers to it by this name.
    fn name(&self) -> &'static str;
    /// Group it belongs to, for `send_to_group`.
    fn group(&self) -> &'static str;
    /// Further groups whose messages this module also receives.
    fn also_groups(&self) -> &'static [&'static str] {
        &[]
    }
    /// Run until the context's shutdown fires or a fatal error. Call
    /// `ctx.ready()` once the module serves (sockets bound, data opened);
    /// returning an error before that means "failed to start".
    fn run(self: Box<Self>, ctx: Context) -> ModuleFuture;
}

/// Fires once when the role shuts down. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    rx: Receiver<()>,
}

/// The trigger side of `Shutdown`: dropping or calling `fire` fires it.
pub struct ShutdownTrigger {
    tx: Sender<()>,
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = smol::channel::bounded(1);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// Resolves when shutdown has begun.
    pub async fn wait(&self) {
        // Nothing is ever sent: recv returns Err when the sender closes.
        let _ = self.rx.recv().await;
    }

    pub fn is_fired(&self) -> bool {
        self.rx.is_closed()
    }
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.tx.close();
    }
}

/// Everything a running module is given.
pub struct Context {
    pub name: &'static str,
    pub router: Router,
    pub inbox: Receiver<Message>,
    pub shutdown: Shutdown,
    /// Default timeout for `request` (KubeEdge: 30 s).
    pub request_timeout: Duration,
    pub(crate) ready_tx: Option<Sender<&'static str>>,
}

impl Context {
    /// Tell the runtime this module is serving. Idempotent.
    pub fn ready(&mut self) {
        if let Some(tx) = self.ready_tx.take() {
            let _ = tx.try_send(self.name);
        }
    }

    /// Next inbox message, or `None` once shutdown fired or the inbox closed.
    pub async fn recv(&self) -> Option<Message> {
        use smol::future::FutureExt as _;
        let msg = async { self.inbox.recv().await.ok() };
        let stop = async {
            self.shutdown.wait().await;
            None
        };
        msg.or(stop).await
    }

    /// Send a message to another module by name.
    pub fn send(&self, module: &str, msg: Message) -> Result<(), super::router::RouterError> {
        self.router.send(module, msg)
    }

    /// Request/reply with the default timeout. Once shutdown has begun it
    /// fails at once: the module asked may have stopped without answering,
    /// and waiting out the timeout would overrun the shutdown deadline.
    pub async fn request(&self, module: &str, msg: Message) -> Result<Message, super::router::RouterError> {
        use smol::future::FutureExt as _;
        let id = msg.id;
        let ask = self.router.request(module, msg, self.request_timeout);
        let stop = async {
            self.shutdown.wait().await;
            Err(super::router::RouterError::Closed(module.to_string(), id))
        };
        ask.or(stop).await
    }

    /// Reply to `request`.
    pub fn respond(&self, request: &Message, content: impl Into<Vec<u8>>) -> Result<(), super::router::RouterError> {
        self.router.respond(self.name, request, content)
    }

    /// A message whose source is this module.
    pub fn message(&self, group: &str, resource: &str, operation: &str, content: impl Into<Vec<u8>>) -> Message {
        Message::new(self.name, group, resource, operation, content)
    }
}
