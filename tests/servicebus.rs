//! ServiceBus end to end: the cloud API calls an HTTP app on an edge's
//! 127.0.0.1 through the tunnel (`/api/v1/nodes/<node>/proxy/<port>/<path>`),
//! with a real `hive cloud`, a real `hive edge` and a small HTTP server
//! started here; then the error paths: a refused port (502), an app too
//! slow (504), an unknown node (502), a body over the cap (413).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::api::start_cloud_with_api;
use common::inproc::free_port;
use common::Site;

/// A tiny HTTP/1.1 app: `/hello` → 200 with the query, `/echo` → the body,
/// `/slow` → answers after 3 s. One request per connection.
fn app() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; len];
                r.read_exact(&mut body).unwrap();
                let (code, out) = if target.starts_with("/hello") {
                    ("200 OK", format!("hello from the edge, {}", target.split_once('?').map(|x| x.1).unwrap_or("")).into_bytes())
                } else if target == "/echo" {
                    ("201 Created", body)
                } else if target == "/slow" {
                    std::thread::sleep(Duration::from_secs(3));
                    ("200 OK", b"late".to_vec())
                } else {
                    ("404 Not Found", b"no such page".to_vec())
                };
                let mut s = s;
                let _ = write!(s, "HTTP/1.1 {code}\r\nContent-Length: {}\r\nX-App: yes\r\nConnection: close\r\n\r\n", out.len());
                let _ = s.write_all(&out);
            });
        }
    });
    port
}

#[test]
fn the_cloud_calls_an_app_on_the_edge() {
    let site = Site::new();
    let (mut cloud, api, hub) = start_cloud_with_api(&site, "[api]\nlisten = \"127.0.0.1:0\"\n[cloudhub]\nlisten = \"127.0.0.1:0\"");
    site.node_cert("edge-1");
    let mut edge = site.start_edge("edge-1", hub, "[servicebus]\ntimeout_ms = 1000\nmax_body_bytes = 1000");
    edge.wait_for("connected to cloud", Duration::from_secs(20));
    let port = app();

    let (c, body) = api.call("GET", &format!("/api/v1/nodes/edge-1/proxy/{port}/hello?name=hive"), "text/plain", b"", true);
    assert_eq!((c, body.as_str()), (200, "hello from the edge, name=hive"));
    let (c, body) = api.call("POST", &format!("/api/v1/nodes/edge-1/proxy/{port}/echo"), "text/plain", b"ping", true);
    assert_eq!((c, body.as_str()), (201, "ping"));
    let (c, _) = api.call("GET", &format!("/api/v1/nodes/edge-1/proxy/{port}/missing"), "text/plain", b"", true);
    assert_eq!(c, 404, "the app's own status passes through");

    let closed = free_port();
    let (c, body) = api.call("GET", &format!("/api/v1/nodes/edge-1/proxy/{closed}/x"), "text/plain", b"", true);
    assert_eq!(c, 502, "{body}");
    assert!(body.contains("cannot reach 127.0.0.1"), "{body}");
    let (c, body) = api.call("GET", &format!("/api/v1/nodes/edge-1/proxy/{port}/slow"), "text/plain", b"", true);
    assert_eq!(c, 504, "{body}");
    assert!(body.contains("did not answer within 1000 ms"), "{body}");
    let (c, body) = api.call("GET", &format!("/api/v1/nodes/nowhere/proxy/{port}/hello"), "text/plain", b"", true);
    assert_eq!(c, 502, "{body}");
    assert!(body.contains("not connected"), "{body}");
    let (c, body) = api.call("POST", &format!("/api/v1/nodes/edge-1/proxy/{port}/echo"), "text/plain", &[b'x'; 2000], true);
    assert_eq!(c, 413, "{body}");
    let (c, _) = api.call("GET", &format!("/api/v1/nodes/edge-1/proxy/{port}/hello"), "text/plain", b"", false);
    assert_eq!(c, 401, "the proxy needs the token too");
    let (c, body) = api.call("GET", "/api/v1/nodes/edge-1/proxy/notaport/x", "text/plain", b"", true);
    assert_eq!(c, 400, "{body}");

    edge.signal("TERM");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
    cloud.signal("TERM");
    assert!(cloud.wait_exit(Duration::from_secs(10)).success());
}
