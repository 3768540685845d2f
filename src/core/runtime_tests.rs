//! Runtime supervision as a spec: a failing, panicking, silent or stubborn
//! module brings the whole role down in order, never half-alive.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::module::{Context, Module, ModuleError, ModuleFuture};
use super::router::Router;
use super::runtime::{self, RuntimeOptions, EXIT_MODULE_FAILED, EXIT_SHUTDOWN_OVERRUN};

/// Test behaviours for a module.
#[derive(Clone, Copy)]
enum Act {
    /// ready, then serve queries until shutdown; counts its clean stop.
    Serve,
    /// fail before becoming ready.
    FailToStart,
    /// become ready, wait `ms`, then fail.
    FailAfter(u64),
    /// become ready, wait `ms`, then panic.
    PanicAfter(u64),
    /// never become ready.
    NeverReady,
    /// ready, then ignore shutdown forever.
    Stubborn,
    /// ready, ask `Serve` module named "server" a question, record the answer, then fail to end the run.
    AskThenFail,
}

struct T {
    name: &'static str,
    act: Act,
    stopped: Arc<AtomicUsize>,
    answer: Rc<RefCell<Option<Vec<u8>>>>,
}

impl Module for T {
    fn name(&self) -> &'static str {
        self.name
    }
    fn group(&self) -> &'static str {
        "test"
    }
    fn run(self: Box<Self>, mut ctx: Context) -> ModuleFuture {
        Box::pin(async move {
            match self.act {
                Act::FailToStart => return Err(ModuleError::new("cannot bind 127.0.0.1:1: address in use")),
                Act::NeverReady => {
                    ctx.shutdown.wait().await;
                    return Ok(());
                }
                _ => ctx.ready(),
            }
            match self.act {
                Act::Serve => {
                    while let Some(m) = ctx.recv().await {
                        ctx.respond(&m, b"pong".to_vec())?;
                    }
                    self.stopped.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
                Act::FailAfter(ms) => {
                    smol::Timer::after(Duration::from_millis(ms)).await;
                    Err(ModuleError::new("lost the database"))
                }
                Act::PanicAfter(ms) => {
                    smol::Timer::after(Duration::from_millis(ms)).await;
                    panic!("index out of range in test module");
                }
                Act::Stubborn => {
                    std::future::pending::<()>().await;
                    Ok(())
                }
                Act::AskThenFail => {
                    let q = ctx.message("test", "ns/ping/1", "query", Vec::new());
                    let r = ctx.request("server", q).await?;
                    *self.answer.borrow_mut() = Some(r.content);
                    Err(ModuleError::new("done asking"))
                }
                Act::FailToStart | Act::NeverReady => unreachable!(),
            }
        })
    }
}

fn opts() -> RuntimeOptions {
    RuntimeOptions {
        role: "test",
        channel_capacity: 8,
        request_timeout: Duration::from_secs(5),
        start_timeout: Duration::from_millis(500),
        shutdown_timeout: Duration::from_millis(300),
        started: Instant::now(),
        summary_interval: Duration::ZERO,
    }
}

fn run_with(acts: &[(&'static str, Act)]) -> (i32, usize, Rc<RefCell<Option<Vec<u8>>>>) {
    let stopped = Arc::new(AtomicUsize::new(0));
    let answer = Rc::new(RefCell::new(None));
    let modules: Vec<Box<dyn Module>> =
        acts.iter().map(|(name, act)| Box::new(T { name, act: *act, stopped: stopped.clone(), answer: answer.clone() }) as Box<dyn Module>).collect();
    let code = runtime::run(opts(), Router::new(), modules);
    (code, stopped.load(Ordering::SeqCst), answer)
}

#[test]
fn a_module_that_fails_to_start_stops_the_role() {
    let (code, stopped, _) = run_with(&[("server", Act::Serve), ("broken", Act::FailToStart)]);
    assert_eq!(code, EXIT_MODULE_FAILED);
    assert_eq!(stopped, 1, "the healthy module was shut down in order");
}

#[test]
fn a_module_error_while_running_shuts_everyone_down() {
    let (code, stopped, _) = run_with(&[("server", Act::Serve), ("flaky", Act::FailAfter(50))]);
    assert_eq!(code, EXIT_MODULE_FAILED);
    assert_eq!(stopped, 1);
}

#[test]
fn a_panicking_module_shuts_the_role_down_cleanly() {
    let (code, stopped, _) = run_with(&[("server", Act::Serve), ("buggy", Act::PanicAfter(20))]);
    assert_eq!(code, EXIT_MODULE_FAILED);
    assert_eq!(stopped, 1);
}

#[test]
fn a_module_never_ready_hits_the_start_timeout() {
    let t0 = Instant::now();
    let (code, stopped, _) = run_with(&[("server", Act::Serve), ("slow", Act::NeverReady)]);
    assert_eq!(code, EXIT_MODULE_FAILED);
    assert_eq!(stopped, 1);
    assert!(t0.elapsed() >= Duration::from_millis(500) && t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_module_that_ignores_shutdown_is_abandoned_at_the_deadline() {
    let t0 = Instant::now();
    let (code, _, _) = run_with(&[("stubborn", Act::Stubborn), ("flaky", Act::FailAfter(20))]);
    // The module failure is the first cause and stays the exit code.
    assert_eq!(code, EXIT_MODULE_FAILED);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_ne!(EXIT_SHUTDOWN_OVERRUN, EXIT_MODULE_FAILED);
}

#[test]
fn modules_talk_through_the_router_with_request_and_respond() {
    let (code, _, answer) = run_with(&[("server", Act::Serve), ("client", Act::AskThenFail)]);
    assert_eq!(code, EXIT_MODULE_FAILED);
    assert_eq!(answer.borrow().as_deref(), Some(&b"pong"[..]));
}

#[test]
fn duplicate_module_names_are_refused() {
    let (code, _, _) = run_with(&[("server", Act::Serve), ("server", Act::Serve)]);
    assert_eq!(code, EXIT_MODULE_FAILED);
}
