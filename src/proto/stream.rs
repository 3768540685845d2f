//! Streams multiplexed in the tunnel (KubeEdge's CloudStream/EdgeStream):
//! `kubectl logs -f`, `exec` and `attach` ride the node's one websocket as
//! numbered streams beside object sync.
//!
//! A stream is opened by the cloud (`StreamOpen` with a JSON request),
//! carries messages both ways (`StreamData`, each at most `MAX_CHUNK`) and
//! is ended by either side (`StreamClose`, with a reason when it failed).
//! Flow control is a credit window per stream and direction: a side sends
//! at most `WINDOW` bytes the peer has not yet handed to its consumer, and
//! the peer returns credit (`StreamCredit`) as its consumer takes them. So
//! a slow reader (a stuck kubectl) holds back only its own stream, and what
//! the tunnel buffers for it is bounded; object sync, acks and pings never
//! wait behind it.
//!
//! Owns: one connection's stream table and the `Stream` handles. Frames to
//! send go into the `out` channel the session loop drains; frames received
//! are handed in by that loop (`on_frame`). Must not do socket I/O or know
//! what a stream carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use smol::channel::{self, Receiver, Sender};

use super::Frame;

/// Bytes one side may send on a stream before the peer returns credit.
pub const WINDOW: u32 = 256 << 10;
/// Largest `StreamData` payload; bigger writes are split.
pub const MAX_CHUNK: usize = 32 << 10;
/// Credit is returned once this much was consumed (fewer, larger frames).
const CREDIT_STEP: u32 = WINDOW / 4;

/// A stream the peer opened, with its request.
pub type Accepted = (Stream, Vec<u8>);

/// What a stream's reader gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Data(Vec<u8>),
    /// The peer ended the stream: `None` in order, `Some(why)` on failure.
    End(Option<String>),
}

struct Slot {
    inbox: Sender<Event>,
    /// Bytes we may still send.
    credit: u32,
    credit_wake: Sender<()>,
    /// Bytes received and not yet taken by the reader.
    buffered: u32,
}

struct Inner {
    streams: HashMap<u64, Slot>,
    next_id: u64,
    /// Set once the connection is gone: no new streams.
    closed: Option<String>,
}

/// The streams of one tunnel connection.
pub struct Table {
    inner: Mutex<Inner>,
    out: Sender<Frame>,
    /// Most streams open at once on this connection.
    max_streams: usize,
    /// Largest payload this side sends (fits the connection's frame cap).
    chunk: usize,
}

impl Table {
    /// A table whose frames go to `out`, on a connection whose frames are
    /// at most `max_frame` bytes.
    pub fn new(out: Sender<Frame>, max_streams: usize, max_frame: usize) -> Arc<Table> {
        let chunk = MAX_CHUNK.min(max_frame / 2).max(2);
        Arc::new(Table { inner: Mutex::new(Inner { streams: HashMap::new(), next_id: 1, closed: None }), out, max_streams, chunk })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Streams open now.
    pub fn len(&self) -> usize {
        self.lock().streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(self: &Arc<Self>, inner: &mut Inner, id: u64) -> Stream {
        let (inbox, rx) = channel::unbounded();
        let (credit_wake, wake_rx) = channel::bounded(1);
        inner.streams.insert(id, Slot { inbox, credit: WINDOW, credit_wake, buffered: 0 });
        Stream { id, table: self.clone(), rx, wake: wake_rx, consumed: 0, ended: false }
    }

    /// Open a stream carrying `request` to the peer (the cloud's side).
    pub fn open(self: &Arc<Self>, request: Vec<u8>) -> Result<Stream, String> {
        let mut inner = self.lock();
        if let Some(why) = &inner.closed {
            return Err(why.clone());
        }
        if inner.streams.len() >= self.max_streams {
            return Err(format!("{} streams are open on this tunnel, the most it carries; close one (an exec or logs -f) and retry", self.max_streams));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let s = self.add(&mut inner, id);
        drop(inner);
        if self.out.try_send(Frame::StreamOpen { id, request }).is_err() {
            return Err("the tunnel is closing".into());
        }
        Ok(s)
    }

    /// Handle a stream frame from the peer. A `StreamOpen` comes back as
    /// the new stream and its request (the edge's side); `Err` is a
    /// protocol violation the connection should end with.
    pub fn on_frame(self: &Arc<Self>, f: Frame) -> Result<Option<Accepted>, String> {
        let mut inner = self.lock();
        match f {
            Frame::StreamOpen { id, request } => {
                if inner.streams.contains_key(&id) {
                    return Err(format!("stream {id} opened twice"));
                }
                if inner.streams.len() >= self.max_streams {
                    drop(inner);
                    let _ =
                        self.out.try_send(Frame::StreamClose { id, error: format!("{} streams are open on this node, the most it serves", self.max_streams) });
                    return Ok(None);
                }
                Ok(Some((self.add(&mut inner, id), request)))
            }
            Frame::StreamData { id, data } => {
                // Data for a stream we already ended may still be on the way: dropped.
                let Some(slot) = inner.streams.get_mut(&id) else { return Ok(None) };
                let len = data.len() as u32;
                if data.len() > MAX_CHUNK || slot.buffered + len > WINDOW {
                    return Err(format!("stream {id}: {len} bytes sent beyond the credit window ({} buffered of {WINDOW})", slot.buffered));
                }
                slot.buffered += len;
                let _ = slot.inbox.try_send(Event::Data(data));
                Ok(None)
            }
            Frame::StreamCredit { id, bytes } => {
                if let Some(slot) = inner.streams.get_mut(&id) {
                    slot.credit = slot.credit.saturating_add(bytes).min(WINDOW);
                    let _ = slot.credit_wake.try_send(());
                }
                Ok(None)
            }
            Frame::StreamClose { id, error } => {
                if let Some(slot) = inner.streams.remove(&id) {
                    let _ = slot.inbox.try_send(Event::End((!error.is_empty()).then_some(error)));
                }
                Ok(None)
            }
            _ => Err("not a stream frame".into()),
        }
    }

    /// The connection is gone: every stream ends with `why`, and no new one opens.
    pub fn close_all(&self, why: &str) {
        let mut inner = self.lock();
        inner.closed = Some(why.to_string());
        for (_, slot) in inner.streams.drain() {
            let _ = slot.inbox.try_send(Event::End(Some(why.to_string())));
        }
    }

    fn take_credit(&self, id: u64, want: u32) -> Result<bool, String> {
        let mut inner = self.lock();
        if let Some(why) = &inner.closed {
            return Err(why.clone());
        }
        let Some(slot) = inner.streams.get_mut(&id) else { return Err("the stream was closed by the other side".into()) };
        if slot.credit < want {
            return Ok(false);
        }
        slot.credit -= want;
        Ok(true)
    }
}

/// One end of a stream. Dropping it closes the stream in order.
pub struct Stream {
    id: u64,
    table: Arc<Table>,
    rx: Receiver<Event>,
    wake: Receiver<()>,
    consumed: u32,
    ended: bool,
}

impl Stream {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Send `data` (split into chunks), waiting for credit as needed.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), String> {
        for chunk in data.chunks(self.table.chunk) {
            while !self.table.take_credit(self.id, chunk.len() as u32)? {
                if self.wake.recv().await.is_err() {
                    return Err("stream closed".into());
                }
            }
            self.table.out.try_send(Frame::StreamData { id: self.id, data: chunk.to_vec() }).map_err(|_| "the tunnel is closing".to_string())?;
        }
        Ok(())
    }

    /// Send one message of Kubernetes' channel protocol (first byte: the
    /// channel); one too big for a frame is split, each part keeping it.
    pub async fn send_message(&mut self, msg: &[u8]) -> Result<(), String> {
        let Some((&channel, payload)) = msg.split_first() else { return Ok(()) };
        if msg.len() <= self.table.chunk {
            return self.send(msg).await;
        }
        for part in payload.chunks(self.table.chunk - 1) {
            let mut m = Vec::with_capacity(part.len() + 1);
            m.push(channel);
            m.extend_from_slice(part);
            self.send(&m).await?;
        }
        Ok(())
    }

    /// The next message; after `Event::End`, an error end again.
    pub async fn recv(&mut self) -> Event {
        if self.ended {
            return Event::End(Some("stream already ended".into()));
        }
        let ev = self.rx.recv().await.unwrap_or(Event::End(Some("stream dropped".into())));
        match &ev {
            Event::Data(d) => self.taken(d.len() as u32),
            Event::End(_) => self.ended = true,
        }
        ev
    }

    /// The reader took `n` bytes: return credit in steps.
    fn taken(&mut self, n: u32) {
        let mut inner = self.table.lock();
        if let Some(slot) = inner.streams.get_mut(&self.id) {
            slot.buffered = slot.buffered.saturating_sub(n);
        }
        drop(inner);
        self.consumed += n;
        if self.consumed >= CREDIT_STEP {
            let _ = self.table.out.try_send(Frame::StreamCredit { id: self.id, bytes: self.consumed });
            self.consumed = 0;
        }
    }

    /// End the stream, with `error` when it failed.
    pub fn close(mut self, error: Option<&str>) {
        self.finish(error.unwrap_or(""));
    }

    fn finish(&mut self, error: &str) {
        self.ended = true;
        // Already gone when the peer ended it or the tunnel closed: nothing to say.
        if self.table.lock().streams.remove(&self.id).is_some() {
            let _ = self.table.out.try_send(Frame::StreamClose { id: self.id, error: error.to_string() });
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream {}", self.id)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.finish("");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Arc<Table>, Receiver<Frame>, Arc<Table>, Receiver<Frame>) {
        let (a_tx, a_rx) = channel::unbounded();
        let (b_tx, b_rx) = channel::unbounded();
        (Table::new(a_tx, 4, 1 << 20), a_rx, Table::new(b_tx, 4, 1 << 20), b_rx)
    }

    /// Move every queued frame from one side to the other; returns accepted streams.
    fn pump(from: &Receiver<Frame>, to: &Arc<Table>) -> Vec<(Stream, Vec<u8>)> {
        let mut out = Vec::new();
        while let Ok(f) = from.try_recv() {
            if let Some(s) = to.on_frame(f).unwrap() {
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn data_flows_both_ways_and_credit_bounds_what_is_in_flight() {
        smol::block_on(async {
            let (cloud, cloud_out, edge, edge_out) = pair();
            let mut c = cloud.open(b"{\"kind\":\"logs\"}".to_vec()).unwrap();
            let mut accepted = pump(&cloud_out, &edge);
            let (mut e, req) = accepted.pop().unwrap();
            assert_eq!(req, b"{\"kind\":\"logs\"}");
            // The edge sends a whole window; a byte more must wait for credit.
            e.send(&vec![7u8; WINDOW as usize]).await.unwrap();
            let more = smol::future::poll_once(Box::pin(e.send(b"x")));
            assert!(more.await.is_none(), "beyond the window the sender waits");
            pump(&edge_out, &cloud);
            let mut got = 0;
            while got < CREDIT_STEP as usize {
                match c.recv().await {
                    Event::Data(d) => got += d.len(),
                    other => panic!("{other:?}"),
                }
            }
            pump(&cloud_out, &edge);
            e.send(b"x").await.unwrap();
            c.send(b"stdin").await.unwrap();
            pump(&cloud_out, &edge);
            assert_eq!(e.recv().await, Event::Data(b"stdin".to_vec()));
            // A channel message bigger than a chunk keeps its channel in every part.
            let mut big = vec![1u8];
            big.extend(std::iter::repeat_n(9u8, MAX_CHUNK + 10));
            c.send_message(&big).await.unwrap();
            pump(&cloud_out, &edge);
            for want in [MAX_CHUNK, 12] {
                match e.recv().await {
                    Event::Data(d) => assert!(d.len() == want && d[0] == 1 && d[1..].iter().all(|b| *b == 9), "{} bytes", d.len()),
                    other => panic!("{other:?}"),
                }
            }
            c.send(b"stdin").await.unwrap();
            pump(&cloud_out, &edge);
            assert_eq!(e.recv().await, Event::Data(b"stdin".to_vec()));
            e.close(Some("exit 3"));
            pump(&edge_out, &cloud);
            loop {
                match c.recv().await {
                    Event::Data(_) => continue,
                    end => break assert_eq!(end, Event::End(Some("exit 3".into()))),
                }
            }
            assert!(cloud.is_empty() && edge.is_empty());
        });
    }

    #[test]
    fn a_peer_beyond_its_window_is_a_violation_and_limits_are_errors() {
        let (cloud, cloud_out, edge, _) = pair();
        let s = cloud.open(Vec::new()).unwrap();
        pump(&cloud_out, &edge);
        for _ in 0..(WINDOW as usize / MAX_CHUNK) {
            assert!(cloud.on_frame(Frame::StreamData { id: s.id(), data: vec![0; MAX_CHUNK] }).is_ok());
        }
        assert!(cloud.on_frame(Frame::StreamData { id: s.id(), data: vec![0; 1] }).unwrap_err().contains("beyond the credit window"));
        let _more: Vec<Stream> = (0..3).map(|_| cloud.open(Vec::new()).unwrap()).collect();
        assert!(cloud.open(Vec::new()).unwrap_err().contains("the most it carries"));
        cloud.close_all("tunnel to node edge-1 closed");
        assert!(cloud.open(Vec::new()).unwrap_err().contains("closed"));
    }

    #[test]
    fn dropping_a_stream_closes_it_and_a_lost_tunnel_ends_every_stream() {
        smol::block_on(async {
            let (cloud, cloud_out, edge, _) = pair();
            let mut a = cloud.open(Vec::new()).unwrap();
            let b = cloud.open(Vec::new()).unwrap();
            let mut accepted = pump(&cloud_out, &edge);
            drop(b);
            let close = cloud_out.try_recv().unwrap();
            assert!(matches!(&close, Frame::StreamClose { error, .. } if error.is_empty()));
            edge.on_frame(close).unwrap();
            let (mut eb, _) = accepted.pop().unwrap();
            assert_eq!(eb.recv().await, Event::End(None));
            cloud.close_all("tunnel to node edge-1 closed");
            assert_eq!(a.recv().await, Event::End(Some("tunnel to node edge-1 closed".into())));
            assert!(a.send(b"x").await.is_err());
        });
    }
}
