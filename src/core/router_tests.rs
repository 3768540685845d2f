//! Router semantics as a spec: ordering, groups, request/reply, timeouts,
//! full and closed inboxes.

use std::time::{Duration, Instant};

use super::message::Message;
use super::router::{Router, RouterError};

fn msg(src: &str, n: u32) -> Message {
    Message::new(src, "g", format!("ns/kind/{n}"), "update", n.to_le_bytes().to_vec())
}

#[test]
fn messages_from_one_sender_arrive_in_order() {
    let r = Router::new();
    let rx = r.register("b", "g", 1000).unwrap();
    for n in 0..500 {
        r.send("b", msg("a", n)).unwrap();
    }
    for n in 0..500u32 {
        let m = rx.try_recv().unwrap();
        assert_eq!(m.content, n.to_le_bytes().to_vec(), "message {n} out of order");
    }
    assert!(rx.try_recv().is_err());
}

#[test]
fn full_inbox_is_an_error_the_sender_sees() {
    let r = Router::new();
    let rx = r.register("b", "g", 2).unwrap();
    r.send("b", msg("a", 1)).unwrap();
    r.send("b", msg("a", 2)).unwrap();
    let third = msg("a", 3);
    let id = third.id;
    assert_eq!(r.send("b", third), Err(RouterError::Full("b".into(), 2, id)));
    // Nothing already queued was lost.
    assert_eq!(rx.try_recv().unwrap().content, 1u32.to_le_bytes().to_vec());
    assert_eq!(rx.try_recv().unwrap().content, 2u32.to_le_bytes().to_vec());
    // Room again after draining.
    r.send("b", msg("a", 4)).unwrap();
}

#[test]
fn unknown_and_closed_modules_are_errors() {
    let r = Router::new();
    assert!(matches!(r.send("nobody", msg("a", 1)), Err(RouterError::UnknownModule(n)) if n == "nobody"));
    let rx = r.register("b", "g", 4).unwrap();
    drop(rx);
    assert!(matches!(r.send("b", msg("a", 1)), Err(RouterError::Closed(n, _)) if n == "b"));
    assert!(matches!(r.register("b", "g", 4), Err(RouterError::Duplicate(_))));
    r.unregister("b");
    assert!(!r.has_module("b"));
}

#[test]
fn group_send_reaches_every_member_once() {
    let r = Router::new();
    let a = r.register("twin", "device", 4).unwrap();
    let b = r.register("mapper-bridge", "device", 4).unwrap();
    let c = r.register("edged", "pods", 4).unwrap();
    assert_eq!(r.send_to_group("device", msg("x", 7)), Ok(2));
    assert_eq!(a.try_recv().unwrap().content, 7u32.to_le_bytes().to_vec());
    assert_eq!(b.try_recv().unwrap().content, 7u32.to_le_bytes().to_vec());
    assert!(a.try_recv().is_err() && b.try_recv().is_err());
    assert!(c.try_recv().is_err(), "other groups get nothing");
    assert_eq!(r.send_to_group("nogroup", msg("x", 1)), Err(RouterError::EmptyGroup("nogroup".into())));
}

#[test]
fn a_module_that_joins_a_group_gets_its_messages_until_it_leaves() {
    let r = Router::new();
    let a = r.register("edgecontroller", "edgecontroller", 4).unwrap();
    let b = r.register("watcher", "nodestatus", 4).unwrap();
    assert!(matches!(r.join("nobody", "nodestatus"), Err(RouterError::UnknownModule(_))));
    r.join("edgecontroller", "nodestatus").unwrap();
    r.join("edgecontroller", "nodestatus").unwrap();
    assert_eq!(r.members("nodestatus"), vec!["watcher".to_string(), "edgecontroller".to_string()]);
    assert_eq!(r.send_to_group("nodestatus", msg("x", 3)), Ok(2));
    assert!(a.try_recv().is_ok() && b.try_recv().is_ok());
    assert!(a.try_recv().is_err(), "joined twice, delivered once");
    r.unregister("edgecontroller");
    assert_eq!(r.members("nodestatus"), vec!["watcher".to_string()]);
    assert!(r.members("edgecontroller").is_empty());
}

#[test]
fn group_send_reports_a_full_member_but_delivers_to_the_rest() {
    let r = Router::new();
    let _a = r.register("a", "g", 1).unwrap();
    let b = r.register("b", "g", 4).unwrap();
    r.send("a", msg("x", 0)).unwrap();
    assert!(matches!(r.send_to_group("g", msg("x", 1)), Err(RouterError::Full(n, 1, _)) if n == "a"));
    assert_eq!(b.try_recv().unwrap().content, 1u32.to_le_bytes().to_vec());
}

#[test]
fn request_gets_the_reply_matched_by_parent_id() {
    let r = Router::new();
    let rx = r.register("meta", "meta", 8).unwrap();
    let server = r.clone();
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        ex.spawn(async move {
            // An unrelated reply first: it must not satisfy the request.
            let req = rx.recv().await.unwrap();
            let stray = Message::new("meta", "meta", "x", "response", b"stray".to_vec());
            assert!(server.deliver_reply(stray, "nobody").is_err());
            server.respond("meta", &req, b"answer".to_vec()).unwrap();
        })
        .detach();
        let req = Message::new("edged", "meta", "default/pod/a", "query", Vec::new());
        let id = req.id;
        let rep = r.request("meta", req, Duration::from_secs(5)).await.unwrap();
        assert_eq!(rep.parent_id, Some(id));
        assert_eq!(rep.content, b"answer");
        assert_eq!(rep.source, "meta");
        assert!(!r.is_waiting(id), "waiter removed after reply");
    }));
}

#[test]
fn request_times_out_and_forgets_its_waiter() {
    let r = Router::new();
    let _rx = r.register("silent", "g", 8).unwrap();
    let req = Message::new("a", "g", "r", "query", Vec::new());
    let id = req.id;
    let t0 = Instant::now();
    let err = smol::block_on(r.request("silent", req.clone(), Duration::from_millis(150))).unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(err, RouterError::Timeout { ref module, timeout_ms: 150, .. } if module == "silent"), "{err}");
    assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(3), "{took:?}");
    assert!(!r.is_waiting(id));
    // A late reply is then routed to the fallback module, or refused.
    let late = req.reply("silent", b"late".to_vec());
    assert_eq!(r.deliver_reply(late.clone(), "nobody"), Err(RouterError::Unclaimed(late.id)));
}

#[test]
fn reply_without_local_waiter_goes_to_the_fallback_module() {
    // How a reply travels back across the tunnel: the hub is the fallback.
    let r = Router::new();
    let hub = r.register("edgehub", "hub", 8).unwrap();
    let req = Message::new("edgehub", "meta", "default/configmap/c", "query", Vec::new());
    r.respond("metamanager", &req, b"cm".to_vec()).unwrap();
    let rep = hub.try_recv().unwrap();
    assert_eq!(rep.parent_id, Some(req.id));
    assert_eq!(rep.content, b"cm");
}

#[test]
fn request_to_unknown_module_fails_at_once() {
    let r = Router::new();
    let req = Message::new("a", "g", "r", "query", Vec::new());
    let id = req.id;
    let err = smol::block_on(r.request("ghost", req, Duration::from_secs(30))).unwrap_err();
    assert_eq!(err, RouterError::UnknownModule("ghost".into()));
    assert!(!r.is_waiting(id));
}

#[test]
fn send_wait_applies_back_pressure() {
    let r = Router::new();
    let rx = r.register("slow", "g", 1).unwrap();
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let consumer = ex.spawn(async move {
            let mut got = Vec::new();
            for _ in 0..50 {
                got.push(rx.recv().await.unwrap().content);
            }
            got
        });
        for n in 0..50u32 {
            r.send_wait("slow", msg("a", n)).await.unwrap();
        }
        let got = consumer.await;
        assert_eq!(got.len(), 50);
        assert_eq!(got[49], 49u32.to_le_bytes().to_vec());
    }));
}
