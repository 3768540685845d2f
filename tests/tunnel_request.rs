//! Request/reply across the tunnel, both directions, matched by parent id,
//! with an immediate error when the node is not connected.

mod common;

use std::time::Duration;

use common::drivers::{Asker, Echo};
use common::inproc::{cloud_config, credentials, edge_config, free_port, InProc};

#[test]
fn requests_cross_the_tunnel_both_ways_and_time_out_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_dir = dir.path().join("cloud");
    let edge_dir = dir.path().join("edge-r");
    credentials(&cloud_dir, &edge_dir, "edge-r");
    let port = free_port();
    let (cloud_ask, cloud_asks) = smol::channel::unbounded();
    let (cloud_ans_tx, cloud_ans) = smol::channel::unbounded();
    let cloud = InProc::start(cloud_config(&cloud_dir, port, ""), move |_, _| {
        vec![Box::new(Echo), Box::new(Asker { via: "cloudhub", op: "query", asks: cloud_asks, answers: cloud_ans_tx })]
    });
    let (edge_ask, edge_asks) = smol::channel::unbounded();
    let (edge_ans_tx, edge_ans) = smol::channel::unbounded();
    let edge = InProc::start(edge_config(&edge_dir, port, ""), move |_, _| {
        vec![Box::new(Echo), Box::new(Asker { via: "edgehub", op: "query", asks: edge_asks, answers: edge_ans_tx })]
    });
    let long = Duration::from_secs(5);
    // Edge → cloud, once the edge is connected (while it is not, EdgeHub
    // answers a query at once that the cloud is unreachable).
    let mut got = Err(String::new());
    for _ in 0..50 {
        edge_ask.send_blocking(("default/echo/x".into(), b"ping".to_vec(), Duration::from_millis(300))).unwrap();
        got = edge_ans.recv_blocking().unwrap();
        match &got {
            Ok(b) if b.as_slice() == b"gnip" => break,
            Ok(b) => assert!(b.starts_with(b"error: the cloud is unreachable"), "{}", String::from_utf8_lossy(b)),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got.unwrap(), b"gnip");
    // Cloud → edge: addressed by node name in the resource.
    cloud_ask.send_blocking(("node/edge-r/default/echo/y".into(), b"hello".to_vec(), long)).unwrap();
    assert_eq!(cloud_ans.recv_blocking().unwrap().unwrap(), b"olleh");
    // Fifty in a row each get their own reply.
    for i in 0..50u32 {
        cloud_ask.send_blocking(("node/edge-r/default/echo/z".into(), i.to_be_bytes().to_vec(), long)).unwrap();
    }
    for i in 0..50u32 {
        let mut want = i.to_be_bytes().to_vec();
        want.reverse();
        assert_eq!(cloud_ans.recv_blocking().unwrap().unwrap(), want);
    }
    // A node that is not connected: CloudHub answers at once, no timeout.
    let t0 = std::time::Instant::now();
    cloud_ask.send_blocking(("node/nobody/default/echo/y".into(), b"x".to_vec(), Duration::from_secs(5))).unwrap();
    let e = cloud_ans.recv_blocking().unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&e), "error: 502 node nobody is not connected");
    assert!(t0.elapsed() < Duration::from_secs(2), "answered at once");
    assert_eq!(edge.stop(), 0);
    assert_eq!(cloud.stop(), 0);
}

#[test]
fn an_object_over_the_frame_cap_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ask, asks) = smol::channel::unbounded();
    let (ans_tx, ans) = smol::channel::unbounded();
    let cloud = InProc::start(cloud_config(&dir.path().join("cloud"), free_port(), "max_frame_bytes = 65536"), move |_, _| {
        vec![Box::new(Asker { via: "cloudhub", op: "upsert", asks, answers: ans_tx })]
    });
    let huge = vec![b'x'; 100_000];
    ask.send_blocking(("node/n1/default/configmap/huge".into(), huge, Duration::from_secs(5))).unwrap();
    let reply = String::from_utf8(ans.recv_blocking().unwrap().unwrap()).unwrap();
    assert!(reply.starts_with("error:") && reply.contains("100000 bytes") && reply.contains("max_frame_bytes 65536"), "{reply}");
    ask.send_blocking(("node/n1/default/configmap/small".into(), b"{}".to_vec(), Duration::from_secs(5))).unwrap();
    assert_eq!(ans.recv_blocking().unwrap().unwrap(), b"ok", "the hub goes on serving");
    assert_eq!(cloud.stop(), 0);
}
