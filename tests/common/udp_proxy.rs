//! A UDP fault proxy for one client on 127.0.0.1: datagrams both ways are
//! lost, duplicated, reordered or delayed at the rates set, and `migrate`
//! moves the proxy's side towards the target to a new socket (a new source
//! port), as a board whose NAT mapping or uplink changed.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Default)]
pub struct Faults {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// …sent twice.
    pub dup: f64,
    /// …held back and sent after the next one.
    pub reorder: f64,
    /// Every datagram waits this long (plus up to as much again).
    pub delay: Duration,
}

struct Shared {
    faults: Mutex<Faults>,
    client: Mutex<Option<SocketAddr>>,
    back: Mutex<Arc<UdpSocket>>,
    stop: AtomicBool,
    migrations: AtomicU64,
    dropped: AtomicU64,
}

pub struct UdpProxy {
    pub port: u16,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn back_socket(target: SocketAddr) -> Arc<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(target).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    Arc::new(s)
}

/// One direction: what is due, in order, with the faults applied on entry.
struct Lane {
    queue: Vec<(Instant, Vec<u8>)>,
    held: Option<Vec<u8>>,
    rng: fastrand::Rng,
}

impl Lane {
    fn take(&mut self, f: Faults, shared: &Shared, d: Vec<u8>) {
        if self.rng.f64() < f.loss {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let due = Instant::now() + f.delay + f.delay.mul_f64(self.rng.f64());
        if self.held.is_none() && self.rng.f64() < f.reorder {
            self.held = Some(d);
            return;
        }
        if self.rng.f64() < f.dup {
            self.queue.push((due, d.clone()));
        }
        self.queue.push((due, d));
        if let Some(h) = self.held.take() {
            self.queue.push((due, h));
        }
    }
    fn due(&mut self) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue).into_iter().partition(|(t, _)| *t <= now);
        self.queue = wait;
        // A held datagram does not wait for ever: it goes out with the next batch.
        ready.into_iter().map(|(_, d)| d).chain(if self.queue.is_empty() { self.held.take() } else { None }).collect()
    }
}

impl UdpProxy {
    pub fn start(target: SocketAddr, seed: u64) -> UdpProxy {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        front.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let port = front.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            faults: Mutex::new(Faults::default()),
            client: Mutex::new(None),
            back: Mutex::new(back_socket(target)),
            stop: AtomicBool::new(false),
            migrations: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let mut threads = Vec::new();
        // Client → target.
        {
            let (front, shared) = (front.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                let mut lane = Lane { queue: Vec::new(), held: None, rng: fastrand::Rng::with_seed(seed) };
                let mut buf = vec![0u8; 65536];
                while !shared.stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = front.recv_from(&mut buf) {
                        *shared.client.lock().unwrap() = Some(from);
                        let f = *shared.faults.lock().unwrap();
                        lane.take(f, &shared, buf[..n].to_vec());
                    }
                    let back = shared.back.lock().unwrap().clone();
                    for d in lane.due() {
                        let _ = back.send(&d);
                    }
                }
            }));
        }
        // Target → client, from whichever back socket is current.
        {
            let (front, shared) = (front.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                let mut lane = Lane { queue: Vec::new(), held: None, rng: fastrand::Rng::with_seed(seed ^ 0x5eed) };
                let mut buf = vec![0u8; 65536];
                while !shared.stop.load(Ordering::Relaxed) {
                    let back = shared.back.lock().unwrap().clone();
                    if let Ok(n) = back.recv(&mut buf) {
                        let f = *shared.faults.lock().unwrap();
                        lane.take(f, &shared, buf[..n].to_vec());
                    }
                    let client = *shared.client.lock().unwrap();
                    if let Some(c) = client {
                        for d in lane.due() {
                            let _ = front.send_to(&d, c);
                        }
                    }
                }
            }));
        }
        UdpProxy { port, shared, threads }
    }

    pub fn set(&self, f: Faults) {
        *self.shared.faults.lock().unwrap() = f;
    }

    /// From now on the target sees this client from a new address.
    pub fn migrate(&self) {
        let target = self.shared.back.lock().unwrap().peer_addr().unwrap();
        *self.shared.back.lock().unwrap() = back_socket(target);
        self.shared.migrations.fetch_add(1, Ordering::Relaxed);
    }

    /// Datagrams dropped so far (both ways).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
