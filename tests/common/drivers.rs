//! Test-driver modules plugged into embedded roles: a cloud application that
//! applies durable upstream messages and pushes object changes on command,
//! an edge reporter that sends states and events, and a probe that reads
//! MetaManager's inventory. They use only the router, like real modules.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hive::core::{Context, Message, Module, ModuleError, ModuleFuture};
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;

/// What the cloud application applied, per node.
#[derive(Default)]
pub struct Applied {
    pub events: HashMap<String, Vec<String>>,
    pub states: HashMap<(String, String), String>,
    pub ready_at: Vec<(String, Instant)>,
}

pub enum Cmd {
    Upsert(String, String, Vec<u8>),
    Delete(String, String),
}

/// Cloud side: group `app`; also listens to `nodestatus`.
pub struct App {
    pub applied: Arc<Mutex<Applied>>,
    pub cmds: Receiver<Cmd>,
    pub name: &'static str,
    pub group: &'static str,
}

impl Module for App {
    fn name(&self) -> &'static str {
        self.name
    }
    fn group(&self) -> &'static str {
        self.group
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            enum Ev {
                Msg(Option<Message>),
                Cmd(Option<Cmd>),
            }
            loop {
                let ev = async { Ev::Msg(ctx.recv().await) }.or(async { Ev::Cmd(self.cmds.recv().await.ok()) }).await;
                match ev {
                    Ev::Msg(None) => return Ok(()),
                    Ev::Msg(Some(m)) => {
                        let node = m.resource.split('/').nth(1).unwrap_or("").to_string();
                        let mut a = self.applied.lock().unwrap();
                        if m.group == "nodestatus" {
                            if m.content_text().contains("\"ready\":true") {
                                a.ready_at.push((node, Instant::now()));
                            }
                            continue;
                        }
                        let res = m.resource.splitn(3, '/').nth(2).unwrap_or("").to_string();
                        match m.operation.as_str() {
                            "event" => a.events.entry(node).or_default().push(m.content_text().into_owned()),
                            "report" => {
                                a.states.insert((node, res), m.content_text().into_owned());
                            }
                            _ => {}
                        }
                        drop(a);
                        let _ = ctx.respond(&m, b"ok".to_vec());
                    }
                    Ev::Cmd(None) => std::future::pending::<()>().await,
                    Ev::Cmd(Some(Cmd::Upsert(node, key, content))) => {
                        let q = ctx.message("hub", &format!("node/{node}/{key}"), "upsert", content);
                        let r = ctx.request("cloudhub", q).await.map_err(ModuleError::from)?;
                        assert_eq!(r.content, b"ok", "upsert refused: {}", r.content_text());
                    }
                    Ev::Cmd(Some(Cmd::Delete(node, key))) => {
                        let q = ctx.message("hub", &format!("node/{node}/{key}"), "delete", Vec::new());
                        ctx.request("cloudhub", q).await.map_err(ModuleError::from)?;
                    }
                }
            }
        })
    }
}

/// Edge side: sends `n` states (10 keys, coalesced) and `n` events, each
/// waiting for "stored"; counts what was stored.
pub struct Reporter {
    pub n: usize,
    pub stored: Arc<Mutex<usize>>,
}

/// Edge side: sends events `tag-<i>` for i from `from` on, forever, and
/// prints `stored tag-<i>` on stdout after each is acknowledged as stored.
pub struct EventPrinter {
    pub from: usize,
    pub tag: String,
}

impl Module for EventPrinter {
    fn name(&self) -> &'static str {
        "printer"
    }
    fn group(&self) -> &'static str {
        "printer"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            use std::io::Write as _;
            ctx.ready();
            for i in self.from.. {
                let body = format!("{}-{i}", self.tag);
                let m = ctx.message("app", "default/event/e", "event", body.clone().into_bytes());
                let r = ctx.request("edgehub", m).await.map_err(ModuleError::from)?;
                if r.content.starts_with(b"stored ") {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "stored {body}");
                    let _ = out.flush();
                }
                if ctx.shutdown.is_fired() {
                    break;
                }
            }
            Ok(())
        })
    }
}

impl Module for Reporter {
    fn name(&self) -> &'static str {
        "reporter"
    }
    fn group(&self) -> &'static str {
        "reporter"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            for i in 0..self.n {
                for (res, op, body) in
                    [(format!("default/pod/p{}", i % 10), "report", format!("s{i}")), ("default/event/e".to_string(), "event", format!("e{i}"))]
                {
                    let m = ctx.message("app", &res, op, body.into_bytes());
                    let r = ctx.request("edgehub", m).await.map_err(ModuleError::from)?;
                    if !r.content.starts_with(b"stored ") {
                        return Err(ModuleError::new(format!("not stored: {}", r.content_text())));
                    }
                }
                *self.stored.lock().unwrap() = i + 1;
            }
            ctx.shutdown.wait().await;
            Ok(())
        })
    }
}

/// Edge side: every 100 ms, MetaManager's inventory into `seen`.
pub struct Probe {
    pub seen: Arc<Mutex<Vec<(String, u64)>>>,
}

impl Module for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn group(&self) -> &'static str {
        "probe"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            loop {
                let tick = async {
                    smol::Timer::after(Duration::from_millis(100)).await;
                    true
                };
                if !tick
                    .or(async {
                        ctx.shutdown.wait().await;
                        false
                    })
                    .await
                {
                    return Ok(());
                }
                let q = ctx.message("meta", "", "inventory", Vec::new());
                // Raced with shutdown: MetaManager may stop first, and a
                // request to it would wait out its timeout.
                let answer = async { Some(ctx.request("metamanager", q).await) }
                    .or(async {
                        ctx.shutdown.wait().await;
                        None
                    })
                    .await;
                match answer {
                    None => return Ok(()),
                    Some(Ok(r)) => {
                        if let Ok(inv) = hive::store::from_bytes::<Vec<(String, u64)>>(&r.content) {
                            *self.seen.lock().unwrap() = inv;
                        }
                    }
                    Some(Err(_)) => {}
                }
            }
        })
    }
}

pub fn app(applied: &Arc<Mutex<Applied>>, cmds: Receiver<Cmd>, group: &'static str) -> Box<dyn Module> {
    Box::new(App { applied: applied.clone(), cmds, name: if group == "app" { "app" } else { "status-watch" }, group })
}

pub type CmdTx = Sender<Cmd>;

/// Answers every message with its content reversed (group `echo`).
pub struct Echo;

impl Module for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn group(&self) -> &'static str {
        "echo"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            while let Some(m) = ctx.recv().await {
                let mut c = m.content.clone();
                c.reverse();
                let _ = ctx.respond(&m, c);
            }
            Ok(())
        })
    }
}

/// Asks `via` (a hub) a question for group `echo` on command; sends the
/// outcome back.
pub struct Asker {
    pub via: &'static str,
    /// Operation of the requests (`query` unless a test wants another).
    pub op: &'static str,
    pub asks: Receiver<(String, Vec<u8>, Duration)>,
    pub answers: Sender<Result<Vec<u8>, String>>,
}

impl Module for Asker {
    fn name(&self) -> &'static str {
        "asker"
    }
    fn group(&self) -> &'static str {
        "asker"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            loop {
                let ask = async { self.asks.recv().await.ok() };
                let stop = async {
                    ctx.shutdown.wait().await;
                    None
                };
                let Some((resource, body, timeout)) = ask.or(stop).await else { return Ok(()) };
                let q = ctx.message("echo", &resource, self.op, body);
                let r = ctx.router.request(self.via, q, timeout).await.map(|m| m.content).map_err(|e| e.to_string());
                let _ = self.answers.send(r).await;
            }
        })
    }
}

/// Sends whatever it is told — (module, group, resource, operation, body) —
/// as a request and hands back the reply (or the error).
pub struct Sayer {
    pub says: Receiver<(&'static str, &'static str, String, &'static str, Vec<u8>)>,
    pub replies: Sender<Result<Vec<u8>, String>>,
}

impl Module for Sayer {
    fn name(&self) -> &'static str {
        "sayer"
    }
    fn group(&self) -> &'static str {
        "sayer"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            ctx.ready();
            loop {
                let say = async { self.says.recv().await.ok() };
                let stop = async {
                    ctx.shutdown.wait().await;
                    None
                };
                let Some((module, group, resource, op, body)) = say.or(stop).await else { return Ok(()) };
                let q = ctx.message(group, &resource, op, body);
                let r = ctx.request(module, q).await.map(|m| m.content).map_err(|e| e.to_string());
                let _ = self.replies.send(r).await;
            }
        })
    }
}

/// The test's handle on a Sayer.
pub struct Say {
    pub tx: Sender<(&'static str, &'static str, String, &'static str, Vec<u8>)>,
    pub rx: Receiver<Result<Vec<u8>, String>>,
}

impl Say {
    pub fn new() -> (Say, Sayer) {
        let (tx, says) = smol::channel::unbounded();
        let (replies, rx) = smol::channel::unbounded();
        (Say { tx, rx }, Sayer { says, replies })
    }

    /// Send and wait for the reply (bounded).
    pub fn say(&self, module: &'static str, group: &'static str, resource: &str, op: &'static str, body: &[u8]) -> Result<Vec<u8>, String> {
        smol::block_on(async {
            self.tx.send((module, group, resource.to_string(), op, body.to_vec())).await.map_err(|e| e.to_string())?;
            let r = async { self.rx.recv().await.map_err(|e| e.to_string()) };
            let t = async {
                smol::Timer::after(Duration::from_secs(30)).await;
                Err("no reply within 30 s".to_string())
            };
            r.or(t).await?
        })
    }

    /// A durable report to a cloud group through EdgeHub; Ok once stored in the outbox.
    pub fn report(&self, group: &'static str, resource: &str, body: &str) {
        let r = self.say("edgehub", group, resource, "report", body.as_bytes()).expect("report");
        assert!(r.starts_with(b"stored "), "report {resource} not stored: {}", String::from_utf8_lossy(&r));
    }
}
