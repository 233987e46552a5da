//! Control operations across a real 3-server cluster over a real NATS
//! (SPEC §7): by id to another server, by filter on every server.

mod cluster_support;

use cluster_support::*;
use usher_core::protocol::{CloseReason, FetchRequest};
use usher_core::{ErrorDetails, ErrorKind, SessionId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_change_roles_by_id_on_other_servers() {
    let cluster = Cluster::start().await;
    let admin = connect(cluster.url(0), Some("admin")).await;
    let on_b = connect(cluster.url(1), None).await;
    let on_c = connect(cluster.url(2), Some("client")).await;
    assert_eq!(on_b.server_name(), "b");

    // Reading properties of a session on b, from a.
    let props = within(admin.clients().get_session_properties(on_b.id(), ["$ServerName", "$SessionId"]))
        .await
        .expect("remote properties");
    assert_eq!(props.get("$ServerName").map(String::as_str), Some("b"));
    assert_eq!(props.get("$SessionId"), Some(&on_b.id().to_string()));

    // changeRoles by id on c: the target is told its new roles.
    let r = within(admin.clients().change_roles_detailed(on_c.id(), Vec::<String>::new(), ["OPERATOR"]))
        .await
        .expect("change roles");
    assert_eq!((r.total, per_server(&r)), (1, vec![("c", 1)]));
    within(async {
        let mut roles = on_c.watch_roles();
        while !roles.borrow().contains(&"OPERATOR".to_owned()) {
            roles.changed().await.expect("roles watch");
        }
    })
    .await;

    // close by id on b: the target sees CLOSED_BY_CONTROLLER.
    assert_eq!(within(admin.clients().close(on_b.id())).await.expect("close"), 1);
    assert_eq!(within(on_b.closed()).await, CloseReason::ClosedByController);

    // The same id again: gone (NO_SUCH_SESSION, as on one server).
    let e = within(admin.clients().close(on_b.id())).await.expect_err("closed already");
    assert_eq!(e.kind, ErrorKind::NoSuchSession);
    // A server part that is no member.
    let stranger = SessionId::new(0x0123_4567_89ab_cdef, 1);
    let e = within(admin.clients().close(stranger)).await.expect_err("no such server");
    assert_eq!(e.kind, ErrorKind::NoSuchSession);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_first_and_dominance_where_the_target_lives() {
    let cluster = Cluster::start().await;
    let anonymous = connect(cluster.url(0), None).await;
    let control = connect(cluster.url(0), Some("control")).await;
    let admin_on_b = connect(cluster.url(1), Some("admin")).await;
    let client_on_c = connect(cluster.url(2), Some("client")).await;

    // No MODIFY_SESSION: ACCESS_DENIED, whether or not the id exists anywhere.
    for id in [admin_on_b.id(), SessionId::new(0x0123_4567_89ab_cdef, 1)] {
        let e = within(anonymous.clients().close(id)).await.expect_err("denied");
        assert_eq!(e.kind, ErrorKind::AccessDenied);
    }
    // CLIENT_CONTROL cannot close an administrator on another server...
    let e = within(control.clients().close(admin_on_b.id())).await.expect_err("not dominated");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(!admin_on_b.is_closed());
    // ...but can close a client there.
    assert_eq!(within(control.clients().close(client_on_c.id())).await.expect("close"), 1);
    assert_eq!(within(client_on_c.closed()).await, CloseReason::ClosedByController);
    // By filter, the administrators everywhere are skipped and counted.
    let r = within(control.clients().count_detailed("$Principal is 'admin'")).await.expect("count");
    assert_eq!(r.total, 1);
    let r = within(control.clients().close_detailed("$Principal is 'admin'")).await.expect("close by filter");
    assert_eq!((r.total, r.denied), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_by_filter_on_all_three_servers() {
    let cluster = Cluster::start().await;
    let admin = connect(cluster.url(0), Some("admin")).await;
    let mut tagged_sessions = Vec::new();
    for i in 0..3 {
        for _ in 0..2 {
            tagged_sessions.push(tagged(cluster.url(i), "grp", "x").await);
        }
    }
    let untagged = tagged(cluster.url(1), "grp", "y").await;

    let r = within(admin.clients().count_detailed("grp is 'x'")).await.expect("count");
    assert_eq!((r.total, per_server(&r)), (6, vec![("a", 2), ("b", 2), ("c", 2)]));

    // max_targets is cluster-wide: 6 match, 5 allowed, nothing is closed.
    let e = within(admin.clients().max_targets(5).close("grp is 'x'")).await.expect_err("too many");
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    assert!(matches!(e.details, ErrorDetails::Limit { count: Some(6), .. }), "{e:?}");
    assert!(tagged_sessions.iter().all(|s| !s.is_closed()));

    // A bad filter is refused before anything is routed.
    let e = within(admin.clients().close("grp is")).await.expect_err("bad filter");
    assert_eq!(e.kind, ErrorKind::InvalidFilter);

    let r = within(admin.clients().close_detailed("grp is 'x'")).await.expect("close");
    assert_eq!((r.total, per_server(&r)), (6, vec![("a", 2), ("b", 2), ("c", 2)]));
    assert!(r.unreachable.is_empty());
    for s in &tagged_sessions {
        assert_eq!(within(s.closed()).await, CloseReason::ClosedByController);
    }
    assert!(!untagged.is_closed());
    assert_eq!(within(admin.clients().count("grp is 'x'")).await.expect("count"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_operations_and_paging_across_servers() {
    let cluster = Cluster::start().await;
    let admin = connect(cluster.url(0), Some("admin")).await;
    let mut sessions = Vec::new();
    for round in 0..3 {
        for i in 0..3 {
            let s = tagged(cluster.url((i + round) % 3), "grp", "p").await;
            sessions.push(s);
        }
    }
    // setSessionProperties, setConflated, setThrottled by filter everywhere.
    let c = admin.clients();
    let set = within(c.set_session_properties_detailed("grp is 'p'", [("team", Some("blue"))])).await;
    assert_eq!(set.expect("set").total, 9);
    assert_eq!(within(c.count("team is 'blue'")).await.expect("count"), 9);
    assert_eq!(within(c.set_conflated("grp is 'p'", true)).await.expect("conflate"), 9);
    let throttled = c.set_throttled("grp is 'p'", usher_core::protocol::Throttler::MessagesPerSecond(100));
    assert_eq!(within(throttled).await.expect("throttle"), 9);

    // Paging: every session once, ordered by ($StartTime, $SessionId).
    let mut cursor = None;
    let mut seen: Vec<(u64, SessionId)> = Vec::new();
    loop {
        let request = FetchRequest {
            filter: "grp is 'p'".into(),
            keys: vec!["$StartTime".into(), "$ServerName".into()],
            limit: Some(4),
            cursor: cursor.clone(),
        };
        let page = within(c.fetch_sessions(request)).await.expect("fetch");
        assert_eq!(page.total, 9);
        assert!(page.unreachable.is_empty());
        for s in &page.sessions {
            let start: u64 = s.properties["$StartTime"].parse().expect("start time");
            seen.push((start, s.id));
        }
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
        assert!(cursor.is_some());
    }
    let mut expected: Vec<(u64, SessionId)> = seen.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(seen, expected, "pages out of order or repeated");
    let mut ids: Vec<SessionId> = sessions.iter().map(|s| s.id()).collect();
    ids.sort();
    let mut got: Vec<SessionId> = seen.iter().map(|(_, id)| *id).collect();
    got.sort();
    assert_eq!(got, ids);
}
