//! Runs one role: registers every module with the router, runs them on a
//! single-threaded smol `LocalExecutor`, waits until all are ready, and on
//! SIGTERM/SIGINT or the failure of any module shuts all of them down within
//! a deadline.
//!
//! Owns: module supervision, signals, the "ready" log line and the exit code.
//! Must not know what any module does.

use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use smol::channel;
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::LocalExecutor;

use super::module::{Context, Module, ModuleError, ModuleFuture, Shutdown};
use super::router::Router;

/// How a role is run.
pub struct RuntimeOptions {
    /// "cloud" or "edge", for log lines.
    pub role: &'static str,
    pub channel_capacity: usize,
    pub request_timeout: Duration,
    /// How long modules may take to become ready.
    pub start_timeout: Duration,
    /// How long modules may take to stop after shutdown begins.
    pub shutdown_timeout: Duration,
    /// When the process started, for the "ready in N ms" line.
    pub started: Instant,
    /// How often the role's one-line summary is logged (zero: never).
    pub summary_interval: Duration,
}

/// Process exit codes of a role.
pub const EXIT_OK: i32 = 0;
pub const EXIT_MODULE_FAILED: i32 = 1;
pub const EXIT_SHUTDOWN_OVERRUN: i32 = 3;

thread_local! {
    static CURRENT_MODULE: Cell<&'static str> = const { Cell::new("") };
}

/// The module being polled on this thread right now ("" if none): the
/// panic hook names it.
pub fn current_module() -> &'static str {
    CURRENT_MODULE.with(|c| c.get())
}

/// Polls a module's future with its name recorded in `CURRENT_MODULE`.
struct Named {
    name: &'static str,
    fut: ModuleFuture,
}

impl Future for Named {
    type Output = Result<(), ModuleError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let prev = CURRENT_MODULE.with(|c| c.replace(self.name));
        let out = self.fut.as_mut().poll(cx);
        CURRENT_MODULE.with(|c| c.set(prev));
        out
    }
}

enum Event {
    Ready(&'static str),
    Done(&'static str, Result<(), ModuleError>),
    Signal(Signal),
    Stop,
    StartTimeout,
}

/// Run `modules` until a signal or a module failure; returns the exit code.
pub fn run(opts: RuntimeOptions, router: Router, modules: Vec<Box<dyn Module>>) -> i32 {
    run_until(opts, router, modules, None)
}

/// As `run`, and also stop in order when `stop` closes or receives (for
/// roles embedded in tests and benches).
pub fn run_until(opts: RuntimeOptions, router: Router, modules: Vec<Box<dyn Module>>, stop: Option<channel::Receiver<()>>) -> i32 {
    // Catch signals before any module starts, so an early SIGTERM is orderly too.
    let mut signals = match Signals::new([Signal::Term, Signal::Int]) {
        Ok(s) => s,
        Err(e) => {
            log::error!(target: "runtime", "cannot install SIGTERM/SIGINT handlers: {e}");
            return EXIT_MODULE_FAILED;
        }
    };
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(supervise(&ex, opts, router, modules, &mut signals, stop)))
}

async fn supervise(
    ex: &LocalExecutor<'_>,
    opts: RuntimeOptions,
    router: Router,
    modules: Vec<Box<dyn Module>>,
    signals: &mut Signals,
    stop: Option<channel::Receiver<()>>,
) -> i32 {
    let role = opts.role;
    let (trigger, shutdown) = Shutdown::new();
    let (ready_tx, ready_rx) = channel::unbounded::<&'static str>();
    let (done_tx, done_rx) = channel::unbounded::<(&'static str, Result<(), ModuleError>)>();
    let mut running: Vec<&'static str> = Vec::new();

    for m in modules {
        let name = m.name();
        let inbox = match router.register(name, m.group(), opts.channel_capacity) {
            Ok(rx) => rx,
            Err(e) => {
                log::error!(target: "runtime", "{role}: {e}");
                return EXIT_MODULE_FAILED;
            }
        };
        for g in m.also_groups() {
            if let Err(e) = router.join(name, g) {
                log::error!(target: "runtime", "{role}: {e}");
                return EXIT_MODULE_FAILED;
            }
        }
        let ctx = Context {
            name,
            router: router.clone(),
            inbox,
            shutdown: shutdown.clone(),
            request_timeout: opts.request_timeout,
            ready_tx: Some(ready_tx.clone()),
        };
        let fut = Named { name, fut: m.run(ctx) };
        let done = done_tx.clone();
        running.push(name);
        log::debug!(target: "runtime", "starting module {name}");
        ex.spawn(async move {
            let result = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(r) => r,
                Err(p) => Err(ModuleError::new(format!("panicked: {}", panic_text(&p)))),
            };
            let _ = done.send((name, result)).await;
        })
        .detach();
    }
    drop(ready_tx);

    let total = running.len();
    let mut ready = 0usize;
    let start_deadline = Instant::now() + opts.start_timeout;
    let mut exit = EXIT_OK;
    if total == 0 {
        log::info!(target: "runtime", "hive {role} ready in {} ms (no modules)", opts.started.elapsed().as_millis());
    }

    // Starting, then running: wait for the first reason to stop.
    let mut is_ready = total == 0;
    loop {
        let ev = next_event(&ready_rx, &done_rx, signals, (!is_ready).then_some(start_deadline), stop.as_ref()).await;
        match ev {
            Event::Ready(name) => {
                router.mark_ready(name);
                ready += 1;
                log::debug!(target: "runtime", "module {name} ready ({ready}/{total})");
                if ready == total && !is_ready {
                    is_ready = true;
                    log::info!(
                        target: "runtime",
                        "hive {role} ready in {} ms (modules: {})",
                        opts.started.elapsed().as_millis(),
                        running.join(", ")
                    );
                    if !opts.summary_interval.is_zero() {
                        let every = opts.summary_interval;
                        ex.spawn(async move {
                            loop {
                                smol::Timer::after(every).await;
                                if let Some(line) = crate::metrics::summary::line() {
                                    log::info!(target: "summary", "{line}");
                                }
                            }
                        })
                        .detach();
                    }
                }
            }
            Event::Done(name, result) => {
                running.retain(|n| *n != name);
                match result {
                    Err(e) if !is_ready => log::error!(target: "runtime", "module {name} failed to start: {e}"),
                    Err(e) => log::error!(target: "runtime", "module {name} failed: {e}"),
                    Ok(()) => log::error!(target: "runtime", "module {name} stopped unexpectedly"),
                }
                exit = EXIT_MODULE_FAILED;
                break;
            }
            Event::Signal(sig) => {
                log::info!(target: "runtime", "signal {sig:?} received: shutting down hive {role}");
                break;
            }
            Event::Stop => {
                log::info!(target: "runtime", "stop requested: shutting down hive {role}");
                break;
            }
            Event::StartTimeout => {
                log::error!(
                    target: "runtime",
                    "modules not ready after {} ms; shutting down",
                    opts.start_timeout.as_millis()
                );
                exit = EXIT_MODULE_FAILED;
                break;
            }
        }
    }

    // Shutdown: every module sees the signal and has until the deadline.
    trigger.fire();
    let deadline = Instant::now() + opts.shutdown_timeout;
    while !running.is_empty() {
        enum Stop {
            Done(&'static str, Result<(), ModuleError>),
            Deadline,
            Again,
        }
        let done = async {
            match done_rx.recv().await {
                Ok((n, r)) => Stop::Done(n, r),
                Err(_) => Stop::Deadline,
            }
        };
        let timeout = async {
            smol::Timer::at(deadline).await;
            Stop::Deadline
        };
        let again = async {
            signals.next().await;
            Stop::Again
        };
        match done.or(timeout).or(again).await {
            Stop::Done(name, result) => {
                running.retain(|n| *n != name);
                match result {
                    Ok(()) => log::debug!(target: "runtime", "module {name} stopped"),
                    Err(e) => log::warn!(target: "runtime", "module {name} stopped with an error: {e}"),
                }
            }
            Stop::Deadline => {
                log::error!(
                    target: "runtime",
                    "modules did not stop in time ({} ms): {}",
                    opts.shutdown_timeout.as_millis(),
                    running.join(", ")
                );
                if exit == EXIT_OK {
                    exit = EXIT_SHUTDOWN_OVERRUN;
                }
                break;
            }
            Stop::Again => {
                log::warn!(target: "runtime", "second signal: not waiting for {}", running.join(", "));
                if exit == EXIT_OK {
                    exit = EXIT_SHUTDOWN_OVERRUN;
                }
                break;
            }
        }
    }
    router.close_all();
    log::info!(target: "runtime", "hive {role} stopped");
    exit
}

async fn next_event(
    ready_rx: &channel::Receiver<&'static str>,
    done_rx: &channel::Receiver<(&'static str, Result<(), ModuleError>)>,
    signals: &mut Signals,
    start_deadline: Option<Instant>,
    stop: Option<&channel::Receiver<()>>,
) -> Event {
    let ready = async {
        match ready_rx.recv().await {
            Ok(n) => Event::Ready(n),
            Err(_) => std::future::pending().await,
        }
    };
    let done = async {
        match done_rx.recv().await {
            Ok((n, r)) => Event::Done(n, r),
            Err(_) => std::future::pending().await,
        }
    };
    let signal = async {
        match signals.next().await {
            Some(Ok(s)) => Event::Signal(s),
            _ => std::future::pending().await,
        }
    };
    let timeout = async {
        match start_deadline {
            Some(at) => {
                smol::Timer::at(at).await;
                Event::StartTimeout
            }
            None => std::future::pending().await,
        }
    };
    let stopped = async {
        match stop {
            Some(rx) => {
                let _ = rx.recv().await;
                Event::Stop
            }
            None => std::future::pending().await,
        }
    };
    // Failures and signals win over readiness when both are pending.
    done.or(signal).or(stopped).or(ready).or(timeout).await
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_string()
    }
}
