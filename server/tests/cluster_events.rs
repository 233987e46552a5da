//! Session and queue events across a real 3-server cluster (SPEC §4.2,
//! §4.3, §7): a listener on one server sees sessions of the others; a queue
//! handler on one server hears about a slow consumer on another.

mod cluster_support;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cluster_support::*;
use futures_util::{FutureExt, StreamExt};
use usher_core::SessionId;
use usher_core::client::SessionEventParams;
use usher_core::protocol::{CloseReason, QueueEvent, Request, SessionEvent, SessionState};

fn state_of(e: &SessionEvent) -> Option<(SessionId, SessionState, Option<CloseReason>)> {
    match e {
        SessionEvent::State { session, state, reason, .. } => Some((*session, *state, *reason)),
        SessionEvent::Properties { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_on_a_sees_sessions_of_b_and_c() {
    let cluster = Cluster::start().await;
    let watcher = connect(cluster.url(0), Some("admin")).await;
    let existing_on_b = tagged(cluster.url(1), "team", "red").await;

    let params = SessionEventParams::new().filter("has team").properties(["team", "$ServerName"]);
    let mut events = within(watcher.clients().session_events(params)).await.expect("register");
    // The registration resolved only after b's snapshot was delivered: its
    // ACTIVE is already in the stream.
    let first = events.next().now_or_never().flatten().expect("snapshot delivered before the reply");
    let first = first.expect("event");
    assert_eq!(state_of(&first), Some((existing_on_b.id(), SessionState::Active, None)));
    let SessionEvent::State { properties, .. } = &first else { unreachable!() };
    assert_eq!(properties.get("$ServerName").map(String::as_str), Some("b"));

    // A new session on c: ACTIVE.
    let on_c = tagged(cluster.url(2), "team", "green").await;
    let mut log: Vec<SessionEvent> = vec![first];
    let next = |log: &mut Vec<SessionEvent>, e: SessionEvent| {
        log.push(e.clone());
        e
    };
    let e = within(events.next()).await.expect("open").expect("event");
    assert_eq!(state_of(&next(&mut log, e)), Some((on_c.id(), SessionState::Active, None)));

    // Its property changed by a controller on a: PROPERTIES with old and new.
    let set = watcher.clients().set_session_properties(on_c.id(), [("team", Some("blue"))]);
    assert_eq!(within(set).await.expect("set"), 1);
    let e = within(events.next()).await.expect("properties").expect("event");
    match next(&mut log, e) {
        SessionEvent::Properties { session, changed, matches } => {
            assert_eq!(session, on_c.id());
            assert!(matches);
            assert_eq!(changed.get("team"), Some(&(Some("green".to_owned()), Some("blue".to_owned()))));
        }
        other => panic!("expected PROPERTIES, got {other:?}"),
    }

    // It closes: CLOSED with its reason and last values.
    within(on_c.close()).await.expect("close");
    let e = within(events.next()).await.expect("closed").expect("event");
    let e = next(&mut log, e);
    assert_eq!(state_of(&e), Some((on_c.id(), SessionState::Closed, Some(CloseReason::ClosedByClient))));
    let SessionEvent::State { properties, .. } = &e else { unreachable!() };
    assert_eq!(properties.get("team").map(String::as_str), Some("blue"));

    // b's session closed by a controller on c.
    let closer = connect(cluster.url(2), Some("admin")).await;
    assert_eq!(within(closer.clients().close(existing_on_b.id())).await.expect("close"), 1);
    let e = within(events.next()).await.expect("closed").expect("event");
    let e = next(&mut log, e);
    assert_eq!(
        state_of(&e),
        Some((existing_on_b.id(), SessionState::Closed, Some(CloseReason::ClosedByController)))
    );

    // ACTIVE first and never twice per session.
    let mut actives: HashMap<SessionId, usize> = HashMap::new();
    for e in &log {
        if let Some((id, SessionState::Active, _)) = state_of(e) {
            *actives.entry(id).or_default() += 1;
        }
    }
    assert!(actives.values().all(|n| *n == 1), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_handler_on_a_hears_a_slow_consumer_on_c() {
    let cluster = Cluster::start().await;
    let handler_session = connect(cluster.url(0), Some("admin")).await;
    let mut queue_events = within(handler_session.clients().queue_events()).await.expect("handler");

    let publisher = connect(cluster.url(2), Some("admin")).await;
    within(publisher.topics().add("q/1", vec![0u8; 16])).await.expect("add topic");
    let mut slow = support::slow_anonymous(cluster.url(2)).await.expect("slow consumer");
    slow.ok(Request::Subscribe { selector: "q/*".into() }).await.expect("subscribe");
    let slow_id = slow.id();
    // From here the slow consumer reads nothing. Publish until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let pump = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                let mut v = vec![0u8; 1024];
                v[..8].copy_from_slice(&n.to_be_bytes());
                if publisher.topics().update("q/1", v).await.is_err() {
                    break;
                }
                n += 1;
            }
            n
        })
    };
    let crossed = within(async {
        loop {
            match queue_events.next().await {
                Some(Ok(QueueEvent::UpperThresholdCrossed { session, policy })) if session == slow_id => {
                    return policy;
                }
                Some(Ok(_)) => {}
                other => panic!("queue events ended: {other:?}"),
            }
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    assert!(!crossed.conflated);
    assert_eq!(crossed.max_depth, 1000);
    let sent = pump.await.expect("pump");
    assert!(sent > 0);
    drop(slow);
}
