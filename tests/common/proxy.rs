//! A fault-injecting TCP proxy on 127.0.0.1 for tunnel tests: it can cut
//! every connection, stall traffic, delay it and split writes into small
//! pieces. Blocking threads, bounded by the connections it carries.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Faults {
    stall_until_ms: AtomicU64,
    delay_ms: AtomicU64,
    split: AtomicBool,
    closed: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

pub struct Proxy {
    pub port: u16,
    f: Arc<Faults>,
}

fn now_ms() -> u64 {
    hive::core::message::now_ms()
}

impl Proxy {
    /// Listen on an ephemeral port and forward to 127.0.0.1:`target`.
    pub fn start(target: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let f = Arc::new(Faults::default());
        let f2 = f.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                if f2.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = c else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut conns = f2.conns.lock().unwrap();
                    conns.retain(|s| s.peer_addr().is_ok());
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    let f3 = f2.clone();
                    std::thread::spawn(move || pump(&mut from, &mut to, &f3));
                }
            }
        });
        Proxy { port, f }
    }

    /// Close every connection now (both directions).
    pub fn cut(&self) {
        for s in self.f.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Forward nothing for `d`.
    pub fn stall(&self, d: Duration) {
        self.f.stall_until_ms.store(now_ms() + d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn delay(&self, d: Duration) {
        self.f.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn split_writes(&self, on: bool) {
        self.f.split.store(on, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.delay(Duration::ZERO);
        self.split_writes(false);
        self.f.stall_until_ms.store(0, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.f.closed.store(true, Ordering::SeqCst);
        self.cut();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump(from: &mut TcpStream, to: &mut TcpStream, f: &Faults) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        loop {
            let until = f.stall_until_ms.load(Ordering::SeqCst);
            if now_ms() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let d = f.delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            std::thread::sleep(Duration::from_millis(d));
        }
        let ok = if f.split.load(Ordering::SeqCst) {
            buf[..n].chunks(7).all(|c| to.write_all(c).and_then(|_| to.flush()).is_ok())
        } else {
            to.write_all(&buf[..n]).is_ok()
        };
        if !ok {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
