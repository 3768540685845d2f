//! Streams the cloud opens to this node (through EdgeHub, proto/stream.rs):
//! - `logs` with `follow`: the log so far as `kubectl logs` shows it, then
//!   each new whole line as the runtime writes it, across a truncation or
//!   rotation of the file, until the container stops or restarts, the
//!   byte limit is reached or the client goes away;
//! - `exec` and `attach`: CRI `Exec`/`Attach`, then every message passed
//!   between the stream and the runtime's streaming server as it is (both
//!   speak Kubernetes' channel protocol; cri/streaming.rs);
//! - `portForward`: bytes to and from a TCP connection to the pod's port.
//!
//! Every exec and attach is logged with pod, container and command, never
//! what flows. Owns: serving one stream. Must not touch pods.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::StreamExt as _;
use serde::Deserialize;
use smol::future::FutureExt as _;

use super::cri::streaming::{self, AttachRequest, ExecRequest};
use super::cri::{api, Cri};
use super::logs::{self, LogRequest};
use super::sync::{CONTAINER, POD_UID};
use super::NAME;
use crate::proto::stream::{Accepted, Event, Stream};

/// How often a followed log is looked at.
const POLL: Duration = Duration::from_millis(200);
/// Most bytes read from a log at one look.
const STEP: usize = 256 << 10;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecOptions {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Where a forwarded port is (the cloud reads it from the pod: loopback
/// for host-network pods, else the pod's IP).
#[derive(Deserialize)]
pub struct PortForward {
    pub namespace: String,
    pub pod: String,
    pub host: std::net::IpAddr,
    pub port: u16,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Request {
    Logs(LogRequest),
    Exec(ExecOptions),
    Attach(ExecOptions),
    PortForward(PortForward),
}

/// Serve one stream to its end.
pub async fn serve(cri: Rc<Cri>, logs_dir: PathBuf, (mut stream, request): Accepted) {
    let result = match serde_json::from_slice::<Request>(&request) {
        Err(e) => Err(format!("bad stream request: {e}")),
        Ok(Request::Logs(r)) => follow(&cri, &logs_dir, &r, &mut stream).await,
        Ok(Request::Exec(o)) => {
            log::info!(target: NAME, "exec in {}/{} container {}: {:?}", o.namespace, o.pod, o.container, o.command);
            exec(&cri, &o, false, &mut stream).await
        }
        Ok(Request::Attach(o)) => {
            log::info!(target: NAME, "attach to {}/{} container {}", o.namespace, o.pod, o.container);
            exec(&cri, &o, true, &mut stream).await
        }
        Ok(Request::PortForward(p)) => {
            log::info!(target: NAME, "port-forward to {}/{} port {}", p.namespace, p.pod, p.port);
            port_forward(&p, &mut stream).await
        }
    };
    if let Err(why) = &result {
        log::debug!(target: NAME, "stream {}: {why}", stream.id());
    }
    stream.close(result.err().as_deref());
}

/// The id of the running container `name` of pod `uid`.
async fn running(cri: &Cri, uid: &str, name: &str) -> Result<Option<String>, String> {
    let labels = HashMap::from([(POD_UID.to_string(), uid.to_string()), (CONTAINER.to_string(), name.to_string())]);
    let all = cri.list_containers(labels).await.map_err(|e| e.to_string())?;
    Ok(all.into_iter().filter(|c| c.state == api::CONTAINER_RUNNING).max_by_key(|c| c.created_at).map(|c| c.id))
}

async fn exec(cri: &Cri, o: &ExecOptions, attach: bool, stream: &mut Stream) -> Result<(), String> {
    let id = running(cri, &o.uid, &o.container).await?.ok_or_else(|| format!("container {} of pod {}/{} is not running", o.container, o.namespace, o.pod))?;
    let url = if attach {
        cri.attach(&AttachRequest { container_id: id, stdin: o.stdin, tty: o.tty, stdout: o.stdout, stderr: o.stderr && !o.tty }).await
    } else {
        if o.command.is_empty() {
            return Err("exec needs a command".into());
        }
        let req = ExecRequest { container_id: id, cmd: o.command.clone(), tty: o.tty, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr && !o.tty };
        cri.exec(&req).await
    }
    .map_err(|e| e.to_string())?;
    let mut ws = streaming::connect(&url).await?;
    enum Ev {
        Cloud(Event),
        Runtime(Option<Result<WsMessage, async_tungstenite::tungstenite::Error>>),
    }
    loop {
        let ev = {
            let cloud = async { Ev::Cloud(stream.recv().await) };
            let runtime = async { Ev::Runtime(ws.next().await) };
            runtime.or(cloud).await
        };
        match ev {
            Ev::Cloud(Event::Data(d)) => match d.first() {
                // v5's "this stream ends" has no v4 form: the runtime's websocket cannot say it.
                Some(255) => log::debug!(target: NAME, "stream {}: client closed channel {:?}", stream.id(), d.get(1)),
                Some(_) => ws.send(WsMessage::Binary(d.into())).await.map_err(|e| format!("streaming server: {e}"))?,
                None => {}
            },
            Ev::Cloud(Event::End(_)) => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            Ev::Runtime(Some(Ok(WsMessage::Binary(b)))) => stream.send_message(&b).await?,
            Ev::Runtime(Some(Ok(WsMessage::Text(t)))) => stream.send_message(t.as_bytes()).await?,
            Ev::Runtime(Some(Ok(WsMessage::Close(_)))) | Ev::Runtime(None) => return Ok(()),
            Ev::Runtime(Some(Ok(_))) => {}
            Ev::Runtime(Some(Err(e))) => return Err(format!("streaming server: {e}")),
        }
    }
}

/// The stream ⇄ a TCP connection to the pod's port, until either ends.
async fn port_forward(p: &PortForward, stream: &mut Stream) -> Result<(), String> {
    use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = std::net::SocketAddr::new(p.host, p.port);
    let mut tcp = smol::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("error forwarding port {} to pod {}/{}: cannot connect to {addr}: {e}", p.port, p.namespace, p.pod))?;
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let ev = {
            let from_pod = async { Ok::<_, Event>(tcp.read(&mut buf).await) };
            let from_cloud = async { Err(stream.recv().await) };
            from_pod.or(from_cloud).await
        };
        match ev {
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => stream.send(&buf[..n]).await?,
            Ok(Err(e)) => return Err(format!("port {} of pod {}/{}: {e}", p.port, p.namespace, p.pod)),
            Err(Event::Data(d)) => tcp.write_all(&d).await.map_err(|e| format!("port {} of pod {}/{}: {e}", p.port, p.namespace, p.pod))?,
            Err(Event::End(_)) => return Ok(()),
        }
    }
}

/// The log so far, then what is written while the container runs. Read a
/// look (`STEP`) at a time: a board never holds a whole log in memory.
async fn follow(cri: &Cri, dir: &Path, r: &LogRequest, stream: &mut Stream) -> Result<(), String> {
    let path = logs::locate(dir, r)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut left = r.limit_bytes.unwrap_or(usize::MAX);
    let mut ino = inode(&path);
    // `tailLines` needs the end first: the last lines of at most a look back.
    let mut offset = 0;
    if r.tail_lines.is_some() {
        let len = std::fs::metadata(&path).map(|m| m.len() as usize).map_err(|e| format!("{}: {e}", path.display()))?;
        let from = len.saturating_sub(STEP);
        let raw = read_at(&path, from, len - from)?;
        // Start on a whole line when the look began mid-file.
        let start = if from == 0 { 0 } else { raw.iter().position(|b| *b == b'\n').map_or(raw.len(), |i| i + 1) };
        let whole = start + logs::complete(&raw[start..]);
        offset = from + whole;
        if !send_limited(stream, &logs::render(&raw[start..whole], r, now), &mut left).await? {
            return Ok(());
        }
    }
    // From here every whole line, filtered only by `sinceSeconds`.
    let next = LogRequest { timestamps: r.timestamps, since_seconds: r.since_seconds, ..Default::default() };
    let mut alive = if r.previous { None } else { running(cri, &r.uid, &r.container).await.ok().flatten() };
    let mut checked = Instant::now();
    loop {
        let len = std::fs::metadata(&path).map(|m| m.len() as usize).unwrap_or(0);
        let now_ino = inode(&path);
        if len < offset || now_ino != ino {
            // Truncated or rotated: the new file from its start.
            offset = 0;
            ino = now_ino;
        }
        if len > offset {
            let chunk = read_at(&path, offset, (len - offset).min(STEP))?;
            let whole = match logs::complete(&chunk) {
                // A partial line longer than a look: take what has newlines.
                0 if chunk.len() == STEP => chunk.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1),
                n => n,
            };
            offset += whole;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if !send_limited(stream, &logs::render(&chunk[..whole], &next, now), &mut left).await? {
                return Ok(());
            }
            if chunk.len() == STEP && whole > 0 {
                continue; // more is there already
            }
        }
        let Some(id) = alive.as_deref() else { return Ok(()) };
        if checked.elapsed() >= Duration::from_secs(1) {
            checked = Instant::now();
            if cri.container_status(id).await.is_ok_and(|s| s.state != api::CONTAINER_RUNNING) {
                alive = None;
                continue; // one more look for its last lines
            }
        }
        let gone = async {
            loop {
                if let Event::End(_) = stream.recv().await {
                    return true;
                }
            }
        };
        let tick = async {
            smol::Timer::after(POLL).await;
            false
        };
        if gone.or(tick).await {
            return Ok(());
        }
    }
}

/// Send `text` within what `limitBytes` leaves; false once the limit is reached.
async fn send_limited(stream: &mut Stream, text: &[u8], left: &mut usize) -> Result<bool, String> {
    let n = text.len().min(*left);
    if n > 0 {
        stream.send(&text[..n]).await?;
    }
    *left -= n;
    Ok(*left > 0)
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(p).map(|m| m.ino()).unwrap_or(0)
}

fn read_at(p: &Path, offset: usize, len: usize) -> Result<Vec<u8>, String> {
    use std::io::{Read as _, Seek as _};
    let mut f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    f.seek(std::io::SeekFrom::Start(offset as u64)).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut buf).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(buf)
}
