//! One node's session in steady state: downstream inventory sync (send what
//! the edge lacks, at most WINDOW unacknowledged), upstream durable messages
//! applied in order exactly once, pass-through messages both ways, and the
//! node's streams (their frames after sync and acks).
//!
//! Owns: the per-connection loop. Must not touch other nodes' sessions.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use smol::channel::Receiver;
use smol::future::FutureExt as _;
use smol::io::{AsyncRead, AsyncWrite};

use super::nodes::{Downstream, SessionEnds};
use super::{Hub, NAME};
use crate::core::Message;
use crate::core::Reply;
use crate::proto::stream::Table;
use crate::proto::ws::{self, Incoming};
use crate::proto::{Frame, ObjectChange};

/// Object frames in flight per node before the cloud waits for acks.
pub const WINDOW: usize = 128;

/// Upstream acks are batched: one flush covers up to this many messages…
const ACK_BATCH: usize = 64;
/// …or whatever arrived within this long.
const ACK_DELAY: Duration = Duration::from_millis(2);

enum Ev {
    In(Incoming),
    Out(Option<Frame>),
    Stream(Option<Frame>),
    Kick(String),
    Poke,
    FlushAcks,
}

impl Hub {
    /// Ok(reason) for an orderly end; Err(reason) for a violation to be
    /// answered with a close frame.
    pub(super) async fn session<S>(
        &self,
        node: &str,
        wsock: &mut WebSocketStream<S>,
        ends: SessionEnds,
        streams: (Receiver<Frame>, Arc<Table>),
        inventory: Vec<(String, u64)>,
    ) -> Result<String, String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        {
            let mut d = ends.down.borrow_mut();
            for (k, v) in inventory {
                d.mark(&k);
                d.edge_has.insert(k, v);
            }
            for k in self.sync.keys(node).map_err(|e| e.to_string())? {
                d.mark(&k);
            }
        }
        let (stream_out, table) = streams;
        // Applied but not yet flushed and acknowledged: (highest seq, count, since).
        let mut unacked: Option<(u64, usize, Instant)> = None;
        loop {
            self.pump(node, &ends.down, wsock).await?;
            let ev = {
                let flush_at = unacked.map(|(_, _, since)| since + ACK_DELAY);
                let flush = async {
                    match flush_at {
                        Some(at) => {
                            smol::Timer::at(at).await;
                            Ev::FlushAcks
                        }
                        None => std::future::pending().await,
                    }
                };
                let incoming = async { Ev::In(ws::recv(wsock, self.max_frame()).await) };
                let out = async { Ev::Out(ends.rx.recv().await.ok()) };
                let kicked = async { Ev::Kick(ends.kick.recv().await.unwrap_or_else(|_| "session replaced".into())) };
                let poke = async {
                    let _ = ends.poke.recv().await;
                    Ev::Poke
                };
                // Stream frames go after sync and acks; credit bounds how many there are.
                let stream = async { Ev::Stream(stream_out.recv().await.ok()) };
                kicked.or(out).or(poke).or(incoming).or(stream).or(flush).await
            };
            match ev {
                Ev::In(Incoming::Frame(f)) => {
                    self.nodes.borrow_mut().touch(node);
                    match f {
                        Frame::ObjectAck { .. } => {
                            let mut d = ends.down.borrow_mut();
                            d.unacked = d.unacked.saturating_sub(1);
                        }
                        Frame::Up { seq, msg } => {
                            let applied = self.apply_up(node, seq, msg).await?;
                            let (_, n, since) = unacked.unwrap_or((0, 0, Instant::now()));
                            unacked = Some((applied, n + 1, since));
                            if n + 1 >= ACK_BATCH {
                                self.flush_acks(wsock, &mut unacked).await?;
                            }
                        }
                        Frame::Message(m) => self.pass_up(node, m),
                        f @ (Frame::StreamData { .. } | Frame::StreamCredit { .. } | Frame::StreamClose { .. }) => {
                            table.on_frame(f)?;
                        }
                        Frame::Hello(_) | Frame::Welcome(_) | Frame::Object(_) | Frame::UpAck { .. } | Frame::StreamOpen { .. } => {
                            return Err("unexpected frame from an edge".into())
                        }
                    }
                }
                Ev::In(Incoming::Alive) => self.nodes.borrow_mut().touch(node),
                Ev::In(Incoming::Closed(why)) => return Ok(why),
                Ev::In(Incoming::Bad(why)) => return Err(why),
                Ev::Out(Some(f)) => ws::send(wsock, &f, self.max_frame()).await.map_err(|e| format!("send: {e}"))?,
                Ev::Out(None) => return Ok("session replaced".into()),
                Ev::Stream(Some(f)) => ws::send(wsock, &f, self.max_frame()).await.map_err(|e| format!("send: {e}"))?,
                Ev::Stream(None) => {}
                Ev::Kick(why) => {
                    ws::close(wsock, false, &why).await;
                    return Ok(why);
                }
                Ev::Poke => {}
                Ev::FlushAcks => self.flush_acks(wsock, &mut unacked).await?,
            }
        }
    }

    /// Flush what was applied, then acknowledge it cumulatively.
    async fn flush_acks<S>(&self, wsock: &mut WebSocketStream<S>, unacked: &mut Option<(u64, usize, Instant)>) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if let Some((seq, _, _)) = unacked.take() {
            self.sync.flush().await.map_err(|e| e.to_string())?;
            ws::send(wsock, &Frame::UpAck { seq }, self.max_frame()).await?;
        }
        Ok(())
    }

    /// Send the edge every object it lacks or holds in another version, and
    /// deletions of what it should not hold; at most WINDOW unacknowledged.
    async fn pump<S>(&self, node: &str, down: &Rc<RefCell<Downstream>>, wsock: &mut WebSocketStream<S>) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let key = {
                let mut d = down.borrow_mut();
                if d.unacked >= WINDOW {
                    return Ok(());
                }
                match d.next_dirty() {
                    Some(k) => k,
                    None => return Ok(()),
                }
            };
            let desired = self.sync.get(node, &key).map_err(|e| e.to_string())?;
            let change = {
                let mut d = down.borrow_mut();
                let has = d.edge_has.get(&key).copied();
                match desired {
                    Some((v, c)) if has != Some(v) => {
                        d.edge_has.insert(key.clone(), v);
                        d.unacked += 1;
                        Some(ObjectChange { key, version: v, content: Some(c) })
                    }
                    None if has.is_some() => {
                        d.edge_has.remove(&key);
                        d.unacked += 1;
                        Some(ObjectChange { key, version: 0, content: None })
                    }
                    _ => None,
                }
            };
            if let Some(c) = change {
                crate::cloud::metrics::OBJECTS_SENT.inc();
                ws::send(wsock, &Frame::Object(c), self.max_frame()).await?;
            }
        }
    }

    /// Apply durable upstream message `seq` once; returns the new applied mark.
    /// The per-node lock serialises a replaced session still applying with
    /// its successor, and the mark is re-read under it: never applied twice.
    async fn apply_up(&self, node: &str, seq: u64, mut msg: Message) -> Result<u64, String> {
        let lock = self.apply_locks.borrow_mut().entry(node.to_string()).or_default().clone();
        let _guard = lock.lock().await;
        let applied = self.sync.up_applied(node).map_err(|e| e.to_string())?;
        if seq <= applied {
            return Ok(applied);
        }
        msg.resource = format!("node/{node}/{}", msg.resource);
        msg.source = NAME.to_string();
        msg.seq = seq;
        msg.parent_id = None;
        let group = msg.group.clone();
        match self.router.members(&group).first() {
            None => log::warn!(target: NAME, "node {node}: no cloud module in group `{group}` for upstream message {seq} ({}); dropped", msg.resource),
            Some(module) => {
                let res = msg.resource.clone();
                let started = Instant::now();
                let answer = self.router.request(module, msg, self.request_timeout).await;
                crate::cloud::metrics::UPSTREAM_APPLY.since(&[], started);
                match answer {
                    Ok(reply) if Reply::error_of(&reply.content).is_some() => {
                        log::warn!(target: NAME, "node {node}: {module} rejected upstream message {seq} ({res}): {}", reply.content_text())
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("upstream message {seq} not applied: {e}")),
                }
            }
        }
        self.sync.set_up_applied(node, seq).map_err(|e| e.to_string())?;
        crate::cloud::metrics::UPSTREAM_APPLIED.inc();
        Ok(seq)
    }

    /// Sign a rotation request of `node` (its name comes from the session's
    /// certificate, never from the request): the new certificate's PEM.
    fn rotate(&self, node: &str, csr: &[u8]) -> Vec<u8> {
        let lifetime = self.cfg.node_cert_lifetime_s.min(i64::MAX as u64) as i64;
        let gap = Duration::from_secs(self.cfg.node_cert_lifetime_s / 20).min(Duration::from_secs(60));
        if self.rotated.borrow().get(node).is_some_and(|t| t.elapsed() < gap) {
            return Reply::Error(format!("rotation refused: asked again within {} s", gap.as_secs())).encode();
        }
        self.rotated.borrow_mut().insert(node.to_string(), Instant::now());
        let signed = std::str::from_utf8(csr)
            .map_err(|_| "the request is not PEM text".to_string())
            .and_then(|pem| self.ca.sign_node_csr(node, pem, lifetime).map_err(|e| e.to_string()))
            .and_then(|(cert, serial)| {
                self.registry.record(node, &serial, crate::kube::unix_now() + lifetime).map_err(|e| e.to_string())?;
                Ok((cert, serial))
            });
        match signed {
            Ok((cert, serial)) => {
                let serial = crate::tls::hex(&serial);
                log::info!(target: NAME, "node {node}: certificate rotated (new serial {serial}, valid {lifetime} s)");
                cert.into_bytes()
            }
            Err(e) => {
                log::warn!(target: NAME, "node {node}: rotation refused: {e}");
                Reply::Error(format!("rotation refused: {e}")).encode()
            }
        }
    }

    /// A non-durable message from an edge: a reply to its waiter, or to the group it names.
    fn pass_up(&self, node: &str, mut m: Message) {
        // Rotation: a request made on the edge, for a certificate of its own name.
        if m.group == "hub" && m.operation == "csr" && m.parent_id.is_none() {
            let reply = self.rotate(node, &m.content);
            if let Some(s) = self.nodes.borrow().session(node) {
                let _ = s.try_send(Frame::Message(m.reply(NAME, reply)));
            }
            return;
        }
        // An edge may ask CloudHub questions about its own set, never change it.
        if m.group == "hub" && m.operation != "query" && m.parent_id.is_none() {
            log::warn!(target: NAME, "node {node}: refused `{}` on {} addressed to the hub", m.operation, m.resource);
            // Tell a waiting edge module at once rather than let it time out.
            let why = Reply::Error(format!("refused: an edge may only query the hub, not `{}`", m.operation));
            if let Some(s) = self.nodes.borrow().session(node) {
                let _ = s.try_send(Frame::Message(m.reply(NAME, why.encode())));
            }
            return;
        }
        m.resource = format!("node/{node}/{}", m.resource);
        m.source = NAME.to_string();
        if let Err(e) = self.router.route_remote(m) {
            log::warn!(target: NAME, "node {node}: message not delivered: {e}");
        }
    }
}
