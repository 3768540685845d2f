//! Simulated edges for the tunnel bench: many tunnel clients in one
//! executor (TLS, websocket or QUIC, Hello with inventory, object acks,
//! durable upstream frames), no sled and no modules, so thousands fit one
//! process. Over QUIC, 256 edges share one UDP socket (quinn endpoint).
//! Reports on stdout, one line per event the bench driver waits for:
//! `ready N`, `round R N p50 p99` (downstream delivery latency in ms).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_rustls::TlsConnector;
use smol::net::TcpStream;

use crate::proto::link::{Conn, Link};

use crate::core::message::now_ms;
use crate::core::Message;
use crate::proto::ws::{self, Incoming};
use crate::proto::{Frame, Hello};
use crate::tls::{self, CertAuthority};

#[derive(Default)]
struct Stats {
    connected: usize,
    announced_ready: bool,
    /// round -> delivery latencies (ms)
    rounds: HashMap<u64, Vec<u64>>,
}

const MAX_FRAME: usize = 4 << 20;

/// How a simulated edge dials.
#[derive(Clone)]
enum Dial {
    Ws(u16, TlsConnector),
    #[cfg(feature = "quic")]
    Quic(std::net::SocketAddr, quinn::Endpoint, quinn::ClientConfig),
}

impl Dial {
    async fn link(&self) -> Result<Link, String> {
        match self {
            Dial::Ws(port, connector) => {
                let tcp = TcpStream::connect(("127.0.0.1", *port)).await.map_err(|e| e.to_string())?;
                let tls = connector.connect(tls::server_name("127.0.0.1").map_err(|e| e.to_string())?, tcp).await.map_err(|e| e.to_string())?;
                let conn: Conn = Box::new(tls);
                let url = format!("wss://127.0.0.1:{port}{}", crate::proto::TUNNEL_PATH);
                let (link, _) = async_tungstenite::client_async_with_config(url, conn, Some(ws::ws_config(MAX_FRAME))).await.map_err(|e| e.to_string())?;
                Ok(link)
            }
            #[cfg(feature = "quic")]
            Dial::Quic(addr, endpoint, cfg) => {
                let conn = endpoint.connect_with(cfg.clone(), *addr, "127.0.0.1").map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())?;
                let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
                Ok(crate::proto::quic::QuicStream::new(conn, send, recv).into_link(false, MAX_FRAME))
            }
        }
    }
}

/// Run `count` simulated edges against 127.0.0.1:`port` (over QUIC to
/// `quic_port` when it is not 0), each sending `ups` durable messages.
pub fn run(ca_dir: &std::path::Path, port: u16, quic_port: u16, count: usize, ups: u64) -> Result<(), String> {
    let ca = CertAuthority::load(ca_dir).map_err(|e| e.to_string())?;
    let mut cfgs = Vec::with_capacity(count);
    for i in 0..count {
        let (cert, key) = ca.issue_node(&format!("sim-{i}"), 2).map_err(|e| e.to_string())?;
        cfgs.push(tls::client_config(&ca.cert_pem, &cert, &key).map_err(|e| e.to_string())?);
    }
    let mut dials = Vec::with_capacity(count);
    #[cfg(feature = "quic")]
    let mut endpoint = None;
    for (i, cfg) in cfgs.into_iter().enumerate() {
        if quic_port == 0 {
            dials.push(Dial::Ws(port, TlsConnector::from(cfg)));
            continue;
        }
        #[cfg(feature = "quic")]
        {
            if i % 256 == 0 {
                endpoint = Some(quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).map_err(|e| format!("UDP socket: {e}"))?);
            }
            let tuning =
                crate::proto::quic::Tuning { idle: Duration::from_secs(600), keep_alive: Some(Duration::from_secs(10)), peer_streams: 0, max_frame: MAX_FRAME };
            let q = tls::quic::client(&cfg, &tuning).map_err(|e| e.to_string())?;
            let e = endpoint.clone().ok_or("no endpoint")?;
            dials.push(Dial::Quic(([127, 0, 0, 1], quic_port).into(), e, q));
        }
        #[cfg(not(feature = "quic"))]
        return Err(crate::features::missing(&format!("simulated edge {i} over QUIC"), "quic"));
    }
    let stats = Rc::new(RefCell::new(Stats::default()));
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        for (i, dial) in dials.into_iter().enumerate() {
            let st = stats.clone();
            ex.spawn(async move { sim_edge(i, dial, ups, count, st).await }).detach();
            if i % 50 == 49 {
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        }
        std::future::pending::<()>().await;
    }));
    Ok(())
}

async fn sim_edge(i: usize, dial: Dial, ups: u64, count: usize, st: Rc<RefCell<Stats>>) {
    let mut held: HashMap<String, u64> = HashMap::new();
    let mut attempt = 0u32;
    let mut ever = false;
    loop {
        match session(i, &dial, ups, count, &st, &mut held, &mut ever).await {
            Ok(()) => attempt = 0,
            Err(_) => attempt += 1,
        }
        smol::Timer::after(crate::edge::hub::backoff(attempt.min(6), 200, 5000)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    _i: usize,
    dial: &Dial,
    ups: u64,
    count: usize,
    st: &Rc<RefCell<Stats>>,
    held: &mut HashMap<String, u64>,
    ever: &mut bool,
) -> Result<(), String> {
    let mut wsock = dial.link().await?;
    let inventory = held.iter().map(|(k, v)| (k.clone(), *v)).collect();
    ws::send(&mut wsock, &Frame::Hello(Hello { hive_version: "sim".into(), arch: "sim".into(), inventory }), MAX_FRAME).await?;
    let up_applied = match ws::recv(&mut wsock, MAX_FRAME).await {
        Incoming::Frame(Frame::Welcome(w)) => w.up_applied,
        _ => return Err("no welcome".into()),
    };
    if !*ever {
        *ever = true;
        let mut s = st.borrow_mut();
        s.connected += 1;
        if s.connected == count && !s.announced_ready {
            s.announced_ready = true;
            println!("ready {count}");
        }
    }
    let mut next = up_applied + 1;
    let mut acked = up_applied;
    loop {
        while next <= ups && next - acked <= 64 {
            let m = Message::new("sim", "app", "default/event/e", "event", next.to_le_bytes().to_vec());
            ws::send(&mut wsock, &Frame::Up { seq: next, msg: m }, MAX_FRAME).await?;
            next += 1;
        }
        match ws::recv(&mut wsock, MAX_FRAME).await {
            Incoming::Frame(Frame::Object(o)) => {
                if let Some(c) = &o.content {
                    // content: "<round> <sent-at-ms>"
                    let text = String::from_utf8_lossy(c);
                    let mut it = text.split_whitespace();
                    if let (Some(Ok(round)), Some(Ok(sent))) = (it.next().map(str::parse::<u64>), it.next().map(str::parse::<u64>)) {
                        let mut s = st.borrow_mut();
                        let v = s.rounds.entry(round).or_default();
                        v.push(now_ms().saturating_sub(sent));
                        if v.len() == count {
                            let mut l = v.clone();
                            l.sort();
                            println!("round {round} {count} {} {}", super::pct(&l, 50), super::pct(&l, 99));
                        }
                    }
                    held.insert(o.key.clone(), o.version);
                } else {
                    held.remove(&o.key);
                }
                ws::send(&mut wsock, &Frame::ObjectAck { key: o.key, version: o.version }, MAX_FRAME).await?;
            }
            Incoming::Frame(Frame::UpAck { seq }) => acked = acked.max(seq),
            Incoming::Frame(_) | Incoming::Alive => {}
            Incoming::Closed(e) | Incoming::Bad(e) => return Err(e),
        }
    }
}
