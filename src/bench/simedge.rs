//! Simulated edges for the tunnel bench: many tunnel clients in one
//! executor (TLS, websocket, Hello with inventory, object acks, durable
//! upstream frames), no sled and no modules, so thousands fit one process.
//! Reports on stdout, one line per event the bench driver waits for:
//! `ready N`, `round R N p50 p99` (downstream delivery latency in ms).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::TlsConnector;
use smol::net::TcpStream;

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

/// Run `count` simulated edges against 127.0.0.1:`port`, each sending `ups` durable messages.
pub fn run(ca_dir: &std::path::Path, port: u16, count: usize, ups: u64) -> Result<(), String> {
    let ca = CertAuthority::load(ca_dir).map_err(|e| e.to_string())?;
    let mut cfgs = Vec::with_capacity(count);
    for i in 0..count {
        let (cert, key) = ca.issue_node(&format!("sim-{i}"), 2).map_err(|e| e.to_string())?;
        cfgs.push(tls::client_config(&ca.cert_pem, &cert, &key).map_err(|e| e.to_string())?);
    }
    let stats = Rc::new(RefCell::new(Stats::default()));
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        for (i, cfg) in cfgs.into_iter().enumerate() {
            let st = stats.clone();
            ex.spawn(async move { sim_edge(i, port, cfg, ups, count, st).await }).detach();
            if i % 50 == 49 {
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        }
        std::future::pending::<()>().await;
    }));
    Ok(())
}

async fn sim_edge(i: usize, port: u16, cfg: Arc<rustls::ClientConfig>, ups: u64, count: usize, st: Rc<RefCell<Stats>>) {
    let connector = TlsConnector::from(cfg);
    let mut held: HashMap<String, u64> = HashMap::new();
    let mut attempt = 0u32;
    let mut ever = false;
    loop {
        match session(i, port, &connector, ups, count, &st, &mut held, &mut ever).await {
            Ok(()) => attempt = 0,
            Err(_) => attempt += 1,
        }
        smol::Timer::after(crate::edge::hub::backoff(attempt.min(6), 200, 5000)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    _i: usize,
    port: u16,
    connector: &TlsConnector,
    ups: u64,
    count: usize,
    st: &Rc<RefCell<Stats>>,
    held: &mut HashMap<String, u64>,
    ever: &mut bool,
) -> Result<(), String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let tls = connector.connect(tls::server_name("127.0.0.1").map_err(|e| e.to_string())?, tcp).await.map_err(|e| e.to_string())?;
    let (mut wsock, _) =
        async_tungstenite::client_async_with_config(format!("wss://127.0.0.1:{port}{}", crate::proto::TUNNEL_PATH), tls, Some(ws::ws_config(MAX_FRAME)))
            .await
            .map_err(|e| e.to_string())?;
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
