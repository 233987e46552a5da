//! Failures in a real cluster (SPEC §7): a server SIGKILLed mid-run, and
//! NATS itself restarted.

mod cluster_support;

use std::time::{Duration, Instant};

use cluster_support::*;
use futures_util::StreamExt;
use usher_core::ErrorKind;
use usher_core::client::SessionEventParams;
use usher_core::protocol::{CloseReason, SessionEvent, SessionState};

/// The default per-member deadline (SPEC §7).
const ROUTING_DEADLINE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_unreachable_then_dropped_then_rejoins() {
    let mut cluster = Cluster::start().await;
    let admin = connect(cluster.url(0), Some("admin")).await;
    let _on_b = tagged(cluster.url(1), "grp", "k").await;
    let on_c = tagged(cluster.url(2), "grp", "k").await;
    let mut events = within(admin.clients().session_events(SessionEventParams::new().filter("grp is 'k'")))
        .await
        .expect("listener");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match within(events.next()).await {
            Some(Ok(SessionEvent::State { session, state: SessionState::Active, .. })) => seen.push(session),
            other => panic!("expected the snapshot, got {other:?}"),
        }
    }

    cluster.servers[2].kill();
    let killed_at = Instant::now();

    // Until c leaves membership, filter operations say it did not answer,
    // with the partial result, within the deadline.
    let started = Instant::now();
    let e = within(admin.clients().count("grp is 'k'")).await.expect_err("c cannot answer");
    assert!(started.elapsed() < ROUTING_DEADLINE + Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(e.kind, ErrorKind::ClusterRouting);
    let partial = e.filter_result().expect("partial result");
    assert_eq!(partial.unreachable, vec!["c".to_owned()]);
    assert_eq!(per_server(partial), vec![("a", 0), ("b", 1)]);
    assert_eq!(partial.total, 1);
    // The detailed twin returns that partial result instead (SPEC §4.1).
    let r = within(admin.clients().count_detailed("grp is 'k'")).await.expect("the partial result");
    assert_eq!(
        (r.total, per_server(&r), r.unreachable.clone()),
        (1, vec![("a", 0), ("b", 1)], vec!["c".to_owned()])
    );
    // By id, a member that does not answer is CLUSTER_ROUTING too.
    let started = Instant::now();
    let e = within(admin.clients().close(on_c.id())).await.expect_err("c cannot answer");
    assert_eq!(e.kind, ErrorKind::ClusterRouting);
    assert_eq!(e.filter_result().map(|r| r.unreachable.clone()), Some(vec!["c".to_owned()]));
    assert!(started.elapsed() < ROUTING_DEADLINE + Duration::from_millis(500), "{:?}", started.elapsed());

    // Listeners get CLOSED/SERVER_LOST for c's session once c is dropped.
    let lost = within(async {
        loop {
            match events.next().await {
                Some(Ok(SessionEvent::State { session, state: SessionState::Closed, reason, .. })) => {
                    return (session, reason);
                }
                Some(Ok(_)) => {}
                other => panic!("listener ended: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(lost, (on_c.id(), Some(CloseReason::ServerLost)));
    // Dropped within 3 s of silence (+ the check period and a margin).
    assert!(killed_at.elapsed() < Duration::from_secs(5), "{:?}", killed_at.elapsed());

    // Now operations succeed again, on the members left.
    let r = within(admin.clients().count_detailed("grp is 'k'")).await.expect("count after the drop");
    assert_eq!((r.total, per_server(&r)), (1, vec![("a", 0), ("b", 1)]));
    assert!(r.unreachable.is_empty());

    // Restarted, c rejoins (with a new server part) and the listener sees
    // its new sessions.
    cluster.servers[2] = Server::spawn(&cluster.nats.url(), "c");
    cluster.wait_for_members(&["a", "b", "c"]).await;
    let back = tagged(cluster.url(2), "grp", "k").await;
    let e = within(async {
        loop {
            match events.next().await {
                Some(Ok(SessionEvent::State { session, state: SessionState::Active, .. })) => return session,
                Some(Ok(_)) => {}
                other => panic!("listener ended: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(e, back.id());
    assert_eq!(within(admin.clients().close("grp is 'k'")).await.expect("close everywhere"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_reconnect_after_nats_restarts() {
    let mut cluster = Cluster::start().await;
    let admin = connect(cluster.url(0), Some("admin")).await;
    let on_b = tagged(cluster.url(1), "grp", "n").await;
    let mut events = within(admin.clients().session_events(SessionEventParams::new().filter("grp is 'n'")))
        .await
        .expect("listener");
    match within(events.next()).await {
        Some(Ok(SessionEvent::State { session, state: SessionState::Active, .. })) => {
            assert_eq!(session, on_b.id())
        }
        other => panic!("expected b's session in the snapshot, got {other:?}"),
    }

    let port = cluster.nats.port;
    cluster.nats.kill();
    // While NATS is down a by-id operation on another server fails, and
    // does not hang past the deadline (NO_SUCH_SESSION once b is dropped).
    let started = Instant::now();
    let e = within(admin.clients().get_session_properties(on_b.id(), ["$ServerName"]))
        .await
        .expect_err("NATS is down");
    assert!(matches!(e.kind, ErrorKind::ClusterRouting | ErrorKind::NoSuchSession), "{e:?}");
    assert!(started.elapsed() < ROUTING_DEADLINE + Duration::from_millis(500), "{:?}", started.elapsed());

    cluster.nats = Nats::start_on(port);
    cluster.wait_for_members(&["a", "b", "c"]).await;
    let props = within(admin.clients().get_session_properties(on_b.id(), ["$ServerName"]))
        .await
        .expect("routed again");
    assert_eq!(props.get("$ServerName").map(String::as_str), Some("b"));

    // The listener saw the outage as b's session lost, then a fresh
    // snapshot with it again (docs/CLUSTER.md, "NATS comes back").
    let mut after: Vec<(SessionState, Option<CloseReason>)> = Vec::new();
    while !after.iter().any(|(s, _)| *s == SessionState::Active) {
        match within(events.next()).await {
            Some(Ok(SessionEvent::State { session, state, reason, .. })) if session == on_b.id() => {
                after.push((state, reason))
            }
            Some(Ok(_)) => {}
            other => panic!("listener ended: {other:?}"),
        }
    }
    assert_eq!(
        after,
        vec![(SessionState::Closed, Some(CloseReason::ServerLost)), (SessionState::Active, None)]
    );

    let on_c = tagged(cluster.url(2), "grp", "n").await;
    let r = within(admin.clients().close_detailed("grp is 'n'")).await.expect("close by filter");
    assert_eq!((r.total, per_server(&r)), (2, vec![("a", 0), ("b", 1), ("c", 1)]));
    assert_eq!(within(on_c.closed()).await, CloseReason::ClosedByController);
}
